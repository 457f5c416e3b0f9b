// Read-through over a ChunkCache: serve a chunk range from cached verified blocks, read the missing ones
// from the source (the local ChunkStore today; replicas later) in as few reads as possible, and make
// concurrent misses on the same block share one read (single flight), so N FUSE readers of a cold
// block cost one pread and one decryption, not N.
import { LRUCache } from 'lru-cache'
import { type ChunkId, chunkIdToHex } from './chunk-id.js'
import type { ChunkCache } from './chunk-cache.js'
import { type ChunkLayout, blockRange, copyPlaintextRangeInto } from './sealed-chunk.js'

export const LAYOUTS_MAX = 4096 // chunk headers remembered, so a fully cached read touches no disk
const CACHED_ATTEMPTS = 3 // tries through the cache before a read whose blocks keep being evicted goes past it

/** Where missing blocks come from; ChunkStore satisfies it. Returned blocks must be authenticated. */
export interface BlockSource {
  layout: (id: ChunkId) => Promise<ChunkLayout>
  readBlocks: (id: ChunkId, firstBlock: number, blockCount: number) => Promise<Buffer[]>
}

export interface CachedChunkReaderStats {
  readonly sourceReads: number // readBlocks calls made
  readonly sharedWaits: number // block misses that joined a read already in flight
}

export class CachedChunkReader {
  private readonly layouts = new LRUCache<string, ChunkLayout>({ max: LAYOUTS_MAX })
  private readonly inFlight = new Map<string, Promise<Buffer>>() // bounded by the reads in progress
  private sourceReads = 0
  private sharedWaits = 0

  constructor (private readonly source: BlockSource, private readonly cache: ChunkCache) {}

  /** Plaintext bytes [offset, offset + length) of chunk `id`, clamped to its end like pread. */
  async read (id: ChunkId, offset: number, length: number): Promise<Buffer> {
    const target = Buffer.allocUnsafe(length)
    return target.subarray(0, await this.readInto(id, offset, target))
  }

  /**
   * Copies plaintext from `offset` of chunk `id` into `target` (as much as fits, up to the chunk's
   * end); returns how many bytes. A FUSE read lands in the kernel's buffer with no allocation between.
   */
  async readInto (id: ChunkId, offset: number, target: Buffer): Promise<number> {
    const hex = chunkIdToHex(id)
    const layout = await this.layoutOf(id, hex)
    const range = blockRange(layout, offset, target.length)
    if (range.blockCount === 0) return 0
    const end = Math.min(offset + target.length, layout.plaintextBytes)
    // A block evicted while this read waited may have been handed back for reuse (BlockRecycler), which
    // empties it here: ask again, and after a few tries read the blocks past the cache. Check and copy
    // in one synchronous step, so nothing can take a block in between.
    for (let attempt = 0; attempt < CACHED_ATTEMPTS; attempt++) {
      const blocks = await Promise.all(this.blockPromises(id, hex, range.firstBlock, range.blockCount))
      if (blocks.some((block) => block.length === 0)) continue
      copyPlaintextRangeInto(blocks, offset - range.plaintextOffset, end - range.plaintextOffset, target)
      return end - offset
    }
    this.sourceReads++
    const blocks = await this.source.readBlocks(id, range.firstBlock, range.blockCount)
    copyPlaintextRangeInto(blocks, offset - range.plaintextOffset, end - range.plaintextOffset, target)
    return end - offset
  }

  /** Brings the blocks of [offset, offset + length) into the cache without assembling a result. */
  async prefetch (id: ChunkId, offset: number, length: number): Promise<void> {
    const hex = chunkIdToHex(id)
    const layout = await this.layoutOf(id, hex)
    const range = blockRange(layout, offset, length)
    if (range.blockCount > 0) await Promise.all(this.blockPromises(id, hex, range.firstBlock, range.blockCount))
  }

  stats (): CachedChunkReaderStats {
    return { sourceReads: this.sourceReads, sharedWaits: this.sharedWaits }
  }

  private async layoutOf (id: ChunkId, hex: string): Promise<ChunkLayout> {
    const known = this.layouts.get(hex)
    if (known !== undefined) return known
    const layout = await this.source.layout(id)
    this.layouts.set(hex, layout)
    return layout
  }

  /** One promise per block: cached, joined to a read in flight, or part of a new run read at once. */
  private blockPromises (id: ChunkId, hex: string, firstBlock: number, blockCount: number): Array<Promise<Buffer>> {
    const promises: Array<Promise<Buffer>> = []
    let runStart = -1 // first block of the current run of blocks nobody is reading yet
    for (let index = firstBlock; index <= firstBlock + blockCount; index++) {
      const atEnd = index === firstBlock + blockCount
      const known = atEnd ? undefined : this.knownBlock(id, hex, index)
      if (runStart >= 0 && (atEnd || known !== undefined)) {
        promises.push(...this.readRun(id, hex, runStart, index - runStart))
        runStart = -1
      }
      if (atEnd) break
      if (known !== undefined) promises.push(known)
      else if (runStart < 0) runStart = index
    }
    return promises
  }

  private knownBlock (id: ChunkId, hex: string, index: number): Promise<Buffer> | undefined {
    const cached = this.cache.get(id, index)
    if (cached !== undefined) return Promise.resolve(cached)
    const pending = this.inFlight.get(`${hex}/${index}`)
    if (pending !== undefined) this.sharedWaits++
    return pending
  }

  /** Reads blocks [first, first + count) in one source call; caches them, then releases the waiters. */
  private readRun (id: ChunkId, hex: string, first: number, count: number): Array<Promise<Buffer>> {
    this.sourceReads++
    const run = this.source.readBlocks(id, first, count).then((blocks) => {
      // Cache before leaving inFlight, so no reader finds the block in neither place and reads it again.
      blocks.forEach((block, offset) => { this.cache.set(id, first + offset, block) })
      return blocks
    }).finally(() => {
      for (let index = first; index < first + count; index++) this.inFlight.delete(`${hex}/${index}`)
    })
    const promises: Array<Promise<Buffer>> = []
    for (let offset = 0; offset < count; offset++) {
      const block = run.then((blocks) => blocks[offset] ?? Promise.reject(new Error(`source returned ${blocks.length} of ${count} blocks`)))
      block.catch(() => {}) // the caller's Promise.all reports the error; avoid unhandled rejections of siblings
      this.inFlight.set(`${hex}/${first + offset}`, block)
      promises.push(block)
    }
    return promises
  }
}
