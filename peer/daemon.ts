// The peer daemon, composition root of swarmfs: it opens the metadata log and the chunk store of a
// data directory, mounts the filesystem, serves the control socket, and on SIGINT/SIGTERM commits open
// files, unmounts cleanly and exits 0. The only file in peer/ that imports mount/.
import { readFile, stat } from 'node:fs/promises'
import type net from 'node:net'
import { FuseMount, unmountPath } from '../native/fuse.js'
import { ReplicatedMetadata } from '../metadata/replicated-metadata.js'
import { createOperations } from '../mount/fuse-ops.js'
import type { Mount } from '../mount/fuse-ops.js'
import { nowNs } from '../mount/time.js'
import { deriveClusterKeys, readSecret } from './cluster-keys.js'
import { serveControl } from './control.js'
import { dataDir } from './data-dir.js'
import { LocalChunks } from './local-chunks.js'

export interface DaemonOptions {
  data: string
  mount: string
  allowOther: boolean
  cacheBytesMax: number
  log: (line: string) => void
}

export interface PeerInfo {
  id: string
  createdAt: string
}

export class Daemon {
  private readonly options: DaemonOptions
  private metadata: ReplicatedMetadata | undefined
  private chunks: LocalChunks | undefined
  private mount!: Mount
  private fuse: FuseMount | null = null
  private control: net.Server | null = null
  private peer!: PeerInfo
  private stopping: Promise<void> | null = null
  private readonly startedAt = Date.now()

  constructor (options: DaemonOptions) {
    this.options = options
  }

  /** Starts everything; if any step fails, what was already started is closed again before rethrowing. */
  async start (): Promise<void> {
    try {
      await this.startSteps()
    } catch (error) {
      await this.closeStarted().catch(() => {})
      throw error
    }
  }

  private async startSteps (): Promise<void> {
    const dir = dataDir(this.options.data)
    const keys = deriveClusterKeys(await readSecret(dir.secretFile))
    this.peer = JSON.parse(await readFile(dir.peerFile, 'utf8')) as PeerInfo
    let chunks: LocalChunks | null = null
    const metadata = await ReplicatedMetadata.open({
      directory: dir.metadataDirectory,
      peerId: this.peer.id,
      rootTimeNs: nowNs(),
      onFreedChunks: (keys) => chunks?.collect(keys),
      onFatal: (error) => { this.options.log(`metadata storage failed, stopping: ${String(error)}`); process.exitCode = 1; void this.stop() }
    })
    this.metadata = metadata
    chunks = await LocalChunks.open({
      directory: dir.chunkDirectory, encryptionKey: keys.chunkEncryption, idKey: keys.chunkId, cacheBytesMax: this.options.cacheBytesMax
    }, () => metadata.state)
    this.chunks = chunks
    // Files this peer held open when it last stopped are closed now; their chunks may be garbage.
    await metadata.propose({ type: 'purgeOrphans' })
    const garbage = await chunks.collectUnreferenced()
    if (garbage > 0) this.options.log(`removed ${garbage} unreferenced chunks`)
    this.mount = createOperations(metadata, chunks, this.options.log)
    await clearStaleMount(this.options.mount)
    this.fuse = await FuseMount.mount(this.options.mount, this.mount.operations, {
      extraOptions: this.options.allowOther ? ['allow_other'] : [],
      onError: (operation, error) => this.options.log(`unexpected error in ${operation}: ${(error as Error).stack ?? String(error)}`)
    })
    this.control = await serveControl(dir.controlSocket, async (request) => await this.handleControl(request.op))
    this.options.log(`peer ${this.peer.id} mounted ${this.fuse.mountpoint}`)
  }

  /** Commits open files, unmounts, and closes the metadata log and chunk store; safe to call more than once. */
  async stop (): Promise<void> {
    this.stopping ??= this.stopOnce()
    await this.stopping
  }

  /** Answered only once start() has finished (the control socket opens last). */
  status (): Record<string, unknown> {
    const metadata = this.metadata!
    const raft = metadata.status()
    const peers = [...raft.members.voters.map((id) => ({ id, role: id === raft.leader ? 'leader' : 'follower' })),
      ...raft.members.learners.map((id) => ({ id, role: 'learner' }))].map((peer) => ({ ...peer, state: 'up' }))
    return {
      id: this.peer.id,
      role: raft.role,
      term: raft.term,
      leader: raft.leader,
      commitIndex: raft.commit,
      appliedIndex: raft.applied,
      peers,
      mountpoint: this.fuse?.mountpoint ?? null,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      metadata: { inodes: metadata.state.inodes.size, ...raft.storage },
      chunks: this.chunks!.stats()
    }
  }

  private async handleControl (op: string): Promise<unknown> {
    if (op === 'status') return this.status()
    if (op === 'stop') { setImmediate(() => { this.stop().then(() => process.exit(0), () => process.exit(1)) }); return { stopping: true } }
    throw new Error(`unknown request: ${op}`)
  }

  private async stopOnce (): Promise<void> {
    this.control?.close()
    if (this.fuse !== null) {
      await this.mount.commitAll().catch((error: unknown) => this.options.log(`committing open files failed: ${String(error)}`))
      await this.fuse.unmount()
    }
    await this.closeStarted()
  }

  private async closeStarted (): Promise<void> {
    if (this.metadata !== undefined) await this.metadata.close()
    if (this.chunks !== undefined) await this.chunks.close()
  }
}

/**
 * Checks the mountpoint, clearing a dead mount a daemon killed with -9 left behind ("Transport endpoint
 * is not connected").
 */
async function clearStaleMount (mountpoint: string): Promise<void> {
  try {
    if (!(await stat(mountpoint)).isDirectory()) throw new Error(`mountpoint ${mountpoint} is not a directory`)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOTCONN') await unmountPath(mountpoint)
    else if (code === 'ENOENT') throw new Error(`mountpoint ${mountpoint} does not exist (create it: mkdir -p ${mountpoint})`)
    else throw error
  }
}
