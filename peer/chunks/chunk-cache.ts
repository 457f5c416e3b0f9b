// Verified plaintext blocks in memory, keyed by (chunk id, block index), bounded in bytes. Only blocks
// that passed authentication are ever inserted, so a hit needs no crypto. Content addressing means an
// entry can never be stale: the same id always names the same bytes.
import { LRUCache } from 'lru-cache'
import { chunkIdToHex } from './chunk-id.js'
import { BLOCK_BYTES_MIN, CHUNK_BYTES } from './sealed-chunk.js'

export const CACHE_BYTES_MAX_DEFAULT = 256 * 1024 * 1024
const BLOCKS_PER_CHUNK_MAX = CHUNK_BYTES / BLOCK_BYTES_MIN

export interface ChunkCacheOptions {
  readonly bytesMax: number
  /** Gets each block evicted or deleted (not one merely replaced); a reader may still hold it. */
  readonly onEvicted?: (block: Buffer) => void
}

export interface ChunkCacheStats {
  readonly hits: number
  readonly misses: number
  readonly blocks: number
  readonly bytes: number
  readonly bytesMax: number
}

export class ChunkCache {
  private readonly blocks: LRUCache<string, Buffer>
  private hits = 0
  private misses = 0

  constructor (options: ChunkCacheOptions = { bytesMax: CACHE_BYTES_MAX_DEFAULT }) {
    if (!Number.isSafeInteger(options.bytesMax) || options.bytesMax < 1) throw new RangeError(`bad cache bytesMax ${options.bytesMax}`)
    this.blocks = new LRUCache<string, Buffer>({
      maxSize: options.bytesMax,
      sizeCalculation: (block) => block.length, // blocks are never empty, as lru-cache requires
      maxEntrySize: options.bytesMax,
      ...(options.onEvicted !== undefined ? { dispose: evictedTo(options.onEvicted) } : {})
    })
  }

  /** The cached plaintext of the block, or undefined; counts a hit or a miss. Do not mutate it. */
  get (id: Uint8Array, blockIndex: number): Buffer | undefined {
    const block = this.blocks.get(blockKey(id, blockIndex))
    if (block === undefined) this.misses++
    else this.hits++
    return block
  }

  /** Inserts an authenticated block, evicting least recently used blocks to stay within bytesMax. */
  set (id: Uint8Array, blockIndex: number, plaintext: Buffer): void {
    if (plaintext.length === 0) throw new RangeError('an empty block cannot be cached')
    this.blocks.set(blockKey(id, blockIndex), plaintext)
  }

  /** Drops every block of the chunk (after it is deleted, so its memory goes first). */
  delete (id: Uint8Array): void {
    const hex = chunkIdToHex(id)
    for (let index = 0; index < BLOCKS_PER_CHUNK_MAX; index++) this.blocks.delete(`${hex}/${index}`)
  }

  clear (): void {
    this.blocks.clear()
  }

  stats (): ChunkCacheStats {
    return { hits: this.hits, misses: this.misses, blocks: this.blocks.size, bytes: this.blocks.calculatedSize, bytesMax: this.blocks.maxSize }
  }
}

function evictedTo (onEvicted: (block: Buffer) => void): (block: Buffer, key: string, reason: LRUCache.DisposeReason) => void {
  return (block, _key, reason) => { if (reason === 'evict' || reason === 'delete') onEvicted(block) }
}

function blockKey (id: Uint8Array, blockIndex: number): string {
  return `${chunkIdToHex(id)}/${blockIndex}`
}
