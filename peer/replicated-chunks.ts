// The chunk service of a peer in a cluster: every chunk a mount stores here is also sent, sealed, to
// R − 1 other peers chosen by rendezvous hashing weighted by capacity (placement.ts, capacity.ts; peers
// that said they are short of room last) and counts as written once they have it on disk. When this peer's own disk has no room, the
// copy it would keep goes to one more peer instead. A chunk this peer lacks is fetched from the peers
// that hold it — the likely fastest first, a second one asked too when the first is slow to answer
// (replica-choice.ts) — verified in full and kept locally, so the next read is local; a copy this peer
// is not listed for stays as long as the disk cache tier (disk-cache.ts) keeps it. A peer that sends
// a bad copy is logged, counted and asked last from then on. Peers only ever see sealed bytes.
import { LRUCache } from 'lru-cache'
import { Errno, FsError } from '../native/errno.js'
import type { ChunkRef } from '../metadata/fs/inode.js'
import type { ChunkService } from '../mount/services.js'
import { capacityLevel } from './capacity.js'
import { chunkIdToHex, CHUNK_ID_BYTES } from './chunks/chunk-id.js'
import { ChunkMissingError } from './chunks/chunk-store.js'
import { ChunkStoreFullError } from './chunks/disk-room.js'
import { ChunkCorruptError } from './chunks/sealed-chunk.js'
import type { DiskCache } from './disk-cache.js'
import type { LocalChunks } from './local-chunks.js'
import type { LogFields, Logger } from './log.js'
import { rankPeers, writeOrder } from './placement.js'
import { ReplicaChoice } from './replica-choice.js'
import type { ChunkReply } from './net/connection.js'
import type { Network } from './net/network.js'
import { ChunkFailure, ChunkKind, decodeChunkFailure, encodeChunkFailure } from './net/wire.js'
import type { ChunkMessage } from './net/wire.js'

export const REPLICAS_DEFAULT = 3
// Per request and per hop of a chain: a replica that does not answer in time is skipped for the next.
const REQUEST_TIMEOUT_MS = 5_000
const UP_POLL_MS = 50 // how often a read waiting for a holder to connect looks again
const NO_CHUNK = new Uint8Array(CHUNK_ID_BYTES) // the chunk id of a Sync, which names none
type PutKind = typeof ChunkKind.Put | typeof ChunkKind.PutBuffered
/** A replica keeps what a writer sent it this long before it may collect it as unreferenced. */
const UNCOMMITTED_HOLD_MS = 10 * 60_000
/** Verified chunks fetched while this peer had no room to keep them, served from memory (4 MiB each). */
const UNKEPT_CHUNKS_MAX = 8
/** Refusals for lack of room are logged at most this often (a full peer refuses every put). */
const NO_ROOM_LOG_INTERVAL_MS = 10_000
const EMPTY = new Uint8Array(0)
/**
 * Chunks smaller than this go to every replica at once (fan-out) even with chain replication: the
 * writer's link is not what a small file waits for, the hops of the chain are (one store after another).
 */
const CHAIN_BYTES_MIN = 512 * 1024

/** What this peer fetched from one other peer since it started. */
export interface PeerFetchStats {
  fetched: number
  fetchedBytes: number
  /** Gets that timed out or lost their connection. */
  failures: number
  /** Times another holder was asked as well because this one was slow to answer. */
  hedged: number
  /** Copies that failed verification. */
  badCopies: number
}

export interface ReplicationStats {
  replicasWritten: number
  underReplicatedWrites: number
  /** Chunks this peer wrote that went to other peers only, its own disk being out of room. */
  writtenElsewhere: number
  fetched: number
  fetchedBytes: number
  fetchFailures: number
  hedged: number
  badCopies: number
  served: number
  stored: number
  /** Puts from other peers refused for lack of room. */
  refusedNoRoom: number
  readRepairs: number
  peers: Record<string, PeerFetchStats>
}

/** Where copies of a chunk went: who stored one, and who refused it for lack of room. */
interface Copies {
  stored: string[]
  refused: string[]
}

/**
 * Copies placed, and the other peers that were up when they were: a write is judged against those,
 * not against whoever is up once the copies are in (a peer back meanwhile was never asked).
 */
interface Placement extends Copies {
  up: string[]
}

