// `swarmfs doctor`: checks what a peer needs from its machine before `swarmfs up` — libfuse2, /dev/fuse,
// fusermount, owner-only keys, free disk, a sane clock, a reachable bootstrap node — and says for each
// failure how to fix it. Every probe is asynchronous and bounded in time; none touches a FUSE mount.
import { execFile } from 'node:child_process'
import { constants } from 'node:fs'
import { access, stat, statfs } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import HyperDHT from 'hyperdht'
import { dataDir } from './data-dir.js'
import type { Address } from './net/network.js'

const execFileAsync = promisify(execFile)

export const DISK_FREE_BYTES_MIN = 1024 * 1024 * 1024
export const BOOTSTRAP_WAIT_MS = 5_000
const COMMAND_WAIT_MS = 10_000
/** No swarmfs build is older than this; a clock before it is certainly wrong. */
const EARLIEST_BUILD = Date.parse('2025-01-01T00:00:00Z')

export type CheckState = 'ok' | 'warn' | 'fail' | 'skip'

export interface CheckResult {
  name: string
  state: CheckState
  detail: string
  /** What to do about a warning or failure. */
  fix?: string
}

export interface DoctorOptions {
  data?: string
  bootstrap?: Address[]
}

/** Runs every check; the report fails if any check failed (warnings do not fail it). */
export async function doctor (options: DoctorOptions): Promise<{ ok: boolean, checks: CheckResult[] }> {
  const checks = [
    await checkLibfuse(),
    await checkDevFuse(),
    await checkFusermount(),
    ...(options.data !== undefined ? [...await checkKeys(options.data), await checkDisk(options.data)] : []),
    await checkClock(),
    ...(options.bootstrap !== undefined ? [await checkBootstrap(options.bootstrap)] : [])
  ]
  return { ok: checks.every((check) => check.state !== 'fail'), checks }
}

export function formatReport (report: { ok: boolean, checks: CheckResult[] }): string {
  const width = Math.max(...report.checks.map((check) => check.name.length))
  const lines = report.checks.map((check) => {
    const line = `${check.state.toUpperCase().padEnd(4)}  ${check.name.padEnd(width)}  ${check.detail}`
    return check.fix === undefined ? line : `${line}\n      fix: ${check.fix}`
  })
  const failed = report.checks.filter((check) => check.state === 'fail').length
  lines.push(failed === 0 ? 'all checks passed' : `${failed} check${failed === 1 ? '' : 's'} failed`)
  return lines.join('\n')
}

async function checkLibfuse (): Promise<CheckResult> {
  const name = 'libfuse2'
  const fix = 'install libfuse 2: sudo apt-get install libfuse2 (libfuse2t64 on Ubuntu 24.04+; fuse-libs on Fedora)'
  try {
    const { stdout } = await execFileAsync('ldconfig', ['-p'], { timeout: COMMAND_WAIT_MS, maxBuffer: 16 * 1024 * 1024 })
    const line = stdout.split('\n').find((entry) => entry.includes('libfuse.so.2'))
    return line === undefined ? { name, state: 'fail', detail: 'libfuse.so.2 is not in the linker cache', fix } : { name, state: 'ok', detail: line.trim().split(' => ')[1] ?? 'libfuse.so.2' }
  } catch (error) {
    return { name, state: 'fail', detail: `cannot run ldconfig -p (${(error as Error).message})`, fix }
  }
}

async function checkDevFuse (): Promise<CheckResult> {
  const name = '/dev/fuse'
  try {
    if (!(await stat('/dev/fuse')).isCharacterDevice()) return { name, state: 'fail', detail: '/dev/fuse is not a character device', fix: 'sudo modprobe fuse (in a container: run it with --device /dev/fuse --cap-add SYS_ADMIN)' }
  } catch {
    return { name, state: 'fail', detail: '/dev/fuse does not exist', fix: 'sudo modprobe fuse (in a container: run it with --device /dev/fuse --cap-add SYS_ADMIN)' }
  }
  try {
    await access('/dev/fuse', constants.R_OK | constants.W_OK)
    return { name, state: 'ok', detail: 'present and readable/writable' }
  } catch {
    return { name, state: 'fail', detail: 'this user cannot open /dev/fuse', fix: 'run swarmfs as root, or give this user access: sudo chmod 666 /dev/fuse (or add the user to the group owning it)' }
  }
}

