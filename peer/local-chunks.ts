// The chunk service of a single peer: sealed chunks in the local store, verified plaintext blocks in
// the LRU cache, and garbage collection of chunks no file references — except chunks that are pinned:
// stored by an open file but not yet committed, or being read right now. A put that finds the disk
// full asks the disk cache tier (disk-cache.ts), when there is one, to evict copies, then tries once more.
import type { ChunkRef } from '../metadata/fs/inode.js'
import type { FsState } from '../metadata/fs/state.js'
import type { ChunkService } from '../mount/services.js'
import { CachedChunkReader } from './chunks/cached-chunk-reader.js'
import { BlockRecycler } from './chunks/block-recycler.js'
import { ChunkCache } from './chunks/chunk-cache.js'
import { chunkIdFromHex, chunkIdToHex } from './chunks/chunk-id.js'
import { ChunkStore } from './chunks/chunk-store.js'
import { ChunkStoreFullError } from './chunks/disk-room.js'
import { SealPool } from './chunks/seal-pool.js'
import { sealedBytesFor } from './chunks/sealed-chunk.js'
import { SILENT_LOGGER } from './log.js'
import type { Logger } from './log.js'

const READ_HANDLES_MAX = 512
const HOLD_SWEEP_GAP_MS = 1_000 // holds end up to this late, so sweeps over all of them stay rare

export interface LocalChunksOptions {
  directory: string
  encryptionKey: Buffer
  idKey: Buffer
  cacheBytesMax: number
  /** Bytes of the disk chunks never take, kept for the metadata log; undefined: the store's default. */
  reserveBytes?: number
  /** Where failures of background deletes and syncs go; undefined: nowhere. */
  logger?: Logger
  /** How often stored chunks not yet synced are synced in the background; undefined: the store's default. */
  flushIntervalMs?: number
}

/** What the disk cache tier does for the store: make room when it is full, and hear of deletions. */
export interface EvictableCopies {
  /** Evicts cached copies to free at least `bytes`; resolves with the bytes freed (0: nothing to evict). */
  makeRoom: (bytes: number) => Promise<number>
  /** A chunk's file was deleted (collected or dropped). */
  deleted: (key: string) => void
}

export class LocalChunks implements ChunkService {
  readonly store: ChunkStore
  readonly cache: ChunkCache
  private readonly reader: CachedChunkReader
  private readonly pins = new Map<string, number>()
  // chunk → when the hold ends, and whether a file already referenced the chunk when it began
  private readonly holds = new Map<string, { untilMs: number, referencedWhenHeld: boolean }>()
  // One timer for every hold, set for the earliest end: a timer per hold kept one alive for ten minutes
  // per chunk replicated here (thousands during a tree copy), long after most commits released them.
  private holdSweep: { timer: NodeJS.Timeout, atMs: number } | null = null
  private readonly state: () => FsState
  private deletions = 0

  private readonly sealPool: SealPool
  private readonly logger: Logger
  private evictable: EvictableCopies | null = null

  private constructor (store: ChunkStore, sealPool: SealPool, cache: ChunkCache, state: () => FsState, logger: Logger) {
    this.logger = logger
    this.store = store
    this.sealPool = sealPool
    this.cache = cache
    this.reader = new CachedChunkReader(store, cache)
    this.state = state
  }

  static async open (options: LocalChunksOptions, state: () => FsState): Promise<LocalChunks> {
    const keys = { encryptionKey: options.encryptionKey, idKey: options.idKey }
    // Hashing and sealing run on a worker thread: measured, it cuts the FUSE thread's stalls during
    // writes from ~9 ms to ~3 ms (p99) at the same throughput (test/peer/chunks/seal-pool-bench.ts).
    const sealPool = new SealPool(keys)
    // Open read handles kept: a random reader of a 2 GiB file touches 512 chunks; without a handle each
    // read pays an open (measured: random 4 KiB reads of a 1 GiB file 2.2k IOPS with 64 handles).
    const logger = options.logger ?? SILENT_LOGGER
    const store = await ChunkStore.open(options.directory, {
      ...keys,
      sealPool,
      readHandlesMax: READ_HANDLES_MAX,
      ...(options.reserveBytes !== undefined ? { reserveBytes: options.reserveBytes } : {}),
      ...(options.flushIntervalMs !== undefined ? { flushIntervalMs: options.flushIntervalMs } : {}),
      onFlushError: (error) => { logger.warn('chunks.flush_failed', { error: error instanceof Error ? error : String(error), action: 'retried at the next sync' }) }
    })
    const recycler = new BlockRecycler((buffers) => { sealPool.recycle(buffers) })
    const cache = new ChunkCache({ bytesMax: options.cacheBytesMax, onEvicted: (block) => { recycler.give(block) } })
    return new LocalChunks(store, sealPool, cache, state, logger)
  }

  /** The disk cache tier, asked for room before a put fails for lack of it. */
  attachCache (evictable: EvictableCopies): void {
    this.evictable = evictable
  }

