// A peer's settings and where each one comes from. Precedence, highest first: command-line flags,
// environment variables (SWARMFS_<KEY>, an empty one counts as unset), the config file, defaults.
// The config file is plain `key = value` lines with `#` comments, the keys being the long flag names
// of `swarmfs up` (e.g. `cache-mb = 256`), so a flag, its variable and its line read alike. Pure:
// parsing and merging take text and return values; every bad input throws a ConfigError that names
// the file and line, the variable or the flag, and the key — never anything else.
import type { Address } from './net/network.js'
import { LOG_FORMATS, LOG_LEVELS, isLogFormat, isLogLevel } from './log.js'
import type { LogFormat, LogLevel } from './log.js'
import { isLoopback, parseMetricsAddress } from './metrics.js'
import type { MetricsAddress } from './metrics.js'

/** The config file a data directory may hold; `--config FILE` (or SWARMFS_CONFIG) names another. */
export const CONFIG_FILE_NAME = 'swarmfs.conf'
export const CONFIG_BYTES_MAX = 64 * 1024
export const CACHE_MB_DEFAULT = 64
/** The disk cache tier: copies kept only to serve reads here (disk-cache.ts); 0 turns it off. */
export const DISK_CACHE_MB_DEFAULT = 1024
const CACHE_MB_MAX = 1024 * 1024
const TEXT_CHARS_MAX = 4096
const BOOTSTRAP_ADDRESSES_MAX = 32
const EXCERPT_CHARS_MAX = 60

export class ConfigError extends Error {
  /** The file and line, the environment variable or the flag the bad input came from. */
  readonly where: string
  /** The setting concerned, when the input got that far. */
  readonly key: string | null

  constructor (where: string, key: string | null, reason: string) {
    super(`${where}: ${key === null ? '' : `${key}: `}${reason}`)
    this.name = 'ConfigError'
    this.where = where
    this.key = key
  }
}

/** The type each setting has once parsed. */
export interface SettingValues {
  data: string
  mount: string
  bootstrap: Address[] | 'public'
  host: string
  metrics: MetricsAddress | 'off'
  'metrics-public': boolean
  'allow-other': boolean
  'cache-mb': number
  'disk-cache-mb': number
  'log-level': LogLevel
  'log-format': LogFormat
}
export type SettingKey = keyof SettingValues

/** One source's settings, each with where it was found (for error messages and the start-up log). */
export type SettingsLayer = { [K in SettingKey]?: { value: SettingValues[K], where: string } }

/** The merged result, defaults filled in; `sources` says where each non-default setting came from. */
export interface Settings {
  data?: string
  mount?: string
  bootstrap?: Address[] | 'public'
  host?: string
  metrics?: MetricsAddress
  metricsPublic: boolean
  allowOther: boolean
  cacheMb: number
  diskCacheMb: number
  logLevel: LogLevel
  logFormat: LogFormat
  sources: Partial<Record<SettingKey, string>>
}

/** A value that does not parse; turned into a ConfigError that says where it came from. */
class BadValue extends Error {}

const TRUE_WORDS = ['true', 'yes', 'on', '1']
const FALSE_WORDS = ['false', 'no', 'off', '0']

function quote (text: string): string {
  return JSON.stringify(text.length > EXCERPT_CHARS_MAX ? text.slice(0, EXCERPT_CHARS_MAX) + '…' : text)
}

function text (value: string): string {
  if (value.length > TEXT_CHARS_MAX) throw new BadValue(`is longer than ${TEXT_CHARS_MAX} characters`)
  if (value.includes('\u0000')) throw new BadValue('contains a NUL character')
  return value
}

function word (value: string): string {
  if (!/^\S+$/.test(value)) throw new BadValue(`${quote(value)} must be one word without spaces`)
  return text(value)
}

function boolean (value: string): boolean {
  const lower = value.toLowerCase()
  if (TRUE_WORDS.includes(lower)) return true
  if (FALSE_WORDS.includes(lower)) return false
  throw new BadValue(`${quote(value)} is not a boolean (true/false, yes/no, on/off, 1/0)`)
}