async function checkFusermount (): Promise<CheckResult> {
  const name = 'fusermount'
  for (const directory of (process.env.PATH ?? '').split(path.delimiter).filter((entry) => entry !== '')) {
    const candidate = path.join(directory, 'fusermount')
    try {
      await access(candidate, constants.X_OK)
      return { name, state: 'ok', detail: candidate }
    } catch {}
  }
  return { name, state: 'fail', detail: 'fusermount is not on PATH (needed to unmount)', fix: 'sudo apt-get install fuse3 (or fuse), which provides fusermount' }
}

async function checkKeys (data: string): Promise<CheckResult[]> {
  const dir = dataDir(data)
  const results: CheckResult[] = []
  for (const file of [dir.secretFile, dir.peerKeyFile]) {
    const name = `key ${path.basename(file)}`
    try {
      const mode = (await stat(file)).mode & 0o777
      results.push(mode === 0o600
        ? { name, state: 'ok', detail: `${file} is 0600` }
        : { name, state: 'fail', detail: `${file} is ${mode.toString(8).padStart(4, '0')}: others may read the cluster's keys`, fix: `chmod 600 ${file}` })
    } catch (error) {
      results.push({ name, state: 'fail', detail: `${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, fix: `create the data directory first: swarmfs init --data ${dir.root} (or swarmfs join INVITE --data ${dir.root})` })
    }
  }
  return results
}

async function checkDisk (data: string): Promise<CheckResult> {
  const name = 'free disk'
  let directory = dataDir(data).root
  // The data directory may not exist yet: measure the filesystem it will be created on.
  while (!(await stat(directory).then(() => true, () => false)) && path.dirname(directory) !== directory) directory = path.dirname(directory)
  try {
    const fs = await statfs(directory)
    const free = fs.bavail * fs.bsize
    const detail = `${(free / 1024 ** 3).toFixed(1)} GiB free on the filesystem of ${directory}`
    return free >= DISK_FREE_BYTES_MIN ? { name, state: 'ok', detail } : { name, state: 'warn', detail, fix: 'free some space there, or put the data directory on a larger disk (--data)' }
  } catch (error) {
    return { name, state: 'fail', detail: `cannot measure free space of ${directory} (${(error as Error).message})`, fix: `check that ${directory} is readable` }
  }
}

async function checkClock (): Promise<CheckResult> {
  const name = 'clock'
  // This file's modification time is when swarmfs was built or installed here (npm packs files with a
  // fixed 1985 date, hence the floor); a clock before it has gone backwards.
  const built = Math.max(EARLIEST_BUILD, await stat(fileURLToPath(import.meta.url)).then((s) => s.mtimeMs, () => 0))
  const now = Date.now()
  return now >= built
    ? { name, state: 'ok', detail: new Date(now).toISOString() }
    : { name, state: 'fail', detail: `the clock says ${new Date(now).toISOString()}, before this build (${new Date(built).toISOString()})`, fix: 'set the clock: sudo timedatectl set-ntp true (or run an NTP client such as chrony)' }
}

async function checkBootstrap (bootstrap: Address[]): Promise<CheckResult> {
  const name = 'bootstrap'
  const list = bootstrap.map((address) => `${address.host}:${address.port}`).join(',')
  const loopback = bootstrap.every((address) => address.host.startsWith('127.') || address.host === 'localhost')
  // Only the given nodes are contacted, never hyperswarm's public DHT.
  const node = new HyperDHT({ bootstrap, ephemeral: true, ...(loopback ? { host: '127.0.0.1' } : {}) })
  node.on('error', () => {})
  let timer: NodeJS.Timeout | undefined
  try {
    const ping = (node as unknown as { ping: (to: Address) => Promise<unknown> }).ping.bind(node)
    const reached = await Promise.race([
      node.ready().then(async () => await Promise.any(bootstrap.map(async (address) => await ping(address)))).then(() => true, () => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), BOOTSTRAP_WAIT_MS) })
    ])
    return reached
      ? { name, state: 'ok', detail: `${list} answers over UDP` }
      : { name, state: 'fail', detail: `no answer from ${list} within ${BOOTSTRAP_WAIT_MS / 1000} s`, fix: 'check the address, that the bootstrap node runs (swarmfs bootstrap --host ADDR --port N), and that UDP to that port is not firewalled' }
  } finally {
    clearTimeout(timer)
    await node.destroy().catch(() => {})
  }
}
