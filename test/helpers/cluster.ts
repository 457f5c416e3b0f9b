// Real clusters for tests: a DHT bootstrap node and peer daemons as separate processes on 127.0.0.1 (or
// inside network namespaces the test made, entered with nsenter so that the daemons' FUSE mounts stay
// visible to the test's shell commands), formed from `init`, `invite` and `join` alone.
import type { Test } from 'brittle'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { targetVoters } from '../../metadata/raft/voter-policy.js'
import { bootstrapAddressOf } from '../../peer/bootstrap-node.js'
import { DAEMON_NODE_FLAGS } from '../../peer/node-flags.js'
import { CLI, run, sh, tempDirectory } from './peer.js'

const START_WAIT_MS = 60_000

/** The command prefix that runs a process in network namespace `netns` (only the network is switched). */
function inNamespace (netns: string | undefined, args: string[]): [string, string[]] {
  if (netns === undefined) return [process.execPath, args]
  return ['nsenter', [`--net=/var/run/netns/${netns}`, process.execPath, ...args]]
}

async function exited (child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  return await new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

export class BootstrapNode {
  readonly address: string
  private readonly child: ChildProcess

  private constructor (child: ChildProcess, address: string) {
    this.child = child
    this.address = address
  }

  static async start (host = '127.0.0.1', netns?: string): Promise<BootstrapNode> {
    const [command, args] = inNamespace(netns, [CLI, 'bootstrap', '--host', host, '--port', '0'])
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const address = await bootstrapAddressOf(child)
    return new BootstrapNode(child, address)
  }

  async stop (): Promise<void> {
    this.child.kill('SIGTERM')
    await exited(this.child)
  }
}

export interface ClusterPeerOptions {
  bootstrap: string
  host?: string
  netns?: string
  /** Environment of the daemon beyond this process's own (settings of one test, e.g. short keeper rounds). */
  env?: Record<string, string>
}

export type PeerStatus = Record<string, any> & {
  id: string
  role: string
  term: number
  leader: string
  voters: string[]
  learners: string[]
  commitIndex: number
  appliedIndex: number
  peers: Array<{ id: string, role: string, state: string, lag: number | null }>
}

export class ClusterPeer {
  readonly name: string
  readonly data: string
  readonly mountpoint: string
  readonly options: ClusterPeerOptions
  id = ''
  process: ChildProcess | null = null
  log = ''

  constructor (name: string, base: string, options: ClusterPeerOptions) {
    this.name = name
    this.data = path.join(base, name, 'data')
    this.mountpoint = path.join(base, name, 'mnt')
    this.options = options
  }

  async init (invite?: string): Promise<void> {
    await mkdir(this.mountpoint, { recursive: true })
    const output = invite === undefined
      ? await run(`node ${CLI} init --data ${this.data}`)
      : await run(`node ${CLI} join ${invite} --data ${this.data}`)
    this.id = /peer ([0-9a-f]{64})/.exec(output)![1]!
  }

  async invite (): Promise<string> {
    return (await run(`node ${CLI} invite --data ${this.data}`)).trim()
  }

  /** Starts the daemon; resolves once its mount answers (a joining peer mounts after admission). */
  async start (): Promise<void> {
    const args = [...DAEMON_NODE_FLAGS, CLI, 'up', '--data', this.data, '--mount', this.mountpoint, '--bootstrap', this.options.bootstrap, '--host', this.options.host ?? '127.0.0.1']
    const [command, commandArgs] = inNamespace(this.options.netns, args)
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.options.env } })
    this.process = child
    child.stdout!.on('data', (chunk: Buffer) => { this.log += chunk.toString() })
    child.stderr!.on('data', (chunk: Buffer) => { this.log += chunk.toString() })
    const deadline = Date.now() + START_WAIT_MS
    while (!(await this.isMounted())) {
      if (child.exitCode !== null) throw new Error(`peer ${this.name} exited with ${child.exitCode}:\n${this.log}`)
      if (Date.now() > deadline) throw new Error(`peer ${this.name} did not mount in time:\n${this.log}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  get running (): boolean {
    return this.process !== null && this.process.exitCode === null && this.process.signalCode === null
  }

  get pid (): number {
    if (this.process?.pid === undefined) throw new Error(`peer ${this.name} is not running`)
    return this.process.pid
  }

  async isMounted (): Promise<boolean> {
    const mounts = await readFile('/proc/self/mounts', 'utf8')
    return mounts.split('\n').some((line) => line.split(' ')[1] === this.mountpoint && line.includes('fuse.swarmfs'))
  }

  async status (): Promise<PeerStatus | null> {
    const result = await sh(`node ${CLI} status --data ${this.data} --json`, { timeoutMs: 30_000 })
    if (result.code !== 0) return null
    return JSON.parse(result.stdout) as PeerStatus
  }

  /** SIGTERM and wait: the daemon commits, unmounts and exits. */
  async stop (): Promise<number | null> {
    const child = this.process
    if (child === null) return null
    child.kill('SIGTERM')
    const code = await exited(child)
    this.process = null
    return code
  }

  /** kill -9, then clear the dead mount it leaves. */
  async crash (): Promise<void> {
    const child = this.process
    if (child === null) return
    child.kill('SIGKILL')
    await exited(child)
    this.process = null
    await sh(`fusermount -uz ${this.mountpoint}`)
  }

  /** The shell command `script`, run in a child process with the mount as working directory. */
  async sh (script: string, timeoutMs = 120_000): Promise<{ code: number, stdout: string, stderr: string }> {
    return await sh(script, { cwd: this.mountpoint, timeoutMs })
  }
}

export interface ClusterOptions {
  /** Network namespace and address per peer (index-aligned); omitted: everything on 127.0.0.1. */
  hosts?: Array<{ netns: string, host: string }>
  bootstrapHost?: { netns: string, host: string }
  /** Runs before each peer's data directory is created (e.g. to mount a small filesystem there). */
  prepare?: (peer: ClusterPeer) => Promise<void>
  /**
   * Environment of every daemon of this cluster beyond this process's own. Not process.env: every test
   * file of a run shares this process, and a setting made there would reach the clusters of all of them.
   */
  env?: Record<string, string>
}

/** The clusters not yet destroyed: a failed test prints their daemons' logs. */
const live = new Set<Cluster>()

export class Cluster {
  readonly base: string
  readonly bootstrap: BootstrapNode
  readonly peers: ClusterPeer[]
  private readonly env: Record<string, string>

  private constructor (base: string, bootstrap: BootstrapNode, peers: ClusterPeer[], env: Record<string, string>) {
    this.base = base
    this.bootstrap = bootstrap
    this.peers = peers
    this.env = env
  }

  /** A founder and size − 1 invited peers, all started; resolves once the voters reach their target. */
  static async start (size: number, options: ClusterOptions = {}): Promise<Cluster> {
    const base = await tempDirectory('swarmfs-cluster-')
    const bootstrap = await BootstrapNode.start(options.bootstrapHost?.host, options.bootstrapHost?.netns)
    const peers = Array.from({ length: size }, (_, i) => {
      const where = options.hosts?.[i]
      return new ClusterPeer(`peer${i}`, base, { bootstrap: bootstrap.address, env: options.env ?? {}, ...(where !== undefined ? { host: where.host, netns: where.netns } : {}) })
    })
    const cluster = new Cluster(base, bootstrap, peers, options.env ?? {})
    live.add(cluster)
    try {
      for (const peer of peers) await options.prepare?.(peer)
      await peers[0]!.init()
      const invite = await peers[0]!.invite()
      for (const peer of peers.slice(1)) await peer.init(invite)
      await Promise.all(peers.map(async (peer) => await peer.start()))
      await cluster.waitFor(async () => {
        const status = await peers[0]!.status()
        return status !== null && status.voters.length === targetVoters(size)
      }, 'the voters to reach their target')
    } catch (error) {
      const logs = cluster.logs()
      await cluster.destroy()
      throw new Error(`${(error as Error).message}\n${logs}`)
    }
    return cluster
  }

  /** Joins one more peer with the founder's invite and starts it (it mounts once admitted). */
  async addPeer (): Promise<ClusterPeer> {
    const peer = new ClusterPeer(`peer${this.peers.length}`, this.base, { bootstrap: this.bootstrap.address, env: this.env })
    await peer.init(await this.peers[0]!.invite())
    this.peers.push(peer)
    await peer.start()
    return peer
  }

  /** The peer the running peers agree leads, once there is one. */
  async leader (among: ClusterPeer[] = this.peers.filter((peer) => peer.running)): Promise<ClusterPeer> {
    let found: ClusterPeer | undefined
    await this.waitFor(async () => {
      const statuses = await Promise.all(among.map(async (peer) => await peer.status()))
      const leaders = new Set(statuses.map((status) => status?.leader))
      const id = statuses[0]?.leader
      found = among.find((peer) => peer.id === id)
      return leaders.size === 1 && found !== undefined && statuses.every((status) => status !== null)
    }, 'an agreed leader')
    return found!
  }

  /** Polls `condition` every 200 ms until it holds; throws with `what` after `timeoutMs`. */
  async waitFor (condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<number> {
    const started = Date.now()
    for (;;) {
      if (await condition().catch(() => false)) return Date.now() - started
      if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}\n${this.logs()}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }

  logs (): string {
    return this.peers.map((peer) => `--- ${peer.name} (${peer.id.slice(0, 12)})\n${peer.log.split('\n').slice(-25).join('\n')}`).join('\n')
  }

  async destroy (): Promise<void> {
    live.delete(this)
    await Promise.all(this.peers.map(async (peer) => {
      await peer.stop().catch(() => {})
      if (await peer.isMounted()) await sh(`fusermount -uz ${peer.mountpoint}`)
    }))
    await this.bootstrap.stop()
    await rm(this.base, { recursive: true, force: true })
  }
}

/**
 * A test body whose exception (a bound that ran out) becomes a failed assertion: brittle rethrows what a
 * test throws, which would end the whole run instead of failing this one test.
 */
export function failuresAsAsserts (body: (t: Test) => Promise<void>): (t: Test) => Promise<void> {
  return async (t) => {
    try {
      await body(t)
    } catch (error) {
      const logs = [...live].map((cluster) => cluster.logs()).join('\n')
      t.fail(`${(error as Error).stack ?? String(error)}${logs === '' ? '' : `\n${logs}`}`)
    }
  }
}
