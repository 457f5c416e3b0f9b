// Finds and reads the config file, then merges it with the environment and the flags (config.ts has
// the rules). The file is `--config FILE` (or SWARMFS_CONFIG) when given — then it must exist — else
// DATA/swarmfs.conf of the data directory named by --data or SWARMFS_DATA, if there is one.
import { open } from 'node:fs/promises'
import path from 'node:path'
import { CONFIG_BYTES_MAX, CONFIG_FILE_NAME, ConfigError, environmentLayer, flagLayer, mergeSettings, parseConfigFile } from './config.js'
import type { Settings, SettingsLayer } from './config.js'

export interface LoadedSettings {
  settings: Settings
  /** The config file that was read, or null. */
  configFile: string | null
}

/** Reads at most CONFIG_BYTES_MAX + 1 bytes (enough to refuse a larger file); null if it does not exist. */
async function readBounded (file: string): Promise<string | null> {
  let handle
  try {
    handle = await open(file, 'r')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    throw new ConfigError(file, null, `cannot be opened (${code ?? (error as Error).message})`)
  }
  try {
    const buffer = Buffer.alloc(CONFIG_BYTES_MAX + 1)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
    return buffer.subarray(0, bytesRead).toString('utf8')
  } catch (error) {
    throw new ConfigError(file, null, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
  } finally {
    await handle.close()
  }
}

export async function loadSettings (flags: Partial<Record<string, string | boolean | undefined>>, environment: Readonly<Record<string, string | undefined>>): Promise<LoadedSettings> {
  const fromFlags = flagLayer(flags)
  const fromEnvironment = environmentLayer(environment)
  const explicit = typeof flags.config === 'string' ? flags.config : environment.SWARMFS_CONFIG === '' ? undefined : environment.SWARMFS_CONFIG
  let fromFile: SettingsLayer = {}
  let configFile: string | null = null
  if (explicit !== undefined) {
    configFile = path.resolve(explicit)
    const content = await readBounded(configFile)
    if (content === null) throw new ConfigError(configFile, null, 'does not exist')
    fromFile = parseConfigFile(content, configFile, { inDataDirectory: false })
  } else {
    const data = fromFlags.data?.value ?? fromEnvironment.data?.value
    if (data !== undefined) {
      const candidate = path.join(path.resolve(data), CONFIG_FILE_NAME)
      const content = await readBounded(candidate)
      if (content !== null) {
        configFile = candidate
        fromFile = parseConfigFile(content, candidate, { inDataDirectory: true })
      }
    }
  }
  return { settings: mergeSettings([fromFlags, fromEnvironment, fromFile]), configFile }
}
