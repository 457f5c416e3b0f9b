// The peer daemon, composition root of swarmfs: it opens the metadata log and the chunk store of a
// data directory, joins the cluster's swarm (when given a bootstrap), mounts the filesystem, serves the
// control socket (status, remove, and scrub/repair/rebalance passes run as jobs the CLI polls), and
// on SIGINT/SIGTERM commits open files, unmounts cleanly and exits 0; an `umount` from outside stops
// it too. The only file in peer/ that imports mount/.
import { readFile, stat } from 'node:fs/promises'
import type http from 'node:http'
import type net from 'node:net'
import HyperDHT from 'hyperdht'
import { FuseMount, unmountPath } from '../native/fuse.js'
import { ReplicatedMetadata } from '../metadata/replicated-metadata.js'
import { createOperations } from '../mount/fuse-ops.js'
import type { Mount } from '../mount/fuse-ops.js'
import { nowNs } from '../mount/time.js'
import { measureDisk } from './chunks/disk-room.js'
import type { DiskSpace } from './chunks/disk-room.js'
import { levelBytes } from './capacity.js'
import { deriveClusterKeys, readSecret } from './cluster-keys.js'
import { serveControl } from './control.js'
import { dataDir } from './data-dir.js'
import { DiskCache } from './disk-cache.js'
import { LatencyHistogram, LatencyRecorder } from './latency-histogram.js'
import { LocalChunks } from './local-chunks.js'
import type { Logger } from './log.js'
import { MembershipKeeper } from './membership-keeper.js'
import { boundPort, serveMetrics } from './metrics.js'
import type { MetricsAddress } from './metrics.js'
import { isSwarmfsMounted } from '../native/mount-table.js'
import { Network, short } from './net/network.js'
import type { Address } from './net/network.js'
import { PassJobs, isPassKind } from './pass-jobs.js'
import type { PassJob, PassProgress } from './pass-jobs.js'
import { peerViews } from './peer-views.js'
import { ReplicaKeeper } from './replica-keeper.js'
import type { KeeperSettings } from './replica-keeper.js'
import { REPLICAS_DEFAULT, ReplicatedChunks } from './replicated-chunks.js'
import { scrubPass, storedChunks, verifyLocalCopy } from './scrub-pass.js'

export interface DaemonOptions {
  data: string
  mount: string
  allowOther: boolean
  cacheBytesMax: number
  /** Disk space for copies kept only to serve reads here (disk-cache.ts); 0: none beyond the keeper's next round. */
  diskCacheBytesMax: number
  /** DHT bootstrap nodes; 'public' uses hyperswarm's public DHT; undefined runs this peer alone, offline. */
  bootstrap?: Address[] | 'public'
  /** Address the DHT binds to (and is reachable at). */
  host?: string
  /** Where to serve Prometheus metrics (GET /metrics); undefined: not at all. */
  metrics?: MetricsAddress
  logger: Logger
}

export interface PeerInfo {
  id: string
  createdAt: string
  /** The peer that created the cluster bootstraps its metadata group; peers that joined start empty. */
  founder: boolean
}