  /**
   * onSealed: the sealed bytes, as soon as they exist (not called for a dedupe hit sealed on this
   * thread); once only, even when the put is tried again after evicting cached copies.
   */
  async put (plaintext: Buffer, onSealed?: (id: Buffer, sealed: Buffer) => void): Promise<ChunkRef> {
    let sealedOnce = false
    const once = (id: Buffer, sealed: Buffer): void => {
      if (sealedOnce) return
      sealedOnce = true
      onSealed?.(id, sealed)
    }
    const id = await this.withRoom(sealedBytesFor(plaintext.length), async () => await this.store.put(plaintext, (stored) => this.pin(chunkIdToHex(stored)), once))
    return { id, length: plaintext.length }
  }

  /** Stores a sealed chunk from a peer (see ChunkStore.putSealed), evicting cached copies if the disk is full. */
  async putSealed (id: Buffer, sealed: Uint8Array, options: { durable: boolean, keepWhole?: boolean } = { durable: true }): Promise<void> {
    await this.withRoom(sealed.length, async () => await this.store.putSealed(id, sealed, options))
  }

  /**
   * Stores a copy fetched to be read, as putSealed does, and puts the plaintext that verifying it
   * produced into the block cache: the read that follows neither reads the file back nor decrypts again.
   */
  async putFetched (id: Buffer, sealed: Uint8Array, options: { durable: boolean }): Promise<void> {
    const blocks = await this.withRoom(sealed.length, async () => await this.store.putSealed(id, sealed, { ...options, blocks: true }))
    blocks?.forEach((block, index) => { this.cache.set(id, index, block) })
  }