export class ReplicatedChunks implements ChunkService {
  private readonly local: LocalChunks
  private readonly network: Network
  private readonly replicas: number
  private readonly logger: Logger
  private readonly fetching = new Map<string, Promise<Buffer | null>>()
  private readonly unkept = new LRUCache<string, Buffer>({ max: UNKEPT_CHUNKS_MAX })
  private readonly choice = new ReplicaChoice()
  private lastNoRoomLogMs = 0
  /** This peer's capacity level as last measured (null: not yet), advertised in heartbeats. */
  private capacityLevel: number | null = null
  readonly stats: ReplicationStats = {
    replicasWritten: 0, underReplicatedWrites: 0, writtenElsewhere: 0, fetched: 0, fetchedBytes: 0, fetchFailures: 0, hedged: 0,
    badCopies: 0, served: 0, stored: 0, refusedNoRoom: 0, readRepairs: 0, peers: {}
  }

  private readonly holdersOf: (chunkHex: string) => string[]
  private readonly chain: boolean
  /** Copies kept only to serve reads here; null: none are kept beyond the keeper's next round. */
  readonly diskCache: DiskCache | null

  /**
   * holdersOf: the peers the metadata lists as holding a chunk (tried first when fetching).
   * chain: place copies by chain replication (else fan-out: the writer sends every copy itself).
   */
  constructor (local: LocalChunks, network: Network, options: { replicas: number, chain: boolean, holdersOf: (chunkHex: string) => string[], logger: Logger, diskCache?: DiskCache }) {
    this.local = local
    this.network = network
    this.replicas = options.replicas
    this.holdersOf = options.holdersOf
    this.chain = options.chain
    this.logger = options.logger
    this.diskCache = options.diskCache ?? null
    network.serveChunks(async (peerId, message) => await this.serve(peerId, message))
    // Cached copies give way to any put, so their bytes count as room.
    network.advertiseRoom(() => {
      const room = this.local.room()
      return room === null ? null : room + (this.diskCache?.bytes() ?? 0)
    })
    network.advertiseCapacity(() => this.capacityLevel)
  }

  /**
   * Measures this peer's capacity for placement: its room plus the bytes of the chunks it stores (what
   * swarmfs may use here, whatever swarmfs itself wrote). Lists every chunk file: call it rarely.
   */
  async refreshCapacity (): Promise<number | null> {
    await this.local.capacity() // measures the disk now
    const room = this.local.room()
    if (room === null) return this.capacityLevel
    const { bytes } = await this.local.store.stats()
    this.capacityLevel = capacityLevel(room + bytes, this.capacityLevel)
    return this.capacityLevel
  }

  // ---- writing ----

  /**
   * Stores the chunk here and on R − 1 other peers; the ref names every holder, for the commit. The
   * copies leave as soon as the chunk is sealed, while the local copy is written. Every copy is readable
   * once this resolves and durable once `sync` has run (or within seconds, by each holder's background
   * flush). When this peer's disk has no room, the copy it would have kept goes to one more peer instead.
   */
  async put (plaintext: Buffer): Promise<ChunkRef> {
    const sealing: { id?: Buffer, sealed?: Uint8Array, remote?: Promise<Placement> } = {}
    const ref = await this.local.put(plaintext, (id, sealed) => {
      Object.assign(sealing, { id, sealed, remote: this.place(id, sealed, this.replicas - 1, [], ChunkKind.PutBuffered) })
      sealing.remote!.catch(() => {}) // awaited below; this keeps an early failure from being unhandled meanwhile
    }).catch((error: unknown) => {
      if (error instanceof ChunkStoreFullError && sealing.remote !== undefined) return null // placed elsewhere below
      throw error
    })
    if (ref === null) return await this.putElsewhere(sealing.id!, sealing.sealed!, plaintext.length, sealing.remote!)
    try {
      const placement = await (sealing.remote ?? this.place(ref.id, await this.local.store.readSealed(ref.id), this.replicas - 1, [], ChunkKind.PutBuffered))
      return { ...ref, holders: [this.network.id, ...this.accepted(ref.id, placement, 1)] }
    } catch (error) {
      this.local.unpin([ref.id])
      throw error
    }
  }

