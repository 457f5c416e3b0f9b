// The peer daemon, composition root of swarmfs: it opens the metadata log and the chunk store of a
// data directory, joins the cluster's swarm (when given a bootstrap), mounts the filesystem, serves the
// control socket, and on SIGINT/SIGTERM commits open files, unmounts cleanly and exits 0. The only file
// in peer/ that imports mount/.
import { readFile, stat } from 'node:fs/promises'
import type http from 'node:http'
import type net from 'node:net'
import HyperDHT from 'hyperdht'
import { FuseMount, unmountPath } from '../native/fuse.js'
import { ReplicatedMetadata } from '../metadata/replicated-metadata.js'
import { createOperations } from '../mount/fuse-ops.js'
import type { Mount } from '../mount/fuse-ops.js'
import { nowNs } from '../mount/time.js'
import { deriveClusterKeys, readSecret } from './cluster-keys.js'
import { serveControl } from './control.js'
import { dataDir } from './data-dir.js'
import { LocalChunks } from './local-chunks.js'
import { MembershipKeeper } from './membership-keeper.js'
import { boundPort, serveMetrics } from './metrics.js'
import type { MetricsAddress } from './metrics.js'
import { Network, short } from './net/network.js'
import type { Address } from './net/network.js'
import { peerViews } from './peer-views.js'
import { ReplicaKeeper } from './replica-keeper.js'
import type { KeeperSettings } from './replica-keeper.js'
import { REPLICAS_DEFAULT, ReplicatedChunks } from './replicated-chunks.js'

export interface DaemonOptions {
  data: string
  mount: string
  allowOther: boolean
  cacheBytesMax: number
  /** DHT bootstrap nodes; 'public' uses hyperswarm's public DHT; undefined runs this peer alone, offline. */
  bootstrap?: Address[] | 'public'
  /** Address the DHT binds to (and is reachable at). */
  host?: string
  /** Where to serve Prometheus metrics (GET /metrics); undefined: not at all. */
  metrics?: MetricsAddress
  log: (line: string) => void
}

export interface PeerInfo {
  id: string
  createdAt: string
  /** The peer that created the cluster bootstraps its metadata group; peers that joined start empty. */
  founder: boolean
}

const JOIN_LOG_INTERVAL_MS = 10_000

/** Repair and scrub settings; the environment can shorten them (tests) or slow them down. */
function keeperSettings (): KeeperSettings {
  const number = (name: string, fallback: number): number => {
    const value = Number(process.env[name] ?? fallback)
    return Number.isFinite(value) && value > 0 ? value : fallback
  }
  return {
    replicas: REPLICAS_DEFAULT,
    roundMs: number('SWARMFS_KEEPER_ROUND_S', 5) * 1000,
    downGraceMs: number('SWARMFS_REPAIR_GRACE_S', 120) * 1000,
    copiesPerRoundMax: 64,
    scrubBytesPerSecond: number('SWARMFS_SCRUB_MBPS', 32) * 1024 * 1024
  }
}

