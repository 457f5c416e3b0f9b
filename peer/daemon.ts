// The peer daemon, composition root of swarmfs: it opens the metadata log and the chunk store of a
// data directory, mounts the filesystem, serves the control socket, and on SIGINT/SIGTERM commits open
// files, unmounts cleanly and exits 0. The only file in peer/ that imports mount/.
import { readFile, stat } from 'node:fs/promises'
import type net from 'node:net'
import { FuseMount, unmountPath } from '../native/fuse.js'
import { LocalLog } from '../metadata/local-log.js'
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
  private metadata!: LocalLog
  private chunks!: LocalChunks
  private mount!: Mount
  private fuse: FuseMount | null = null
  private control: net.Server | null = null
  private peer!: PeerInfo
  private stopping: Promise<void> | null = null
  private readonly startedAt = Date.now()

  constructor (options: DaemonOptions) {
    this.options = options
  }

  async start (): Promise<void> {
    const dir = dataDir(this.options.data)
    const keys = deriveClusterKeys(await readSecret(dir.secretFile))
    this.peer = JSON.parse(await readFile(dir.peerFile, 'utf8')) as PeerInfo
    this.metadata = await LocalLog.open(dir.metadataDirectory, nowNs())
    this.chunks = await LocalChunks.open({
      directory: dir.chunkDirectory, encryptionKey: keys.chunkEncryption, idKey: keys.chunkId, cacheBytesMax: this.options.cacheBytesMax
    }, () => this.metadata.state)
    // Files this peer held open when it last stopped are closed now; their chunks may be garbage.
    await this.metadata.propose({ type: 'purgeOrphans' })
    this.metadata.onApplied = (_command, _result, freed) => { if (freed.length > 0) this.chunks.collect(freed) }
    const garbage = await this.chunks.collectUnreferenced()
    if (garbage > 0) this.options.log(`removed ${garbage} unreferenced chunks`)
    this.mount = createOperations(this.metadata, this.chunks, this.options.log)
    await clearStaleMount(this.options.mount)
    this.fuse = await FuseMount.mount(this.options.mount, this.mount.operations, {
      extraOptions: this.options.allowOther ? ['allow_other'] : [],
      onError: (operation, error) => this.options.log(`unexpected error in ${operation}: ${(error as Error).stack ?? String(error)}`)
    })
    this.control = await serveControl(dir.controlSocket, async (request) => await this.handleControl(request.op))
    this.options.log(`peer ${this.peer.id} mounted ${this.fuse.mountpoint}`)
  }

  /** Commits open files, unmounts, snapshots and closes; safe to call more than once. */
  async stop (): Promise<void> {
    this.stopping ??= this.stopOnce()
    await this.stopping
  }

  status (): Record<string, unknown> {
    const log = this.metadata.status()
    return {
      id: this.peer.id,
      role: 'leader', // a single voter leads itself; the Raft group will report real roles
      term: 1,
      leader: this.peer.id,
      peers: [{ id: this.peer.id, role: 'leader', state: 'up' }],
      mountpoint: this.fuse?.mountpoint ?? null,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      metadata: { ...log, inodes: this.metadata.state.inodes.size },
      chunks: this.chunks.stats()
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
    await this.metadata.snapshot()
    await this.metadata.close()
    await this.chunks.close()
  }
}

/** A daemon killed with -9 leaves its mountpoint dead ("Transport endpoint is not connected"). */
async function clearStaleMount (mountpoint: string): Promise<void> {
  try {
    await stat(mountpoint)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTCONN') await unmountPath(mountpoint)
    else throw error
  }
}