  /** This peer's disk has no room: the copy it would have kept goes to one more peer. */
  private async putElsewhere (id: Buffer, sealed: Uint8Array, length: number, first: Promise<Placement>): Promise<ChunkRef> {
    const placed = await first
    const more = await this.place(id, sealed, this.replicas - placed.stored.length, [...placed.stored, ...placed.refused], ChunkKind.PutBuffered)
    const up = [...new Set([...placed.up, ...more.up])]
    const holders = this.accepted(id, { stored: [...placed.stored, ...more.stored], refused: [...placed.refused, ...more.refused], up }, 0)
    this.stats.writtenElsewhere++
    return { id, length, holders }
  }

  /**
   * The remote holders of a chunk written with `kept` local copies (1 or 0), once enough peers took it:
   * R copies in all (fewer when fewer peers were up), at least 2 when any other peer was up. Otherwise
   * the write fails: ENOSPC when room was what ran out, EIO when peers failed.
   */
  private accepted (id: Buffer, placement: Placement, kept: number): string[] {
    const up = placement.up.length
    const wanted = Math.min(this.replicas, up + kept)
    const needed = Math.min(2, up + kept)
    const copies = kept + placement.stored.length
    this.stats.replicasWritten += placement.stored.length
    if (copies < wanted) this.stats.underReplicatedWrites++
    if (copies < Math.max(needed, 1)) {
      const noRoom = placement.refused.length > 0 || kept === 0
      this.logger.warn('chunks.write_failed', { chunk: chunkIdToHex(id).slice(0, 12), copies, wanted, up: placement.up.map((peer) => peer.slice(0, 12)).join(','), reason: noRoom ? 'no room' : 'peers failed' })
      throw new FsError(noRoom ? Errno.ENOSPC : Errno.EIO, `chunk ${chunkIdToHex(id)} got ${copies} of ${wanted} copies${noRoom ? ' (out of room)' : ''}`)
    }
    if (copies < wanted) this.logger.warn('chunks.write_under_replicated', { chunk: chunkIdToHex(id).slice(0, 12), copies, wanted, action: 'repair adds the rest' })
    return placement.stored
  }

  /**
   * Places `copies` copies on peers other than this one and `exclude`. Chain replication: the writer
   * sends the chunk once, to the first peer of the write order, which stores it while passing it on to
   * the next (measured: fan-out made the writer send every chunk R − 1 times over its own link). Copies
   * the chain could not place go directly to the next peers in the order. `kind`: Put or PutBuffered.
   */
  private async place (id: Buffer, sealed: Uint8Array, copies: number, exclude: readonly string[], kind: PutKind): Promise<Placement> {
    const up = this.network.upPeers().filter((peer) => !exclude.includes(peer))
    const candidates = writeOrder(id, this.network.id, up, (peer) => this.network.roomOf(peer), sealed.length, this.network.placementWeights())
    const wanted = Math.min(copies, candidates.length)
    const placement: Placement = { stored: [], refused: [], up }
    const add = (result: Copies): void => {
      for (const peer of result.stored) if (!placement.stored.includes(peer)) placement.stored.push(peer)
      for (const peer of result.refused) if (!placement.refused.includes(peer)) placement.refused.push(peer)
    }
    if (wanted <= 0) return placement
    const targets = candidates.slice(0, wanted)
    if (this.chain && sealed.length >= CHAIN_BYTES_MIN) add(await this.sendAlong(targets, id, sealed, kind))
    else for (const result of await Promise.all(targets.map(async (peer) => await this.sendAlong([peer], id, sealed, kind)))) add(result)
    let next = wanted
    const worker = async (): Promise<void> => {
      while (next < candidates.length && placement.stored.length < wanted) {
        const result = await this.sendAlong([candidates[next++]!], id, sealed, kind)
        add(result)
        if (result.stored.length > 0) return
      }
    }
    await Promise.all(Array.from({ length: wanted - placement.stored.length }, worker))
    return placement
  }