function portNumber (value: string, zeroAllowed: boolean): number {
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(port) || port > 65535 || (port === 0 && !zeroAllowed)) throw new BadValue(`${quote(value)} is not a port number`)
  return port
}

/** 'public' or HOST:PORT[,HOST:PORT…] (IPv6 hosts in brackets). */
export function parseBootstrap (value: string): Address[] | 'public' {
  if (value === 'public') return 'public'
  const items = value.split(',')
  if (items.length > BOOTSTRAP_ADDRESSES_MAX) throw new BadValue(`lists more than ${BOOTSTRAP_ADDRESSES_MAX} addresses`)
  return items.map((item) => {
    const match = /^(?:\[([^\]\s]+)\]|([^:\s[\]]+)):(\d+)$/.exec(item.trim())
    if (match === null) throw new BadValue(`${quote(item)} is not HOST:PORT (or 'public')`)
    return { host: text((match[1] ?? match[2])!), port: portNumber(match[3]!, false) }
  })
}

function metrics (value: string): MetricsAddress | 'off' {
  if (value === 'off') return 'off'
  try {
    return parseMetricsAddress(value)
  } catch {
    throw new BadValue(`${quote(value)} is not HOST:PORT (or 'off')`)
  }
}

function cacheMb (value: string): number {
  const megabytes = /^\d{1,8}$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(megabytes) || megabytes < 1 || megabytes > CACHE_MB_MAX) throw new BadValue(`${quote(value)} is not a whole number of MiB between 1 and ${CACHE_MB_MAX}`)
  return megabytes
}

function diskCacheMb (value: string): number {
  const megabytes = /^\d{1,8}$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(megabytes) || megabytes > CACHE_MB_MAX) throw new BadValue(`${quote(value)} is not a whole number of MiB between 0 (off) and ${CACHE_MB_MAX}`)
  return megabytes
}

function logLevel (value: string): LogLevel {
  if (!isLogLevel(value)) throw new BadValue(`${quote(value)} is not one of ${LOG_LEVELS.join(', ')}`)
  return value
}

function logFormat (value: string): LogFormat {
  if (!isLogFormat(value)) throw new BadValue(`${quote(value)} is not one of ${LOG_FORMATS.join(', ')}`)
  return value
}

const PARSERS: { [K in SettingKey]: (value: string) => SettingValues[K] } = {
  data: text,
  mount: text,
  bootstrap: parseBootstrap,
  host: word,
  metrics,
  'metrics-public': boolean,
  'allow-other': boolean,
  'cache-mb': cacheMb,
  'disk-cache-mb': diskCacheMb,
  'log-level': logLevel,
  'log-format': logFormat
}

export const SETTING_KEYS = Object.keys(PARSERS) as SettingKey[]

function isSettingKey (key: string): key is SettingKey {
  return Object.hasOwn(PARSERS, key)
}

/** The environment variable of a setting: SWARMFS_ and the key in capitals, '-' as '_'. */
export function environmentName (key: SettingKey): string {
  return `SWARMFS_${key.toUpperCase().replace(/-/g, '_')}`
}

function parseValue<K extends SettingKey> (key: K, value: string, where: string): SettingValues[K] {
  try {
    return PARSERS[key](value)
  } catch (error) {
    if (error instanceof BadValue) throw new ConfigError(where, key, error.message)
    throw error
  }
}

function put<K extends SettingKey> (layer: SettingsLayer, key: K, value: string, where: string): void {
  (layer as Record<string, { value: unknown, where: string }>)[key] = { value: parseValue(key, value, where), where }
}

export interface ConfigFileOptions {
  /** The file sits in the data directory it configures, so it cannot name another one. */
  inDataDirectory: boolean
}

/**
 * Parses a config file's text. Lines are `key = value`; blank lines and lines starting with '#' are
 * skipped; a value may be wrapped in double quotes to keep surrounding spaces; keys may be written
 * with '_' for '-'. Unknown keys, repeated keys and values that do not parse are errors.
 */
