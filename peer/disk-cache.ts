// The disk cache tier: chunk copies this peer keeps only to serve its own reads, bounded in bytes
// (`disk-cache-mb`), least recently read evicted first (chunks/disk-cache-index.ts decides, this file
// deletes). The rule for what is cache: a local copy the metadata does not list for this peer becomes
// cache once a read here uses it — fetched for a read, or read while still on disk (a copy rebalance
// moved away). Copies no read has used (moved away, a replica nobody committed) are the keeper's to
// delete as before, and a copy another peer puts here is a replica, not cache. A copy the metadata comes
// to list for this peer (repair or rebalance copied it here) leaves the tier: it is never evicted. When
// the disk is full, cached copies go before this peer refuses a put (local-chunks.ts asks). After a
// restart every stored copy that is referenced but not listed for this peer is cache, ordered by its
// file's times (the first read after a fetch sets atime under relatime). Chunks no file references are
// garbage collection's business, as before. A bound of 0 turns the tier off: nothing is cache.
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { chunkIdFromHex, chunkIdToHex } from './chunks/chunk-id.js'
import type { ChunkId } from './chunks/chunk-id.js'
import { ChunkMissingError } from './chunks/chunk-store.js'
import type { ChunkStore } from './chunks/chunk-store.js'
import { DiskCacheIndex } from './chunks/disk-cache-index.js'
import type { CachedCopy } from './chunks/disk-cache-index.js'
import type { LocalChunks } from './local-chunks.js'
import type { Logger } from './log.js'

export interface DiskCacheOptions {
  bytesMax: number
  /** Whether the metadata lists this peer as a holder of the chunk: such a copy is never cache. */
  isListedHere: (key: string) => boolean
  /** Whether a file references the chunk. */
  isReferenced: (key: string) => boolean
  logger: Logger
}

export interface DiskCacheStats {
  bytes: number
  bytesMax: number
  chunks: number
  /** Reads served by a cached copy (instead of a fetch from another peer). */
  hits: number
  /** Copies fetched for a read, or adopted by one, into the tier. */
  admitted: number
  evicted: number
}

export class DiskCache {
  private readonly local: LocalChunks
  private readonly options: DiskCacheOptions
  private index: DiskCacheIndex
  private hits = 0
  private admitted = 0
  private evicted = 0
  private trimming: Promise<void> | null = null

  constructor (local: LocalChunks, options: DiskCacheOptions) {
    this.local = local
    this.options = options
    this.index = new DiskCacheIndex(options.bytesMax)
    if (this.enabled) local.attachCache({ makeRoom: async (bytes) => await this.makeRoom(bytes), deleted: (key) => { this.index.remove(key) } })
  }

  get enabled (): boolean {
    return this.options.bytesMax > 0
  }

  has (key: string): boolean {
    return this.index.has(key)
  }

  stats (): DiskCacheStats {
    return { bytes: this.index.bytes, bytesMax: this.index.bytesMax, chunks: this.index.size, hits: this.hits, admitted: this.admitted, evicted: this.evicted }
  }

  /** Bytes of cached copies: the disk gives them up for any put, so they count as room. */
  bytes (): number {
    return this.index.bytes
  }

  /**
   * A read was served by the local copy: a cached one becomes the most recently read (a hit); an
   * unlisted one no read had used yet joins the tier.
   */
  used (id: Buffer): void {
    if (!this.enabled) return
    const key = chunkIdToHex(id)
    if (this.index.touch(key)) {
      this.hits++
      return
    }
    if (this.options.isListedHere(key) || !this.options.isReferenced(key)) return
    this.adopt(id).catch((error: unknown) => this.options.logger.warn('chunks.disk_cache_failed', { chunk: key.slice(0, 12), error: errorOf(error) }))
  }

  /** A copy was fetched for a read and stored here: cache, unless the metadata lists this peer for it. */
  fetched (id: Buffer, bytes: number): void {
    const key = chunkIdToHex(id)
    if (!this.enabled || this.options.isListedHere(key)) return
    this.admit(key, bytes)
    this.trimLater()
  }