  /**
   * Puts the chunk on chain[0], which passes it along the rest of the chain; resolves with the peers
   * that stored it. A hop that fails is skipped: the chunk goes to the one after it instead.
   */
  private async sendAlong (chain: readonly string[], id: Buffer, sealed: Uint8Array, kind: PutKind): Promise<Copies> {
    const refused: string[] = []
    for (let i = 0; i < chain.length; i++) {
      const rest = chain.slice(i + 1)
      const reply = await this.network.requestChunk(chain[i]!, kind, id, sealed, REQUEST_TIMEOUT_MS * (1 + rest.length), rest).catch(() => null)
      // A refusal for room covers the rest of the chain only as far as it says: the next hop is tried.
      if (reply?.kind === ChunkKind.Failed && decodeChunkFailure(reply.payload) === ChunkFailure.NoSpace) refused.push(chain[i]!)
      if (reply?.kind !== ChunkKind.Ok) continue
      const stored = storedPeers(reply.payload).filter((peer) => chain.includes(peer))
      return { stored: [...new Set(stored)], refused }
    }
    return { stored: [], refused }
  }

  /**
   * Copies a chunk this peer holds to `peers` (repair, rebalance); resolves with those that stored it,
   * durably: a rebalance removes the copy it moved right after.
   */
  async copyTo (id: Buffer, peers: readonly string[]): Promise<string[]> {
    if (peers.length === 0) return []
    const sealed = await this.local.store.readSealed(id)
    const results = await Promise.all(peers.map(async (peer) => await this.sendAlong([peer], id, sealed, ChunkKind.Put)))
    return peers.filter((_, i) => results[i]!.stored.length > 0)
  }

  /**
   * Verifies the local copy in full; a bad one is replaced by a verified copy from another holder, and
   * so is one the metadata lists here that is gone from the disk (deleted, or a disk restored from an
   * older backup): otherwise the chunk would count R copies while it has one fewer.
   */
  async scrub (id: Buffer): Promise<{ bytes: number, repaired: boolean }> {
    try {
      await this.local.store.verify(id)
      return { bytes: (await this.local.store.layout(id)).sealedBytes, repaired: false }
    } catch (error) {
      if (error instanceof ChunkMissingError) {
        if (!this.holdersOf(chunkIdToHex(id)).includes(this.network.id)) return { bytes: 0, repaired: false } // collected meanwhile
        this.logger.warn('chunks.lost_local_copy', { chunk: chunkIdToHex(id).slice(0, 12), action: 'fetching a good copy' })
        await this.fetch(id)
        // Counted against the scrub rate: a peer whose disk lost everything refetches at that pace.
        return { bytes: await this.local.store.layout(id).then((layout) => layout.sealedBytes, () => 0), repaired: true }
      }
      if (!(error instanceof ChunkCorruptError)) throw error
      this.logger.warn('chunks.corrupt_local_copy', { chunk: chunkIdToHex(id).slice(0, 12), error: error.message, action: 'fetching a good copy' })
      await this.fetch(id)
      return { bytes: 0, repaired: true }
    }
  }

  unpin (ids: Buffer[]): void {
    this.local.unpin(ids)
  }

  /**
   * Copies on two machines survive either one losing power before its background flush: stored is
   * enough. A chunk with one holder (the other peers down or full) is synced first.
   */
  async commitReady (chunks: readonly ChunkRef[]): Promise<void> {
    const alone = chunks.filter((ref) => (ref.holders ?? this.holdersOf(chunkIdToHex(ref.id))).length < 2)
    if (alone.length > 0) await this.sync(alone)
  }

  /**
   * Makes `chunks` durable on their holders (as the refs name them, else as the metadata lists them):
   * this peer's store is synced and every other holder that is up gets a Sync, all at once. Each chunk
   * needs as many holders to confirm as a write needs copies: two, or one when only one is up. A holder
   * that does not answer counts as not confirmed, and too few is EIO.
   */
  async sync (chunks: readonly ChunkRef[]): Promise<void> {
    const holdersByChunk = chunks.map((ref) => ref.holders ?? this.holdersOf(chunkIdToHex(ref.id)))
    const up = new Set([this.network.id, ...this.network.upPeers()])
    const asked = [...new Set(holdersByChunk.flat())].filter((peer) => peer !== this.network.id && up.has(peer))
    const [, ...answers] = await Promise.all([
      this.local.sync(),
      ...asked.map(async (peer) => {
        const reply = await this.network.requestChunk(peer, ChunkKind.Sync, NO_CHUNK, EMPTY, REQUEST_TIMEOUT_MS).catch(() => null)
        return reply?.kind === ChunkKind.Ok
      })
    ])
    const synced = new Set([this.network.id, ...asked.filter((_, i) => answers[i] === true)])
    holdersByChunk.forEach((holders, i) => {
      const confirmed = holders.filter((peer) => synced.has(peer)).length
      const needed = Math.max(1, Math.min(2, holders.filter((peer) => up.has(peer)).length))
      if (confirmed >= needed) return
      const id = chunkIdToHex(chunks[i]!.id)
      this.logger.warn('chunks.sync_failed', { chunk: id.slice(0, 12), confirmed, needed, holders: holders.length })
      throw new FsError(Errno.EIO, `chunk ${id} is durable on ${confirmed} of its ${holders.length} holders, ${needed} needed`)
    })
  }