export function parseConfigFile (content: string, file: string, options: ConfigFileOptions): SettingsLayer {
  if (content.length > CONFIG_BYTES_MAX) throw new ConfigError(file, null, `is larger than ${CONFIG_BYTES_MAX / 1024} KiB`)
  const layer: SettingsLayer = {}
  const seenOnLine = new Map<string, number>()
  const lines = content.replace(/^\uFEFF/, '').split(/\r?\n/)
  for (const [index, raw] of lines.entries()) {
    const where = `${file} line ${index + 1}`
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(line)) throw new ConfigError(where, null, 'contains a control character')
    const match = /^([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*)$/.exec(line)
    if (match === null) throw new ConfigError(where, null, `expected 'key = value', found ${quote(line)}`)
    const key = match[1]!.toLowerCase().replace(/_/g, '-')
    if (!isSettingKey(key)) throw new ConfigError(where, key, `unknown setting (known: ${SETTING_KEYS.join(', ')})`)
    if (key === 'data' && options.inDataDirectory) {
      throw new ConfigError(where, key, 'the data directory\'s own config file cannot move the data directory (use --config FILE)')
    }
    const previous = seenOnLine.get(key)
    if (previous !== undefined) throw new ConfigError(where, key, `already set on line ${previous}`)
    seenOnLine.set(key, index + 1)
    let value = match[2]!.trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    if (value === '') throw new ConfigError(where, key, 'has no value')
    put(layer, key, value, where)
  }
  return layer
}

/** Settings from SWARMFS_<KEY> variables; an empty variable counts as unset. */
export function environmentLayer (environment: Readonly<Record<string, string | undefined>>): SettingsLayer {
  const layer: SettingsLayer = {}
  for (const key of SETTING_KEYS) {
    const name = environmentName(key)
    const value = environment[name]
    if (value !== undefined && value !== '') put(layer, key, value, name)
  }
  return layer
}

/** Settings from flags as node:util parseArgs returns them: strings, and booleans for switches. */
export function flagLayer (flags: Partial<Record<string, string | boolean | undefined>>): SettingsLayer {
  const layer: SettingsLayer = {}
  for (const key of SETTING_KEYS) {
    const value = flags[key]
    if (value === undefined || value === false) continue
    put(layer, key, value === true ? 'true' : value, `--${key}`)
  }
  return layer
}

/** The first layer that has a setting wins; `layers` go from highest precedence to lowest. */
export function mergeSettings (layers: readonly SettingsLayer[]): Settings {
  const sources: Settings['sources'] = {}
  const pick = <K extends SettingKey>(key: K): SettingValues[K] | undefined => {
    for (const layer of layers) {
      const entry = layer[key]
      if (entry !== undefined) {
        sources[key] = entry.where
        return entry.value as SettingValues[K]
      }
    }
    return undefined
  }
  const data = pick('data')
  const mount = pick('mount')
  const bootstrap = pick('bootstrap')
  const host = pick('host')
  const metricsAddress = pick('metrics')
  const metricsPublic = pick('metrics-public') ?? false
  if (metricsAddress !== undefined && metricsAddress !== 'off' && !isLoopback(metricsAddress.host) && !metricsPublic) {
    throw new ConfigError(sources.metrics!, 'metrics', `${metricsAddress.host} is not a loopback address: add --metrics-public (or metrics-public = true) to serve metrics to the network`)
  }
  return {
    ...(data !== undefined ? { data } : {}),
    ...(mount !== undefined ? { mount } : {}),
    ...(bootstrap !== undefined ? { bootstrap } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(metricsAddress !== undefined && metricsAddress !== 'off' ? { metrics: metricsAddress } : {}),
    metricsPublic,
    allowOther: pick('allow-other') ?? false,
    cacheMb: pick('cache-mb') ?? CACHE_MB_DEFAULT,
    diskCacheMb: pick('disk-cache-mb') ?? DISK_CACHE_MB_DEFAULT,
    logLevel: pick('log-level') ?? 'info',
    logFormat: pick('log-format') ?? 'text',
    sources
  }
}