  /** Starts a trim in the background when the tier is over its bound (reads never wait for evictions). */
  trimLater (): void {
    if (!this.index.over()) return
    this.trim().catch((error: unknown) => this.options.logger.warn('chunks.disk_cache_trim_failed', { error: errorOf(error) }))
  }

  /** Another peer put a copy here: a replica now (the keeper deletes it if nobody lists it), not cache. */
  replicated (id: Buffer): void {
    this.index.remove(chunkIdToHex(id))
  }

  /**
   * Once per keeper round: copies the metadata now lists for this peer, or no file references, leave the
   * tier; then it is brought within its bound.
   */
  async reconcile (): Promise<void> {
    for (const key of this.index.keys()) {
      if (this.options.isListedHere(key) || !this.options.isReferenced(key)) this.index.remove(key)
    }
    await this.trim()
  }

  /** Evicts copies, least recently read first, until the tier is within its bound; copies being read wait. */
  async trim (): Promise<void> {
    if (!this.index.over()) return
    // One trim at a time; a trim asked for meanwhile runs once the current one is done.
    while (this.trimming !== null) await this.trimming
    if (!this.index.over()) return
    this.trimming = this.evictAll(this.index.overflow((key) => this.local.isPinned(key))).then(() => {})
    try {
      await this.trimming
    } finally {
      this.trimming = null
    }
  }

  /** The disk is full: evicts copies, least recently read first, to free at least `bytes`; resolves with what was freed. */
  async makeRoom (bytes: number): Promise<number> {
    const freed = await this.evictAll(this.index.victimsFor(bytes, (key) => this.local.isPinned(key)))
    if (freed > 0) this.options.logger.debug('chunks.disk_cache_evicted_for_room', { bytes: freed })
    return freed
  }

  /** At start: every stored copy that is referenced but not listed for this peer, by its file's times. */
  async rebuild (): Promise<number> {
    if (!this.enabled) return 0
    const copies: CachedCopy[] = []
    for await (const id of this.local.store.list()) {
      const key = chunkIdToHex(id)
      if (!this.options.isReferenced(key) || this.options.isListedHere(key)) continue
      const times = await fileTimes(this.local.store, id).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null // collected meanwhile
        throw error
      })
      if (times !== null && times.bytes > 0) copies.push({ key, bytes: times.bytes, lastReadMs: Math.max(times.accessedMs, times.modifiedMs) })
    }
    this.index = DiskCacheIndex.rebuilt(this.options.bytesMax, copies)
    await this.trim()
    return this.index.size
  }

  private async adopt (id: Buffer): Promise<void> {
    const key = chunkIdToHex(id)
    const bytes = await this.local.store.layout(id).then((layout) => layout.sealedBytes, (error: unknown) => {
      if (error instanceof ChunkMissingError) return 0 // deleted meanwhile: nothing to adopt
      throw error
    })
    if (bytes === 0 || this.options.isListedHere(key)) return
    this.admit(key, bytes)
    this.trimLater()
  }

  private admit (key: string, bytes: number): void {
    if (!this.index.has(key)) this.admitted++
    this.index.admit(key, bytes)
  }

  /** Deletes each copy unless it is pinned or no longer cache; resolves with the bytes freed. */
  private async evictAll (keys: readonly string[]): Promise<number> {
    let freed = 0
    for (const key of keys) {
      const id = chunkIdFromHex(key)
      let bytes = 0
      const dropped = await this.local.dropCopy(id, () => {
        bytes = this.index.bytesOf(key) ?? 0
        return bytes > 0 && !this.options.isListedHere(key)
      })
      if (dropped) {
        this.evicted++
        freed += bytes
      } else if (!(await this.local.store.has(id))) {
        this.index.remove(key) // gone already
      }
    }
    return freed
  }
}

/** The size and times of a stored chunk's file, found by the store's layout: <dir>/ab/abcdef…. */
async function fileTimes (store: ChunkStore, id: ChunkId): Promise<{ bytes: number, accessedMs: number, modifiedMs: number }> {
  const hex = chunkIdToHex(id)
  const info = await stat(join(store.dir, hex.slice(0, 2), hex))
  return { bytes: info.size, accessedMs: info.atimeMs, modifiedMs: info.mtimeMs }
}

function errorOf (error: unknown): Error | string {
  return error instanceof Error ? error : String(error)
}
