// Real peers for tests: a data directory, a daemon child process with its FUSE mount, shell commands
// run from other child processes (never from this process, never synchronously), stop by PID.
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, mkdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { DAEMON_NODE_FLAGS } from '../../peer/node-flags.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
export const CLI = path.join(ROOT, 'dist/peer/cli.js')
const MOUNT_WAIT_MS = 20_000

export interface ShellResult { code: number, stdout: string, stderr: string }

/** Runs `script` with bash in a child process; never throws for a non-zero exit. */
export async function sh (script: string, options: { cwd?: string, timeoutMs?: number } = {}): Promise<ShellResult> {
  return await new Promise((resolve) => {
    execFile('bash', ['-c', script], { cwd: options.cwd, timeout: options.timeoutMs ?? 600_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

/** Like sh, but rejects with the output when the script fails. */
export async function run (script: string, options: { cwd?: string, timeoutMs?: number } = {}): Promise<string> {
  const result = await sh(script, options)
  if (result.code !== 0) throw new Error(`command failed (${result.code}): ${script}\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

export async function tempDirectory (prefix = 'swarmfs-test-'): Promise<string> {
  return await mkdtemp(path.join(os.tmpdir(), prefix))
}

export interface PeerOptions {
  allowOther?: boolean
  cacheMb?: number
}

/** One peer daemon with a mount, started as a child process. */
export class TestPeer {
  readonly data: string
  readonly mountpoint: string
  readonly options: PeerOptions
  process: ChildProcess | null = null
  log = ''

  private constructor (data: string, mountpoint: string, options: PeerOptions) {
    this.data = data
    this.mountpoint = mountpoint
    this.options = options
  }

  /** Initialises a data directory and starts the daemon; resolves once the mount answers. */
  static async start (options: PeerOptions = {}): Promise<TestPeer> {
    const base = await tempDirectory()
    const peer = new TestPeer(path.join(base, 'data'), path.join(base, 'mnt'), options)
    await mkdir(peer.mountpoint)
    await run(`node ${CLI} init --data ${peer.data}`)
    await peer.restart()
    return peer
  }

  get pid (): number {
    if (this.process?.pid === undefined) throw new Error('peer is not running')
    return this.process.pid
  }

  async restart (): Promise<void> {
    const args = [...DAEMON_NODE_FLAGS, CLI, 'up', '--data', this.data, '--mount', this.mountpoint]
    if (this.options.allowOther === true) args.push('--allow-other')
    if (this.options.cacheMb !== undefined) args.push('--cache-mb', String(this.options.cacheMb))
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.process = child
    child.stdout.on('data', (chunk: Buffer) => { this.log += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { this.log += chunk.toString() })
    const deadline = Date.now() + MOUNT_WAIT_MS
    while (!(await this.isMounted())) {
      if (child.exitCode !== null) throw new Error(`peer exited with ${child.exitCode}:\n${this.log}`)
      if (Date.now() > deadline) throw new Error(`peer did not mount in time:\n${this.log}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  async isMounted (): Promise<boolean> {
    const mounts = await readFile('/proc/self/mounts', 'utf8')
    return mounts.split('\n').some((line) => line.split(' ')[1] === this.mountpoint && line.includes('fuse.swarmfs'))
  }

  /** SIGTERM and wait: the daemon commits, unmounts and must exit 0. Returns its exit code. */
  async stop (): Promise<number | null> {
    const child = this.process
    if (child === null || child.exitCode !== null) return child?.exitCode ?? null
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    const code = await exited
    this.process = null
    return code
  }

  /** kill -9: no cleanup at all, as a crash or power loss of the daemon. */
  async crash (): Promise<void> {
    const child = this.process
    if (child === null || child.exitCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGKILL')
    await exited
    this.process = null
    await sh(`fusermount -uz ${this.mountpoint}`)
  }

  /** Peak resident memory of the daemon so far, in bytes (VmHWM). */
  async peakRssBytes (): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8')
    const match = /VmHWM:\s+(\d+) kB/.exec(status)
    return match === null ? 0 : Number(match[1]) * 1024
  }

  async destroy (): Promise<void> {
    await this.stop().catch(() => {})
    if (await this.isMounted()) await sh(`fusermount -uz ${this.mountpoint}`)
    await rm(path.dirname(this.data), { recursive: true, force: true })
  }
}