  // ---- reading ----

  /** Pinned while it runs, so that a copy fetched for it cannot be evicted before it is read. */
  async readInto (id: Buffer, offset: number, target: Buffer): Promise<number> {
    try {
      return await this.local.pinned(id, async () => await this.readPinned(id, offset, target))
    } finally {
      this.diskCache?.trimLater() // a copy this read kept from eviction may have left the tier over its bound
    }
  }

  /** Plaintext bytes [offset, offset + length) of a chunk, clamped to its end. */
  async read (id: Buffer, offset: number, length: number): Promise<Buffer> {
    const target = Buffer.allocUnsafe(length)
    return target.subarray(0, await this.readInto(id, offset, target))
  }

  private async readPinned (id: Buffer, offset: number, target: Buffer): Promise<number> {
    try {
      const copied = await this.local.readInto(id, offset, target)
      this.diskCache?.used(id)
      return copied
    } catch (error) {
      if (error instanceof ChunkCorruptError) {
        this.logger.warn('chunks.read_verification_failed', { chunk: chunkIdToHex(id).slice(0, 12), error: error.message, action: 'fetching a good copy' })
        this.stats.readRepairs++
      } else if (!(error instanceof ChunkMissingError)) {
        throw error
      }
    }
    const inMemory = this.unkept.get(chunkIdToHex(id)) ?? await this.fetch(id)
    if (inMemory !== null) return inMemory.copy(target, 0, Math.min(offset, inMemory.length), Math.min(offset + target.length, inMemory.length))
    return await this.local.readInto(id, offset, target)
  }

  prefetch (id: Buffer, offset: number, length: number): void {
    this.local.store.has(id).then(async (present) => {
      if (!present && (this.unkept.has(chunkIdToHex(id)) || (await this.fetch(id)) !== null)) return // served from memory
      this.local.prefetch(id, offset, length)
    }).catch(() => {}) // a failed read-ahead is retried by the real read
  }

  /**
   * Brings a verified copy of a chunk this peer lacks; concurrent readers share one fetch. Resolves with
   * null once the copy is on the local disk, or with the plaintext when there was no room to keep it.
   */
  private async fetch (id: Buffer): Promise<Buffer | null> {
    const key = chunkIdToHex(id)
    const running = this.fetching.get(key)
    if (running !== undefined) return await running
    const fetch = this.fetchOnce(id).finally(() => this.fetching.delete(key))
    this.fetching.set(key, fetch)
    return await fetch
  }

