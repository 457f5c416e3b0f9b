// Helpers for real-mount tests: a peer per test (destroyed in teardown), exact errnos and stat fields
// from the errno-probe child, Python snippets for calls Node lacks (xattrs), and shell quoting.
// Everything that touches the mount runs in a child process.
import { execFile, spawnSync } from 'node:child_process'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import type { Test } from 'brittle'
import { CLI, TestPeer, sh, tempDirectory } from './peer.js'
import type { PeerOptions, ShellResult } from './peer.js'
import type { ProbeResult } from './errno-probe.js'

export const PROBE = path.join(path.dirname(CLI), '../test/helpers/errno-probe.js')
export const NOBODY = 65534

/** Starts a peer whose data and mount are destroyed when the test ends. */
export async function startPeer (t: Test, options: PeerOptions = {}): Promise<TestPeer> {
  const peer = await TestPeer.start(options)
  // If the test process dies (uncaught exception), teardowns never run: kill this daemon by PID and
  // detach its mount synchronously so nothing is left mounted or running.
  const onExit = (): void => {
    const pid = peer.process?.pid
    if (pid !== undefined && peer.process?.exitCode === null) { try { process.kill(pid, 'SIGKILL') } catch {} }
    spawnSync('fusermount', ['-uz', peer.mountpoint], { stdio: 'ignore' })
  }
  process.once('exit', onExit)
  t.teardown(async () => {
    process.removeListener('exit', onExit)
    await peer.destroy()
  })
  return peer
}

/** Single-quotes `value` for bash. */
export function q (value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`
}

function execute (file: string, args: string[], timeoutMs = 120_000): Promise<ShellResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

/** Prefix that runs a command as user nobody (65534) with no supplementary groups. */
export function asUser (uid: number, gid = uid): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups']
}

export type ProbeStep = [string, ...unknown[]]

/** Runs the steps in the errno-probe child (optionally as another user); one result per step. */
export async function probe (steps: ProbeStep[], options: { uid?: number } = {}): Promise<ProbeResult[]> {
  const command = [process.execPath, PROBE, JSON.stringify(steps)]
  const [file, ...args] = options.uid === undefined ? command : [...asUser(options.uid), ...command]
  const result = await execute(file!, args)
  if (result.code !== 0) throw new Error(`probe failed (${result.code}): ${result.stderr}`)
  return JSON.parse(result.stdout) as ProbeResult[]
}

/** The errno code of a probe result ('OK' when the call succeeded). */
export function errnoOf (result: ProbeResult | undefined): string {
  if (result === undefined) return 'MISSING'
  return 'error' in result ? result.error : 'OK'
}

/** The value of a successful probe result; throws with the errno otherwise. */
export function okOf<T = unknown> (result: ProbeResult | undefined): T {
  if (result === undefined || !('ok' in result)) throw new Error(`probe step failed: ${JSON.stringify(result)}`)
  return result.ok as T
}

export interface ProbeStat { ino: string, mode: string, nlink: string, uid: string, gid: string, size: string, blocks: string, atimeNs: string, mtimeNs: string, ctimeNs: string }

/** lstat of one path through the probe. */
export async function lstat (file: string, options: { uid?: number } = {}): Promise<ProbeStat> {
  return okOf<ProbeStat>((await probe([['lstat', file]], options))[0])
}

/** Runs a Python 3 script in a child process; never throws for a non-zero exit. */
export async function python (script: string, args: string[] = []): Promise<ShellResult> {
  return await execute('python3', ['-c', script, ...args])
}

/** Waits long enough for the nanosecond clock of the next change to differ visibly (not a timing assert). */
export async function tick (ms = 20): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** A local (not mounted) temporary directory removed when the test ends. */
export async function localDir (t: Test, prefix = 'swarmfs-local-'): Promise<string> {
  const directory = await tempDirectory(prefix)
  t.teardown(async () => { await rm(directory, { recursive: true, force: true }) })
  return directory
}

/** Runs a bash script in a child; asserts it exits 0 (showing its stderr otherwise); returns stdout. */
export async function shOk (t: Test, script: string, message: string, options: { timeoutMs?: number } = {}): Promise<string> {
  const result = await sh(script, options)
  t.is(result.code, 0, result.code === 0 ? message : `${message}\n# exit ${result.code}\n# stdout: ${result.stdout.slice(0, 2000)}\n# stderr: ${result.stderr.slice(0, 2000)}`)
  return result.stdout
}

/** A field of a successful probe result, or the errno code in its place (never throws). */
export function fieldOf (result: ProbeResult | undefined, field: string): unknown {
  if (result === undefined) return 'MISSING'
  if (!('ok' in result)) return result.error
  return (result.ok as Record<string, unknown>)[field]
}

/** The value of a probe result, or its errno code in its place (never throws). */
export function valueOf (result: ProbeResult | undefined): unknown {
  if (result === undefined) return 'MISSING'
  return 'ok' in result ? result.ok : result.error
}