  /** Runs a put; when the store is full, cached copies are evicted to make room and it is tried once more. */
  private async withRoom<T> (bytes: number, attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt()
    } catch (error) {
      if (!(error instanceof ChunkStoreFullError) || this.evictable === null) throw error
      if (await this.evictable.makeRoom(bytes) === 0) throw error
      return await attempt()
    }
  }

  /** Runs `work` with the chunk pinned: neither collection nor eviction deletes it meanwhile. */
  async pinned<T> (id: Buffer, work: () => Promise<T>): Promise<T> {
    this.pin(chunkIdToHex(id))
    try {
      return await work()
    } finally {
      this.unpin([id])
    }
  }

  isPinned (key: string): boolean {
    return this.pins.has(key)
  }

  /**
   * Keeps a chunk a peer replicated to us safe from collection while its writer may still commit it:
   * until a file references it (releaseCommittedHolds), a file that came to reference it is gone
   * again (collect), or `ms` pass, whichever comes first.
   */
  hold (id: Buffer, ms: number): void {
    const key = chunkIdToHex(id)
    const previous = this.holds.get(key)
    const referencedWhenHeld = (previous?.referencedWhenHeld ?? false) || this.state().chunkReferences.has(key)
    const untilMs = Date.now() + ms
    this.holds.set(key, { untilMs, referencedWhenHeld })
    if (previous === undefined) this.pin(key)
    this.sweepHoldsAt(untilMs)
  }

  /** Makes sure the hold sweep runs no later than `atMs`. */
  private sweepHoldsAt (atMs: number): void {
    if (this.holdSweep !== null && this.holdSweep.atMs <= atMs) return
    if (this.holdSweep !== null) clearTimeout(this.holdSweep.timer)
    const timer = setTimeout(() => {
      this.holdSweep = null
      this.endExpiredHolds()
    }, Math.max(0, atMs - Date.now()))
    timer.unref()
    this.holdSweep = { timer, atMs }
  }

  private endExpiredHolds (): void {
    const now = Date.now()
    let next = Infinity
    for (const [key, { untilMs }] of [...this.holds]) {
      if (untilMs <= now) this.releaseHold(key, false)
      else next = Math.min(next, untilMs)
    }
    // Holds that end a moment apart (a tree copied ten minutes ago) would each wake a sweep over all.
    if (next < Infinity) this.sweepHoldsAt(Math.max(next, now + HOLD_SWEEP_GAP_MS))
  }

  /**
   * Ends the holds of chunks whose commit landed: a new chunk once a file references it; a copy of a
   * chunk some file referenced already when it arrived (repair, rebalance, a duplicate write) only once
   * the metadata lists this peer for it — the record follows the copy, and until then the copy looks
   * surplus (the keeper would delete it, leaving a listed holder without a copy).
   */
  releaseCommittedHolds (isListedHere: (key: string) => boolean = () => true): void {
    for (const [key, hold] of [...this.holds]) {
      if (!this.state().chunkReferences.has(key)) continue
      if (hold.referencedWhenHeld && !isListedHere(key)) continue
      this.releaseHold(key, true)
    }
  }

  private releaseHold (key: string, committed: boolean): void {
    const until = this.holds.get(key)?.untilMs
    if (until === undefined || (!committed && until > Date.now())) return // renewed meanwhile
    this.holds.delete(key)
    this.unpin([chunkIdFromHex(key)])
  }

  private pin (key: string): void {
    this.pins.set(key, (this.pins.get(key) ?? 0) + 1)
  }

  unpin (ids: Buffer[]): void {
    for (const id of ids) {
      const key = chunkIdToHex(id)
      const count = (this.pins.get(key) ?? 1) - 1
      if (count > 0) this.pins.set(key, count)
      else {
        this.pins.delete(key)
        this.collectGarbage([key])
      }
    }
  }

  /** Reads pin the chunk too: a commit that frees it meanwhile must not delete it under the reader. */
  async readInto (id: Buffer, offset: number, target: Buffer): Promise<number> {
    this.pin(chunkIdToHex(id))
    try {
      return await this.reader.readInto(id, offset, target)
    } finally {
      this.unpin([id])
    }
  }

  /** Plaintext bytes [offset, offset + length) of a stored chunk, clamped to its end. */
  async read (id: Buffer, offset: number, length: number): Promise<Buffer> {
    const target = Buffer.allocUnsafe(length)
    return target.subarray(0, await this.readInto(id, offset, target))
  }

  prefetch (id: Buffer, offset: number, length: number): void {
    const key = chunkIdToHex(id)
    this.pin(key)
    this.reader.prefetch(id, offset, length)
      .catch(() => {}) // a failed read-ahead is retried by the real read
      .finally(() => this.unpin([id]))
  }

  /** Every chunk here is this peer's: syncing the store covers `chunks`. */
  async sync (_chunks: readonly ChunkRef[] = []): Promise<void> {
    await this.store.sync()
  }

  /** This disk holds the only copy: synced before any metadata names it. */
  async commitReady (chunks: readonly ChunkRef[]): Promise<void> {
    await this.sync(chunks)
  }

  /** The chunk store's disk; its reserve for the metadata log counts as used, so `df` shows what files may take. */
  async capacity (): Promise<{ totalBytes: number, freeBytes: number, availableBytes: number }> {
    return await this.store.capacity()
  }

  /** Bytes of chunks this peer can still take, as last measured (null: not measured yet). */
  room (): number | null {
    return this.store.room()
  }

  /**
   * Chunks the metadata no longer references (their last file is gone): each is deleted unless pinned.
   * A hold on one that no file referenced when the hold began has done its job — the commit it waited
   * for landed, and that file is gone again — so it ends here rather than keeping the space for minutes.
   */
  collect (keys: string[]): void {
    for (const key of keys) {
      const hold = this.holds.get(key)
      if (hold !== undefined && !hold.referencedWhenHeld && !this.state().chunkReferences.has(key)) this.releaseHold(key, true)
    }
    this.collectGarbage(keys)
  }

  /** Deletes the given chunks if no file references them and no open file has them pinned. */
  private collectGarbage (keys: string[]): void {
    const isGarbage = (key: string): boolean => !this.pins.has(key) && !this.state().chunkReferences.has(key)
    for (const key of keys) {
      if (!isGarbage(key)) continue
      const id = chunkIdFromHex(key)
      // Asked again when the delete runs: a put of the same content may have reused the file meanwhile.
      this.store.delete(id, () => isGarbage(key)).then((removed) => {
        if (!removed) return
        this.cache.delete(id)
        this.deletions++
        this.evictable?.deleted(key)
      }, (error: unknown) => { this.logger.warn('chunks.delete_failed', { chunk: key.slice(0, 12), error: error instanceof Error ? error : String(error) }) })
    }
  }

  /**
   * Deletes this peer's copy of a chunk that is still referenced but kept elsewhere (rebalancing, or an
   * evicted cached copy), unless it is pinned or `stillDroppable()` — asked at the last moment — says no.
   */
  async dropCopy (id: Buffer, stillDroppable: () => boolean = () => true): Promise<boolean> {
    const key = chunkIdToHex(id)
    const removed = await this.store.delete(id, () => !this.pins.has(key) && stillDroppable())
    if (removed) {
      this.cache.delete(id)
      this.evictable?.deleted(key)
    }
    return removed
  }

  /** At start nothing is pinned: every stored chunk no file references is garbage (e.g. from a crash). */
  async collectUnreferenced (): Promise<number> {
    const garbage: string[] = []
    for await (const id of this.store.list()) {
      const key = chunkIdToHex(id)
      if (!this.state().chunkReferences.has(key)) garbage.push(key)
    }
    this.collectGarbage(garbage)
    return garbage.length
  }

  stats (): { deletions: number, pinned: number, unsynced: number, cache: ReturnType<ChunkCache['stats']> } {
    return { deletions: this.deletions, pinned: this.pins.size, unsynced: this.store.unsyncedFileCount(), cache: this.cache.stats() }
  }

  async close (): Promise<void> {
    if (this.holdSweep !== null) clearTimeout(this.holdSweep.timer)
    this.holdSweep = null
    await this.store.close()
    await this.sealPool.close()
  }
}