  private async fetchOnce (id: Buffer, waited = false): Promise<Buffer | null> {
    const key = chunkIdToHex(id)
    const up = this.network.upPeers()
    const listed = this.holdersOf(key).filter((peer) => up.includes(peer))
    const now = Date.now()
    const waiting = (peer: string): number => this.network.outstanding(peer)
    // Recorded holders first (the likely fastest first), then any other up peer; distrusted peers last.
    const weights = this.network.placementWeights()
    const asked = [...this.choice.order(rankPeers(id, listed, weights), waiting, now), ...this.choice.order(rankPeers(id, up.filter((peer) => !listed.includes(peer)), weights), waiting, now)]
    const order = [...asked.filter((peer) => !this.choice.distrusted(peer, now)), ...asked.filter((peer) => this.choice.distrusted(peer, now))]
    // A copy this peer is not listed for only serves reads: no fdatasync (a crash costs a refetch); one
    // it should hold (a scrub repair) is made durable.
    const durable = listed.length === 0 || this.holdersOf(key).includes(this.network.id)
    const attempts = new Map<number, Promise<{ index: number, reply: ChunkReply | null }>>()
    let next = 0
    let launchedAt = 0
    let hedgeAt = Infinity
    const launch = (): void => {
      if (next >= order.length) return
      const index = next++
      const peer = order[index]!
      launchedAt = Date.now()
      hedgeAt = launchedAt + this.choice.hedgeDelayMs(peer, waiting(peer), launchedAt)
      attempts.set(index, this.ask(peer, id).then((reply) => ({ index, reply })))
    }
    launch()
    while (attempts.size > 0) {
      const settled = await firstOf([...attempts.values()], next < order.length ? hedgeAt - Date.now() : Infinity)
      if (settled === null) {
        // The holder asked last is slow to answer: ask the next one as well, and take whichever is first.
        const slow = order[next - 1]!
        this.choice.unanswered(slow, Date.now() - launchedAt, Date.now())
        this.peerStats(slow).hedged++
        this.stats.hedged++
        launch()
        continue
      }
      attempts.delete(settled.index)
      if (settled.reply?.kind === ChunkKind.Ok) {
        const kept = await this.keep(id, order[settled.index]!, settled.reply.payload, durable)
        if (kept !== 'bad copy') return kept
      }
      launch() // that one failed: the next holder at once, whatever is still in flight
    }
    // Holders the metadata lists that are not connected yet (a read right after this daemon started,
    // say) get up to a request's timeout to come up before the chunk counts as unreachable.
    const unconnected = this.holdersOf(key).filter((peer) => peer !== this.network.id && !up.includes(peer))
    if (!waited && unconnected.length > 0 && await this.anyComesUp(unconnected, REQUEST_TIMEOUT_MS)) return await this.fetchOnce(id, true)
    this.stats.fetchFailures++
    throw new FsError(Errno.EIO, `no reachable peer holds a good copy of chunk ${key}`)
  }

