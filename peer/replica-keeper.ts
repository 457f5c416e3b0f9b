// Keeps every chunk at R live copies, in the background and throttled: each round it walks the chunks
// this peer is recorded as holding, acts on those it coordinates (replica-plan.ts: repair after a peer
// stays down past the grace period, rebalance onto members that joined), records the new locations in
// one Raft command per batch, and deletes local copies the metadata no longer lists. It also runs the
// scrubber: every stored chunk is re-verified at a bounded rate and a bad copy is replaced from a good
// replica. Progress and counts feed `swarmfs status`.
import type { ReplicatedMetadata } from '../metadata/replicated-metadata.js'
import type { LocationUpdate } from '../metadata/fs/commands.js'
import { LOCATION_UPDATES_MAX } from '../metadata/fs/commands.js'
import { chunkIdFromHex, chunkIdToHex } from './chunks/chunk-id.js'
import type { LocalChunks } from './local-chunks.js'
import type { Network } from './net/network.js'
import { coordinatorOf, isSurplusCopy, planChunk } from './replica-plan.js'
import type { ChunkView } from './replica-plan.js'
import type { ReplicatedChunks } from './replicated-chunks.js'

export interface KeeperSettings {
  replicas: number
  roundMs: number
  /** A peer silent this long is dead for placement: its chunks are re-replicated elsewhere. */
  downGraceMs: number
  /** Chunk copies made per round at most (throttle for repair and rebalance traffic). */
  copiesPerRoundMax: number
  /** Scrubbing rate, in sealed bytes verified per second. */
  scrubBytesPerSecond: number
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

export class ReplicaKeeper {
  readonly stats: KeeperStats = { rounds: 0, underReplicated: 0, copiesMade: 0, copiesDropped: 0, surplusDeleted: 0, scrubbed: 0, scrubRepaired: 0, scrubPass: 0, scrubProgress: 0 }
  private readonly settings: KeeperSettings
  private readonly metadata: ReplicatedMetadata
  private readonly local: LocalChunks
  private readonly chunks: ReplicatedChunks
  private readonly network: Network
  private readonly log: (line: string) => void
  private readonly silentSince = new Map<string, number>()
  private baseline: Set<string> | null = null // members when this peer started: not newcomers
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> = Promise.resolve()
  private readonly scrubbing: Promise<void>
  private stopped = false

  constructor (metadata: ReplicatedMetadata, local: LocalChunks, chunks: ReplicatedChunks, network: Network, settings: KeeperSettings, log: (line: string) => void) {
    this.metadata = metadata
    this.local = local
    this.chunks = chunks
    this.network = network
    this.settings = settings
    this.log = log
    this.timer = setInterval(() => {
      this.running = this.running.then(async () => await this.round()).catch((error: unknown) => this.log(`replica keeper: ${String(error)}`))
    }, settings.roundMs)
    this.scrubbing = this.scrubLoop().catch((error: unknown) => this.log(`scrubber stopped: ${String(error)}`))
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
    await this.running
    await this.scrubbing
  }

  private async round (): Promise<void> {
    if (this.stopped) return
    const self = this.network.id
    const { voters, learners } = this.metadata.status().members
    const members = [...voters, ...learners]
    if (!members.includes(self)) return
    this.baseline ??= new Set(members)
    this.local.releaseCommittedHolds()
    const now = Date.now()
    const up = new Set([self, ...this.network.upPeers()])
    for (const id of members) {
      if (up.has(id)) this.silentSince.delete(id)
      else if (!this.silentSince.has(id)) this.silentSince.set(id, now)
    }
    const dead = new Set([...this.silentSince].filter(([, since]) => now - since >= this.settings.downGraceMs).map(([id]) => id))
    const newcomers = new Set(members.filter((id) => !this.baseline!.has(id)))
    const state = this.metadata.state
    const updates: LocationUpdate[] = []
    let copies = 0
    let underReplicated = 0
    for (const key of state.chunksHeldBy(self)) {
      if (this.stopped) return
      const chunk = chunkIdFromHex(key)
      const view: ChunkView = { chunk, holders: state.holdersOf(key), members, up, dead, newcomers, replicas: this.settings.replicas }
      if (view.holders.filter((id) => !dead.has(id)).length < Math.min(this.settings.replicas, members.length - dead.size)) underReplicated++
      if (coordinatorOf(view) !== self || copies >= this.settings.copiesPerRoundMax) continue
      const plan = planChunk(view)
      if (plan.copyTo.length === 0 && plan.forget.length === 0) continue
      const made = await this.chunks.copyTo(chunk, plan.copyTo)
      copies += made.length
      // Forget holders only once enough copies exist elsewhere: a failed copy keeps the old holder listed.
      const forget = made.length === plan.copyTo.length ? plan.forget : plan.forget.filter((id) => dead.has(id) && made.length > 0)
      if (made.length > 0 || forget.length > 0) updates.push({ chunk, add: made, remove: forget })
      if (updates.length >= LOCATION_UPDATES_MAX) await this.record(updates.splice(0))
    }
    if (updates.length > 0) await this.record(updates)
    this.stats.copiesMade += copies
    this.stats.underReplicated = underReplicated
    this.stats.rounds++
    await this.deleteSurplus(self, members, up)
  }

  private async record (updates: LocationUpdate[]): Promise<void> {
    const result = await this.metadata.propose({ type: 'setLocations', updates })
    if (result.errno !== 0) throw new Error(`recording chunk locations failed with errno ${result.errno}`)
    this.stats.copiesDropped += updates.reduce((sum, update) => sum + update.remove.length, 0)
  }

  /** Local copies that the metadata no longer lists (moved by rebalance, or a replica nobody committed). */
  private async deleteSurplus (self: string, members: string[], up: Set<string>): Promise<void> {
    const state = this.metadata.state
    for await (const id of this.local.store.list()) {
      if (this.stopped) return
      const key = chunkIdToHex(id)
      if (!state.chunkReferences.has(key)) continue // unreferenced copies are garbage collection's business
      const view: ChunkView = { chunk: id, holders: state.holdersOf(key), members, up, dead: new Set(), newcomers: new Set(), replicas: this.settings.replicas }
      if (isSurplusCopy(self, view) && await this.local.dropCopy(id)) this.stats.surplusDeleted++
    }
  }

  /** Verifies every stored chunk at the configured rate, forever; a bad copy is fetched again. */
  private async scrubLoop (): Promise<void> {
    while (!this.stopped) {
      const ids: Buffer[] = []
      for await (const id of this.local.store.list()) ids.push(id)
      this.stats.scrubPass++
      for (const [index, id] of ids.entries()) {
        if (this.stopped) return
        const started = Date.now()
        const bytes = await this.chunks.scrub(id).then((result) => {
          if (result.repaired) this.stats.scrubRepaired++
          return result.bytes
        }, (error: unknown) => { this.log(`scrub: ${String(error)}`); return 0 })
        this.stats.scrubbed++
        this.stats.scrubProgress = (index + 1) / ids.length
        const budgetMs = bytes / this.settings.scrubBytesPerSecond * 1000
        await this.sleep(budgetMs - (Date.now() - started))
      }
      await this.sleep(this.settings.roundMs)
    }
  }

  /** Waits in short slices so that stop() never waits long for the scrubber. */
  private async sleep (ms: number): Promise<void> {
    const until = Date.now() + ms
    while (!this.stopped && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, Math.min(200, until - Date.now())))
  }
}