const JOIN_LOG_INTERVAL_MS = 10_000
/** How often the free space of the data directory's filesystem is read for `status` and metrics. */
const DISK_REFRESH_MS = 5_000
/** How often this peer's capacity for placement is measured (it lists every chunk file; weights are coarse). */
const CAPACITY_REFRESH_MS = 60_000
/** How often the mount table is checked for an `umount` from outside. */
const MOUNT_CHECK_MS = 2_000

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
    scrubBytesPerSecond: number('SWARMFS_SCRUB_MBPS', 32) * 1024 * 1024,
    // Re-reading every chunk back to back would keep the disks busy for good (tar -x took 1.6x as long
    // with three peers scrubbing at 32 MB/s): a pass trickles through a day instead.
    scrubPeriodMs: number('SWARMFS_SCRUB_PERIOD_S', 24 * 3600) * 1000
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
  private readonly logger: Logger
  private readonly jobs = new PassJobs()
  private readonly fuseLatency = new LatencyRecorder()
  private readonly proposalLatency = new LatencyHistogram()
  /** Capacity of the filesystem holding the data directory, for status and metrics. */
  private disk: DiskSpace | null = null
  private readonly timers: NodeJS.Timeout[] = []
  private mountRemoved = false
  private markFinished!: () => void
  /** Settles once the daemon has stopped, whoever stopped it (a signal, a fatal error, an umount). */
  readonly finished = new Promise<void>((resolve) => { this.markFinished = resolve })

  constructor (options: DaemonOptions) {
    this.options = options
    this.logger = options.logger
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
    const { logger } = this
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
        logger
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
      onFatal: (error) => {
        logger.error('metadata.storage_failed', { error: errorOf(error), action: 'stopping' })
        process.exitCode = 1
        void this.stop()
      },
      logger,
      onProposed: (seconds) => { this.proposalLatency.observe(seconds) },
      onChanged: (state) => { this.fuse?.setCapabilityXattrsExist(state.hasCapabilityXattrs) }
    })
    this.metadata = metadata
    if (this.network !== undefined) this.membership = new MembershipKeeper(metadata, this.network, logger)
    await this.catchUp(metadata)
    const flushSeconds = Number(process.env.SWARMFS_CHUNK_FLUSH_S) // tests lengthen the background sync's interval
    chunks = await LocalChunks.open({
      directory: dir.chunkDirectory, encryptionKey: keys.chunkEncryption, idKey: keys.chunkId, cacheBytesMax: this.options.cacheBytesMax, logger,
      ...(Number.isFinite(flushSeconds) && flushSeconds > 0 ? { flushIntervalMs: flushSeconds * 1000 } : {})
    }, () => metadata.state)
    this.chunks = chunks
    // Files this peer held open when it last stopped are closed now (their chunks may be garbage), and
    // the flocks its mount held are dropped.
    await metadata.propose({ type: 'purgeOrphans', holder: this.peer.id })
    const garbage = await chunks.collectUnreferenced()
    if (garbage > 0) logger.info('chunks.garbage_collected', { chunks: garbage })
    if (this.network !== undefined) {
      const chain = process.env.SWARMFS_REPLICATION !== 'fanout'
      const self = this.peer.id
      const diskCache = new DiskCache(chunks, {
        bytesMax: this.options.diskCacheBytesMax,
        isListedHere: (key) => metadata.state.holdersOf(key).includes(self),
        isReferenced: (key) => metadata.state.chunkReferences.has(key),
        logger
      })
      const cached = await diskCache.rebuild()
      if (cached > 0) logger.info('chunks.disk_cache_rebuilt', { chunks: cached, bytes: diskCache.bytes() })
      this.replicated = new ReplicatedChunks(chunks, this.network, { replicas: REPLICAS_DEFAULT, chain, holdersOf: (key) => metadata.state.holdersOf(key), logger, diskCache })
      this.keeper = new ReplicaKeeper(metadata, chunks, this.replicated, this.network, keeperSettings(), logger)
    }
    await this.refreshDisk()
    this.every(DISK_REFRESH_MS, async () => { await this.refreshDisk() })
    const replicated = this.replicated
    if (replicated !== undefined) {
      const level = await replicated.refreshCapacity()
      logger.info('chunks.capacity_measured', { level: level ?? 'unknown', bytes: level === null ? 'unknown' : levelBytes(level) })
      this.every(CAPACITY_REFRESH_MS, async () => { await replicated.refreshCapacity() })
    }
    // Before the mount, so that a metrics address in use fails the start with nothing mounted.
    if (this.options.metrics !== undefined) {
      this.metricsServer = await serveMetrics(this.options.metrics, () => this.status())
      logger.info('metrics.listening', { url: `http://${this.options.metrics.host}:${boundPort(this.metricsServer)}/metrics` })
    }
    this.mount = createOperations(metadata, this.replicated ?? chunks, { peerId: this.peer.id, closeToOpen: this.network !== undefined, logger })
    this.fuse = await FuseMount.mount(this.options.mount, this.mount.operations, {
      // Shared with other users, the kernel checks permissions too: FIFOs and sockets are opened by the
      // kernel alone, so only default_permissions keeps their mode bits (mount/permissions.ts).
      extraOptions: this.options.allowOther ? ['allow_other', 'default_permissions'] : [],
      onError: (operation, error) => logger.error('fuse.unexpected_error', { op: operation, error: errorOf(error), stack: (error as Error).stack }),
      onAnswered: (operation, seconds) => { this.fuseLatency.observe(operation, seconds) }
    })
    this.fuse.setCapabilityXattrsExist(metadata.state.hasCapabilityXattrs)
    this.control = await serveControl(dir.controlSocket, async (request) => await this.handleControl(request))
    this.every(MOUNT_CHECK_MS, async () => { await this.checkMounted() })
    logger.info('daemon.mounted', { peer: short(this.peer.id), mountpoint: this.fuse.mountpoint, cluster: this.network === undefined ? 'offline' : 'online' })
  }

  /** Runs `task` every `ms` (one at a time) until the daemon stops; failures are logged. */
  private every (ms: number, task: () => Promise<void>): void {
    let busy = false
    const timer = setInterval(() => {
      if (busy || this.stopping !== null) return
      busy = true
      task().catch((error: unknown) => this.logger.warn('daemon.task_failed', { error: errorOf(error) })).finally(() => { busy = false })
    }, ms)
    timer.unref()
    this.timers.push(timer)
  }

  private async refreshDisk (): Promise<void> {
    this.disk = await measureDisk(this.options.data)
  }

  /** An `umount` (or `swarmfs unmount`) from outside ends the daemon's purpose: stop, exit 0. */
  private async checkMounted (): Promise<void> {
    if (this.fuse === null || this.stopping !== null) return
    if (await isSwarmfsMounted(this.fuse.mountpoint) || this.stopping !== null) return // (a stop may have begun meanwhile)
    this.mountRemoved = true
    this.logger.info('daemon.unmounted_from_outside', { mountpoint: this.fuse.mountpoint, action: 'stopping' })
    await this.stop()
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
        if (metadata.isMember()) this.logger.info('daemon.catching_up', { reason: 'waiting for a leader to catch up with the cluster' })
        else this.logger.info('daemon.awaiting_admission', { peer: short(this.peer.id) })
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
      fuseThreads: this.fuse?.threads ?? null,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      memory: process.memoryUsage(),
      disk: this.disk === null ? null : { path: dataDir(this.options.data).root, bytesTotal: this.disk.totalBytes, bytesFree: this.disk.freeBytes, bytesAvailable: this.disk.availableBytes },
      metadata: { inodes: metadata.state.inodes.size, ...raft.storage },
      placement: this.placementStatus(views.map((view) => view.id)),
      chunks: { ...this.chunks!.stats(), diskCache: this.replicated?.diskCache?.stats() ?? null, replication: this.replicated?.stats ?? null, keeper: this.keeper?.stats ?? null },
      passes: this.jobs.running(),
      latency: { fuse: this.fuseLatency.snapshot(), metadataProposal: this.proposalLatency.snapshot() }
    }
  }

  /** Each peer's advertised capacity (quantized) and placement weight, as this peer ranks with them. */
  private placementStatus (peers: readonly string[]): { peers: Array<{ id: string, capacityBytes: number | null, weight: number }> } | null {
    const network = this.network
    if (network === undefined) return null
    const weightOf = network.placementWeights()
    return {
      peers: peers.map((id) => {
        const level = network.capacityLevelOf(id)
        return { id, capacityBytes: level === null ? null : levelBytes(level), weight: weightOf(id) }
      })
    }
  }

  private async handleControl (request: { op: string, [key: string]: unknown }): Promise<unknown> {
    switch (request.op) {
      case 'status': return this.status()
      case 'remove': return await this.remove(request.peer)
      case 'pass': return this.startPass(request.kind, request.noGrace === true)
      case 'job': return this.job(request.id)
      case 'stop': setImmediate(() => { this.stop().then(() => process.exit(0), () => process.exit(1)) }); return { stopping: true }
    }
    throw new Error(`unknown request: ${request.op}`)
  }

  /** Starts (or joins) a scrub, repair or rebalance pass; the CLI then polls it with `job`. */
  private startPass (kind: unknown, noGrace: boolean): PassJob {
    if (!isPassKind(kind)) throw new Error('pass needs a kind: scrub, repair or rebalance')
    const keeper = this.keeper
    if (keeper === undefined && kind !== 'scrub') {
      throw new Error(`this peer runs alone (started without --bootstrap): there is no other peer to ${kind} chunks with`)
    }
    const job = this.jobs.start(kind, async (progress) => {
      this.logger.info('pass.started', { kind })
      try {
        if (kind === 'scrub') await (keeper === undefined ? this.scrubAlone(progress) : keeper.scrubNow(progress))
        else await keeper!.passNow(kind, progress, noGrace ? 0 : undefined)
      } catch (error) {
        this.logger.warn('pass.failed', { kind, error: errorOf(error) })
        throw error
      }
      this.logger.info('pass.finished', { kind, ...passFields(progress) })
    })
    return job
  }

  private job (id: unknown): PassJob {
    const job = typeof id === 'number' ? this.jobs.get(id) : undefined
    if (job === undefined) throw new Error(`no pass job ${String(id)}`)
    return job
  }

  /** Without other peers there is no good copy to fetch: a bad local copy is only reported. */
  private async scrubAlone (progress: PassProgress): Promise<void> {
    const store = this.chunks!.store
    const completed = await scrubPass(await storedChunks(store), {
      scrubOne: async (id) => await verifyLocalCopy(store, id),
      bytesPerSecond: null,
      periodMs: null,
      progress,
      interrupted: () => this.stopping !== null,
      sleep: async () => {},
      onFailure: (id, error) => this.logger.warn('scrub.failed', { chunk: id.toString('hex').slice(0, 12), error: errorOf(error), repair: 'impossible: this peer runs alone' })
    })
    if (!completed) throw new Error('the daemon is stopping')
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
    try {
      this.control?.close()
      if (this.fuse !== null) {
        await this.mount.commitAll().catch((error: unknown) => this.logger.error('daemon.commit_failed', { error: errorOf(error) }))
        // After an umount from outside there is nothing left to unmount.
        await this.fuse.unmount().catch((error: unknown) => { if (!this.mountRemoved) throw error })
      }
      await this.closeStarted()
    } finally {
      this.markFinished()
    }
  }

  private async closeStarted (): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    this.metricsServer?.close()
    this.membership?.stop()
    await this.keeper?.stop()
    if (this.metadata !== undefined) await this.metadata.close()
    if (this.network !== undefined) await this.network.close()
    if (this.chunks !== undefined) await this.chunks.close()
  }
}

function errorOf (error: unknown): Error | string {
  return error instanceof Error ? error : String(error)
}

/** The counts of a pass as log fields. */
function passFields (progress: PassProgress): Record<string, number> {
  return { chunks: progress.chunksDone, bytes: progress.bytesDone, fixed: progress.fixed, failed: progress.failed, under_replicated: progress.underReplicated }
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