  /** Whether any of `peers` is up within `ms` (looked at every UP_POLL_MS). */
  private async anyComesUp (peers: readonly string[], ms: number): Promise<boolean> {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, UP_POLL_MS))
      if (this.network.upPeers().some((peer) => peers.includes(peer))) return true
    }
    return false
  }

  /** One get; null when the peer did not answer in time or the connection went. */
  private async ask (peer: string, id: Buffer): Promise<ChunkReply | null> {
    const started = Date.now()
    try {
      const reply = await this.network.requestChunk(peer, ChunkKind.Get, id, EMPTY, REQUEST_TIMEOUT_MS)
      if (reply.kind === ChunkKind.Ok) this.choice.answered(peer, started, reply.payload.length, Date.now())
      return reply
    } catch {
      this.choice.unanswered(peer, Date.now() - started, Date.now())
      this.peerStats(peer).failures++
      return null
    }
  }

  /**
   * Verifies a copy from `peer` and keeps it: on disk (null), or in memory when the disk refuses it
   * (the plaintext); 'bad copy' when it fails verification.
   */
  private async keep (id: Buffer, peer: string, sealed: Uint8Array, durable: boolean): Promise<Buffer | null | 'bad copy'> {
    try {
      await this.local.putFetched(id, sealed, { durable })
      this.credit(peer, sealed.length)
      this.diskCache?.fetched(id, sealed.length)
      return null
    } catch (error) {
      if (error instanceof ChunkCorruptError) {
        this.badCopy(peer, id, error)
        return 'bad copy'
      }
      // Verified before the write was tried: the copy is good, this disk just would not take it.
      this.logNoRoom('chunks.fetched_not_kept', { chunk: chunkIdToHex(id).slice(0, 12), error: (error as Error).message, action: 'serving it from memory' })
      const plaintext = this.local.store.openSealed(id, sealed)
      this.unkept.set(chunkIdToHex(id), plaintext)
      this.credit(peer, sealed.length)
      return plaintext
    }
  }

  private credit (peer: string, bytes: number): void {
    const stats = this.peerStats(peer)
    stats.fetched++
    stats.fetchedBytes += bytes
    this.stats.fetched++
    this.stats.fetchedBytes += bytes
  }

  private badCopy (peer: string, id: Buffer, error: Error): void {
    this.choice.misbehaved(peer, Date.now())
    this.peerStats(peer).badCopies++
    this.stats.badCopies++
    this.logger.warn('chunks.bad_copy_from_peer', { peer: peer.slice(0, 12), chunk: chunkIdToHex(id).slice(0, 12), error: error.message, action: 'asked last from now on' })
  }

  private peerStats (peer: string): PeerFetchStats {
    this.stats.peers[peer] ??= { fetched: 0, fetchedBytes: 0, failures: 0, hedged: 0, badCopies: 0 }
    return this.stats.peers[peer]
  }

  /** Out of room, the same warning would come for every chunk: one per interval is enough. */
  private logNoRoom (event: string, fields: LogFields): void {
    if (Date.now() - this.lastNoRoomLogMs < NO_ROOM_LOG_INTERVAL_MS) return
    this.lastNoRoomLogMs = Date.now()
    this.logger.warn(event, fields)
  }

  // ---- serving other peers ----

  private async serve (peerId: string, message: ChunkMessage): Promise<ChunkReply> {
    if (message.chunkId.length !== CHUNK_ID_BYTES) return { kind: ChunkKind.Failed, payload: EMPTY }
    if (message.kind === ChunkKind.Sync) {
      await this.local.sync()
      return { kind: ChunkKind.Ok, payload: EMPTY }
    }
    const id = Buffer.from(message.chunkId)
    if (message.kind === ChunkKind.Get) {
      try {
        const sealed = await this.local.store.readSealed(id)
        this.stats.served++
        return { kind: ChunkKind.Ok, payload: sealed }
      } catch {
        return { kind: ChunkKind.Missing, payload: EMPTY }
      }
    }
    // A put: store it here while passing it down the chain; answer with everyone who stored it.
    const kind = message.kind === ChunkKind.Put ? ChunkKind.Put : ChunkKind.PutBuffered
    const chain = (message.chain ?? []).map((key) => Buffer.from(key).toString('hex'))
    const downstream = this.sendAlong(chain, id, message.payload, kind)
    try {
      this.diskCache?.replicated(id)
      this.local.hold(id, UNCOMMITTED_HOLD_MS)
      // A writer's copy may reuse one stored whole; a repair or rebalance copy (Put) replaces it.
      await this.local.putSealed(id, message.payload, { durable: true, keepWhole: kind === ChunkKind.PutBuffered })
      if (kind === ChunkKind.Put) await this.local.sync()
      this.stats.stored++
    } catch (error) {
      const noRoom = error instanceof ChunkStoreFullError
      const fields = { chunk: chunkIdToHex(id).slice(0, 12), peer: peerId.slice(0, 12), error: (error as Error).message }
      if (noRoom) {
        this.stats.refusedNoRoom++
        this.logNoRoom('chunks.refused_from_peer', fields)
      } else {
        this.logger.warn('chunks.refused_from_peer', fields)
      }
      // Those down the chain may have stored it all the same: the writer learns who did.
      const others = await downstream
      if (others.stored.length > 0) return { kind: ChunkKind.Ok, payload: peerKeys(others.stored) }
      return { kind: ChunkKind.Failed, payload: encodeChunkFailure(noRoom || others.refused.length > 0 ? ChunkFailure.NoSpace : ChunkFailure.Unspecified) }
    }
    return { kind: ChunkKind.Ok, payload: peerKeys([this.network.id, ...(await downstream).stored]) }
  }

  async capacity (): Promise<{ totalBytes: number, freeBytes: number, availableBytes: number }> {
    return await this.local.capacity()
  }
}

/** The peers named in a put's Ok reply: 32-byte public keys, back to back. */
function storedPeers (payload: Uint8Array): string[] {
  const peers: string[] = []
  for (let offset = 0; offset + 32 <= payload.length; offset += 32) peers.push(Buffer.from(payload.subarray(offset, offset + 32)).toString('hex'))
  return peers
}

function peerKeys (peers: readonly string[]): Buffer {
  return Buffer.concat(peers.map((peer) => Buffer.from(peer, 'hex')))
}

/** The first of `promises` to settle, or null when `ms` pass first. */
async function firstOf<T> (promises: ReadonlyArray<Promise<T>>, ms: number): Promise<T | null> {
  if (ms === Infinity) return await Promise.race(promises)
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), Math.max(0, ms)) })
  try {
    return await Promise.race([...promises, timeout])
  } finally {
    clearTimeout(timer)
  }
}