export class Daemon {
  private readonly options: DaemonOptions
  private metadata: ReplicatedMetadata | undefined
  private chunks: LocalChunks | undefined
  private network: Network | undefined
  private replicated: ReplicatedChunks | undefined
  private keeper: ReplicaKeeper | undefined
  private membership: MembershipKeeper | undefined
  private mount!: Mount
  private fuse: FuseMount | null = null
  private control: net.Server | null = null
  private metricsServer: http.Server | null = null
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
    const { log } = this.options
    const dir = dataDir(this.options.data)
    const keys = deriveClusterKeys(await readSecret(dir.secretFile))
    const keyPair = HyperDHT.keyPair(await readSecret(dir.peerKeyFile))
    this.peer = JSON.parse(await readFile(dir.peerFile, 'utf8')) as PeerInfo
    if (this.peer.id !== keyPair.publicKey.toString('hex')) throw new Error(`${dir.peerFile} does not match ${dir.peerKeyFile}`)
    await clearStaleMount(this.options.mount)
    let chunks: LocalChunks | null = null
    const { bootstrap } = this.options
    if (bootstrap !== undefined) {
      this.network = new Network({
        keyPair,
        topic: keys.topic,
        authKey: keys.connectionAuth,
        ...(bootstrap !== 'public' ? { bootstrap } : {}),
        ...(this.options.host !== undefined ? { host: this.options.host } : {}),
        isRemoved: (peerId) => this.metadata?.state.removedPeers.has(peerId) === true,
        localBeat: () => {
          const s = this.metadata?.status()
          return { term: s?.term ?? 0, commit: s?.commit ?? 0, applied: s?.applied ?? 0 }
        },
        log
      })
      await this.network.start()
    } else if (!this.peer.founder) {
      throw new Error('this peer joined a cluster: start it with --bootstrap HOST:PORT[,…] (or --bootstrap public) so it can reach the others')
    }
    const metadata = await ReplicatedMetadata.open({
      directory: dir.metadataDirectory,
      peerId: this.peer.id,
      founder: this.peer.founder,
      rootTimeNs: nowNs(),
      ...(this.network !== undefined ? { transport: this.network } : {}),
      onFreedChunks: (keys) => chunks?.collect(keys),
      onFatal: (error) => { log(`metadata storage failed, stopping: ${String(error)}`); process.exitCode = 1; void this.stop() }
    })
    this.metadata = metadata
    if (this.network !== undefined) this.membership = new MembershipKeeper(metadata, this.network, log)
    await this.catchUp(metadata)
    chunks = await LocalChunks.open({
      directory: dir.chunkDirectory, encryptionKey: keys.chunkEncryption, idKey: keys.chunkId, cacheBytesMax: this.options.cacheBytesMax
    }, () => metadata.state)
    this.chunks = chunks
    // Files this peer held open when it last stopped are closed now; their chunks may be garbage.
    await metadata.propose({ type: 'purgeOrphans', holder: this.peer.id })
    const garbage = await chunks.collectUnreferenced()
    if (garbage > 0) log(`removed ${garbage} unreferenced chunks`)
    if (this.network !== undefined) {
      const chain = process.env.SWARMFS_REPLICATION !== 'fanout'
      this.replicated = new ReplicatedChunks(chunks, this.network, { replicas: REPLICAS_DEFAULT, chain, holdersOf: (key) => metadata.state.holdersOf(key), log })
      this.keeper = new ReplicaKeeper(metadata, chunks, this.replicated, this.network, keeperSettings(), log)
    }
    // Before the mount, so that a metrics address in use fails the start with nothing mounted.
    if (this.options.metrics !== undefined) {
      this.metricsServer = await serveMetrics(this.options.metrics, () => this.status())
      log(`metrics at http://${this.options.metrics.host}:${boundPort(this.metricsServer)}/metrics`)
    }
    this.mount = createOperations(metadata, this.replicated ?? chunks, { peerId: this.peer.id, closeToOpen: this.network !== undefined, log })
    this.fuse = await FuseMount.mount(this.options.mount, this.mount.operations, {
      extraOptions: this.options.allowOther ? ['allow_other'] : [],
      onError: (operation, error) => log(`unexpected error in ${operation}: ${(error as Error).stack ?? String(error)}`)
    })
    this.control = await serveControl(dir.controlSocket, async (request) => await this.handleControl(request))
    log(`peer ${short(this.peer.id)} mounted ${this.fuse.mountpoint}`)
  }

  /** Waits until this peer is a member with the group's current state (at once for a founder alone). */
  private async catchUp (metadata: ReplicatedMetadata): Promise<void> {
    let lastLog = 0
    for (;;) {
      if (this.stopping !== null) throw new Error('stopped while joining the cluster')
      try {
        if (metadata.isMember()) {
          await metadata.caughtUp()
          return
        }
      } catch {}
      if (Date.now() - lastLog >= JOIN_LOG_INTERVAL_MS) {
        lastLog = Date.now()
        this.options.log(metadata.isMember() ? 'waiting for a leader to catch up with the cluster' : `waiting to be admitted to the cluster as ${short(this.peer.id)}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }

  /** Commits open files, unmounts, and closes the network, metadata log and chunk store; safe to call more than once. */
  async stop (): Promise<void> {
    this.stopping ??= this.stopOnce()
    await this.stopping
  }

  /** Answered only once start() has finished (the control socket opens last). */
  status (): Record<string, unknown> {
    const metadata = this.metadata!
    const raft = metadata.status()
    const views = peerViews(this.peer.id, raft, metadata.node.raw.status().progress, this.network)
    return {
      id: this.peer.id,
      role: views.find((view) => view.id === this.peer.id)?.role ?? 'none',
      term: raft.term,
      leader: raft.leader,
      commitIndex: raft.commit,
      appliedIndex: raft.applied,
      voters: raft.members.voters,
      learners: raft.members.learners,
      peers: views,
      network: this.network === undefined ? null : { ...this.network.stats },
      mountpoint: this.fuse?.mountpoint ?? null,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      memory: process.memoryUsage(),
      metadata: { inodes: metadata.state.inodes.size, ...raft.storage },
      chunks: { ...this.chunks!.stats(), replication: this.replicated?.stats ?? null, keeper: this.keeper?.stats ?? null }
    }
  }

  private async handleControl (request: { op: string, [key: string]: unknown }): Promise<unknown> {
    switch (request.op) {
      case 'status': return this.status()
      case 'remove': return await this.remove(request.peer)
      case 'stop': setImmediate(() => { this.stop().then(() => process.exit(0), () => process.exit(1)) }); return { stopping: true }
    }
    throw new Error(`unknown request: ${request.op}`)
  }

  /** Removes a peer from the cluster for good: the leader drops it from the group and every peer refuses it. */
  private async remove (prefix: unknown): Promise<unknown> {
    if (typeof prefix !== 'string' || !/^[0-9a-f]{4,64}$/.test(prefix)) throw new Error('remove needs a peer id (at least 4 hex digits of it)')
    const { voters, learners } = this.metadata!.status().members
    const candidates = new Set([...voters, ...learners, ...(this.network?.knownPeers() ?? [])].filter((id) => id.startsWith(prefix)))
    if (prefix.length === 64) candidates.add(prefix)
    if (candidates.size !== 1) throw new Error(candidates.size === 0 ? `no peer ${prefix} is known` : `${prefix} names ${candidates.size} peers; give more digits`)
    const [peerId] = candidates as unknown as [string]
    if (peerId === this.peer.id) throw new Error('a peer cannot remove itself: run swarmfs remove on another peer')
    const result = await this.metadata!.propose({ type: 'removePeer', peerId })
    if (result.errno !== 0) throw new Error(`remove failed with errno ${result.errno}`)
    return { removed: peerId }
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
    this.metricsServer?.close()
    this.membership?.stop()
    await this.keeper?.stop()
    if (this.metadata !== undefined) await this.metadata.close()
    if (this.network !== undefined) await this.network.close()
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
