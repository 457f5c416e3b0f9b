// Keeps every chunk at R live copies, in the background and throttled: each round it walks the chunks
// this peer is recorded as holding, acts on those it coordinates (replica-plan.ts: repair after a peer
// stays down past the grace period, rebalance onto members that joined), records the new locations in
// one Raft command per batch, and deletes local copies the metadata no longer lists — except those in
// the disk cache tier (disk-cache.ts), which it brings within its bound instead. It also runs the
// scrubber: every stored chunk is re-verified at a bounded rate and a bad copy is replaced from a good
// replica. An operator can ask for a pass now (`swarmfs repair`, `rebalance`, `scrub`): it runs in
// the same queue as the rounds, unthrottled, and counts its progress. Counts feed `swarmfs status`.
import type { ReplicatedMetadata } from '../metadata/replicated-metadata.js'
import type { LocationUpdate } from '../metadata/fs/commands.js'
import { LOCATION_UPDATES_MAX } from '../metadata/fs/commands.js'
import { chunkIdFromHex, chunkIdToHex } from './chunks/chunk-id.js'
import { CHUNK_BYTES } from './chunks/sealed-chunk.js'
import type { LocalChunks } from './local-chunks.js'
import type { Logger } from './log.js'
import type { Network } from './net/network.js'
import { emptyProgress } from './pass-jobs.js'
import { isShortOfRoom } from './placement.js'
import type { PassProgress } from './pass-jobs.js'
import { coordinatorOf, isSurplusCopy, planChunk } from './replica-plan.js'
import type { ChunkView } from './replica-plan.js'
import type { ReplicatedChunks } from './replicated-chunks.js'
import { scrubPass, storedChunks } from './scrub-pass.js'

export interface KeeperSettings {
  replicas: number
  roundMs: number
  /** A peer silent this long is dead for placement: its chunks are re-replicated elsewhere. */
  downGraceMs: number
  /** Chunk copies made per round at most (throttle for repair and rebalance traffic). */
  copiesPerRoundMax: number
  /** Scrubbing rate, in sealed bytes verified per second at most. */
  scrubBytesPerSecond: number
  /** A background scrub pass is spread over this long (passes follow each other). */
  scrubPeriodMs: number
}

export interface KeeperStats {
  rounds: number
  underReplicated: number
  copiesMade: number
  copiesDropped: number
  surplusDeleted: number
  scrubbed: number
  scrubRepaired: number
  scrubPass: number
  scrubProgress: number // chunks verified in the current pass / chunks at its start
}

/** What a walk over the held chunks may do: the periodic round does both repair and rebalance. */
interface WalkOptions {
  only: 'repair' | 'rebalance' | null
  copiesMax: number
  downGraceMs: number
  progress: PassProgress
}

interface ScrubRequest {
  progress: PassProgress
  resolve: () => void
  reject: (error: Error) => void
}

export class ReplicaKeeper {
  readonly stats: KeeperStats = { rounds: 0, underReplicated: 0, copiesMade: 0, copiesDropped: 0, surplusDeleted: 0, scrubbed: 0, scrubRepaired: 0, scrubPass: 0, scrubProgress: 0 }
  private readonly settings: KeeperSettings
  private readonly metadata: ReplicatedMetadata
  private readonly local: LocalChunks
  private readonly chunks: ReplicatedChunks
  private readonly network: Network
  private readonly logger: Logger
  private readonly silentSince = new Map<string, number>()
  private baseline: Set<string> | null = null // members when this peer started: not newcomers
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> = Promise.resolve()
  private roundQueued = false
  private readonly scrubbing: Promise<void>
  private readonly scrubRequests: ScrubRequest[] = []
  private stopped = false

  constructor (metadata: ReplicatedMetadata, local: LocalChunks, chunks: ReplicatedChunks, network: Network, settings: KeeperSettings, logger: Logger) {
    this.metadata = metadata
    this.local = local
    this.chunks = chunks
    this.network = network
    this.settings = settings
    this.logger = logger
    this.timer = setInterval(() => {
      // One round waiting is enough: behind a long requested pass, rounds must not pile up.
      if (this.roundQueued) return
      this.roundQueued = true
      const options: WalkOptions = { only: null, copiesMax: settings.copiesPerRoundMax, downGraceMs: settings.downGraceMs, progress: emptyProgress('repair') }
      this.running = this.running.then(async () => {
        this.roundQueued = false
        await this.walk(options)
      }).catch((error: unknown) => this.logger.warn('keeper.round_failed', { error: errorOf(error) }))
    }, settings.roundMs)
    this.scrubbing = this.scrubLoop().catch((error: unknown) => this.logger.error('scrub.stopped', { error: errorOf(error) }))
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
    await this.running
    await this.scrubbing
  }

  /**
   * A repair or rebalance pass now, over every chunk this peer coordinates, without the per-round copy
   * limit. `downGraceMs` 0 treats every member not answering right now as dead (the operator knows it
   * is gone). Queued behind a round in progress; `progress` is updated as it goes.
   */
  async passNow (kind: 'repair' | 'rebalance', progress: PassProgress, downGraceMs = this.settings.downGraceMs): Promise<void> {
    const pass = this.running.then(async () => {
      const { voters, learners } = this.metadata.status().members
      if (![...voters, ...learners].includes(this.network.id)) throw new Error('this peer is not a member of the metadata group yet')
      if (!await this.walk({ only: kind, copiesMax: Infinity, downGraceMs, progress })) throw new Error('the daemon is stopping')
    })
    this.running = pass.catch(() => {})
    await pass
  }

  /** A full scrub pass now, unpaced; a background pass in progress gives way to it. */
  async scrubNow (progress: PassProgress): Promise<void> {
    if (this.stopped) throw new Error('the daemon is stopping')
    await new Promise<void>((resolve, reject) => { this.scrubRequests.push({ progress, resolve, reject }) })
  }

  /** One walk over the chunks this peer holds; false if it was cut short by stop(). */
  private async walk (options: WalkOptions): Promise<boolean> {
    if (this.stopped) return false
    const self = this.network.id
    const { voters, learners } = this.metadata.status().members
    const members = [...voters, ...learners]
    if (!members.includes(self)) return true
    this.baseline ??= new Set(members)
    this.local.releaseCommittedHolds((key) => this.metadata.state.holdersOf(key).includes(self))
    const now = Date.now()
    const up = new Set([self, ...this.network.upPeers()])
    for (const id of members) {
      if (up.has(id)) this.silentSince.delete(id)
      else if (!this.silentSince.has(id)) this.silentSince.set(id, now)
    }
    const dead = new Set([...this.silentSince].filter(([, since]) => now - since >= options.downGraceMs).map(([id]) => id))
    const newcomers = new Set(members.filter((id) => !this.baseline!.has(id)))
    // Peers that said they lack room for another chunk: repair copies to others first, rebalance never onto them.
    const shortOfRoom = new Set(members.filter((id) => isShortOfRoom(this.network.roomOf(id), CHUNK_BYTES)))
    const state = this.metadata.state
    const weightOf = this.network.placementWeights() // one view of the weights for the whole walk
    const updates: LocationUpdate[] = []
    const { progress } = options
    const held = state.chunksHeldBy(self)
    progress.chunksTotal = held.length
    let copies = 0
    let underReplicated = 0
    for (const key of held) {
      if (this.stopped) return false
      progress.chunksDone++
      const chunk = chunkIdFromHex(key)
      const view: ChunkView = { chunk, holders: state.holdersOf(key), members, up, dead, newcomers, short: shortOfRoom, replicas: this.settings.replicas, weightOf }
      const lacking = view.holders.filter((id) => !dead.has(id)).length < Math.min(this.settings.replicas, members.length - dead.size)
      if (lacking) underReplicated++
      progress.underReplicated = underReplicated
      if (coordinatorOf(view) !== self || copies >= options.copiesMax) continue
      const plan = planChunk(view)
      if (plan.copyTo.length === 0 && plan.forget.length === 0) continue
      // A copy onto a newcomer while the chunk has its R live copies is rebalancing; the rest is repair.
      const rebalancing = !lacking && plan.copyTo.length > 0
      if ((options.only === 'repair' && rebalancing) || (options.only === 'rebalance' && !rebalancing)) continue
      // A copy this peer lost (the scrubber fetches it back) must not stop the round for every other chunk.
      const made = await this.chunks.copyTo(chunk, plan.copyTo).catch((error: unknown) => {
        this.logger.warn('keeper.copy_failed', { chunk: key.slice(0, 12), error: errorOf(error) })
        return []
      })
      copies += made.length
      progress.fixed += made.length
      progress.failed += plan.copyTo.length - made.length
      if (lacking && made.length === plan.copyTo.length && plan.copyTo.length > 0) progress.underReplicated = --underReplicated
      // Forget holders only once enough copies exist elsewhere: a failed copy keeps the old holder listed.
      const forget = made.length === plan.copyTo.length ? plan.forget : plan.forget.filter((id) => dead.has(id) && made.length > 0)
      if (made.length > 0 || forget.length > 0) updates.push({ chunk, add: made, remove: forget })
      if (updates.length >= LOCATION_UPDATES_MAX) await this.record(updates.splice(0))
    }
    if (updates.length > 0) await this.record(updates)
    this.stats.copiesMade += copies
    this.stats.underReplicated = underReplicated
    this.stats.rounds++
    if (copies > 0) this.logger.info('keeper.copies_made', { copies, pass: options.only ?? 'round', under_replicated: underReplicated })
    await this.deleteSurplus(self, members, up)
    await this.chunks.diskCache?.reconcile()
    return !this.stopped
  }

  private async record (updates: LocationUpdate[]): Promise<void> {
    const result = await this.metadata.propose({ type: 'setLocations', updates })
    if (result.errno !== 0) throw new Error(`recording chunk locations failed with errno ${result.errno}`)
    this.stats.copiesDropped += updates.reduce((sum, update) => sum + update.remove.length, 0)
  }

  /**
   * Local copies that the metadata no longer lists (moved by rebalance, or a replica nobody committed),
   * unless a read here made them cache: the disk cache tier evicts those by its own bound.
   */
  private async deleteSurplus (self: string, members: string[], up: Set<string>): Promise<void> {
    const state = this.metadata.state
    for await (const id of this.local.store.list()) {
      if (this.stopped) return
      const key = chunkIdToHex(id)
      if (!state.chunkReferences.has(key)) continue // unreferenced copies are garbage collection's business
      if (this.chunks.diskCache?.has(key) === true) continue
      const view: ChunkView = { chunk: id, holders: state.holdersOf(key), members, up, dead: new Set(), newcomers: new Set(), replicas: this.settings.replicas }
      // Asked again at the last moment: a read may have made it cache meanwhile.
      const notCached = (): boolean => this.chunks.diskCache?.has(key) !== true
      if (isSurplusCopy(self, view) && await this.local.dropCopy(id, notCached)) this.stats.surplusDeleted++
    }
  }

  /** Verifies every stored chunk at the configured rate, forever; requested passes go first, unpaced. */
  private async scrubLoop (): Promise<void> {
    // The first background pass waits as long as repair does for a silent peer: until then other peers
    // may still be connecting (a lost copy could not be fetched back), and a restart is not a lost disk.
    await this.sleep(this.settings.downGraceMs)
    while (!this.stopped) {
      const request = this.scrubRequests.shift()
      const progress = request?.progress ?? emptyProgress('scrub')
      const ids = await this.scrubList()
      this.stats.scrubPass++
      this.stats.scrubProgress = 0
      // The lifetime counters of `status` follow the pass's own progress.
      let counted = { done: 0, fixed: 0 }
      const account = (): void => {
        this.stats.scrubbed += progress.chunksDone - counted.done
        this.stats.scrubRepaired += progress.fixed - counted.fixed
        counted = { done: progress.chunksDone, fixed: progress.fixed }
        this.stats.scrubProgress = ids.length === 0 ? 1 : progress.chunksDone / ids.length
      }
      const completed = await scrubPass(ids, {
        scrubOne: async (id) => await this.chunks.scrub(id),
        bytesPerSecond: request === undefined ? this.settings.scrubBytesPerSecond : null,
        periodMs: request === undefined ? this.settings.scrubPeriodMs : null,
        progress,
        interrupted: () => {
          account()
          return this.stopped || (request === undefined && this.scrubRequests.length > 0)
        },
        sleep: async (ms) => { await this.sleep(ms) },
        onFailure: (id, error) => this.logger.warn('scrub.failed', { chunk: chunkIdToHex(id).slice(0, 12), error: errorOf(error) })
      })
      account()
      if (request !== undefined) {
        if (completed) request.resolve()
        else request.reject(new Error('the daemon is stopping'))
      } else if (completed) {
        await this.sleep(this.settings.roundMs)
      }
    }
    for (const request of this.scrubRequests.splice(0)) request.reject(new Error('the daemon is stopping'))
  }

  /**
   * The chunks a pass verifies: those the metadata lists here that are missing from the disk first
   * (each is fetched back, see ReplicatedChunks.scrub), then every stored one.
   */
  private async scrubList (): Promise<Buffer[]> {
    const stored = await storedChunks(this.local.store)
    const onDisk = new Set(stored.map((id) => chunkIdToHex(id)))
    const lost = this.metadata.state.chunksHeldBy(this.network.id).filter((key) => !onDisk.has(key))
    return [...lost.map((key) => chunkIdFromHex(key)), ...stored]
  }

  /** Waits in short slices so that stop() or a requested scrub never waits long for the scrubber. */
  private async sleep (ms: number): Promise<void> {
    const until = Date.now() + ms
    while (!this.stopped && this.scrubRequests.length === 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(200, until - Date.now())))
    }
  }
}

function errorOf (error: unknown): Error | string {
  return error instanceof Error ? error : String(error)
}
