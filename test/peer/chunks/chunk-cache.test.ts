// Proves the block cache stays within its byte bound under any insertion order, evicts least recently
// used blocks first, and counts hits and misses exactly.
import test from 'brittle'
import { randomBytes } from '../../../native/crypto.js'
import { ChunkCache } from '../../../peer/chunks/chunk-cache.js'
import { KiB, seededRandom } from './fixtures.js'

test('the byte bound holds under random inserts of mixed block sizes', (t) => {
  const bytesMax = 300 * KiB
  const cache = new ChunkCache({ bytesMax })
  const random = seededRandom(1)
  const ids = Array.from({ length: 8 }, () => randomBytes(32))
  let over = 0
  for (let round = 0; round < 2000; round++) {
    const size = 1 + Math.floor(random() * 64 * KiB)
    cache.set(ids[Math.floor(random() * ids.length)]!, Math.floor(random() * 64), Buffer.alloc(size))
    if (cache.stats().bytes > bytesMax) over++
  }
  t.is(over, 0, 'never above bytesMax')
  t.ok(cache.stats().bytes > bytesMax - 64 * KiB, 'but filled close to it')
})

test('least recently used blocks go first; hits and misses are counted', (t) => {
  const cache = new ChunkCache({ bytesMax: 3 * 64 * KiB })
  const id = randomBytes(32)
  const other = randomBytes(32)
  const block = (fill: number): Buffer => Buffer.alloc(64 * KiB, fill)
  cache.set(id, 0, block(0))
  cache.set(id, 1, block(1))
  cache.set(other, 0, block(2))
  t.is(cache.get(id, 0)?.[0], 0, 'hit, and block 0 becomes most recent')
  cache.set(id, 2, block(3)) // evicts (id, 1), the least recently used
  t.is(cache.get(id, 1), undefined, 'evicted')
  t.is(cache.get(other, 0)?.[0], 2)
  t.is(cache.get(id, 2)?.[0], 3)
  t.is(cache.get(other, 1), undefined, 'never stored')
  t.alike(cache.stats(), { hits: 3, misses: 2, blocks: 3, bytes: 3 * 64 * KiB, bytesMax: 3 * 64 * KiB })
  cache.delete(id)
  t.is(cache.stats().blocks, 1, 'delete drops every block of the chunk')
  cache.set(id, 0, Buffer.alloc(4 * 64 * KiB)) // larger than the whole cache: not stored, nothing evicted
  t.is(cache.stats().blocks, 1)
  t.exception.all(() => { cache.set(id, 5, Buffer.alloc(0)) }, RangeError)
  t.exception.all(() => new ChunkCache({ bytesMax: 0 }), RangeError)
})

test('evicted and deleted blocks are handed on; a block merely replaced is not', (t) => {
  const evicted: number[] = []
  const cache = new ChunkCache({ bytesMax: 2 * 64 * KiB, onEvicted: (block) => { evicted.push(block[0]!) } })
  const id = randomBytes(32)
  const block = (fill: number): Buffer => Buffer.alloc(64 * KiB, fill)
  cache.set(id, 0, block(0))
  cache.set(id, 1, block(1))
  cache.set(id, 2, block(2)) // evicts block 0
  cache.set(id, 2, block(3)) // replaces block 2: the old one may still be read by whoever inserted it
  t.alike(evicted, [0])
  cache.delete(id)
  t.alike(evicted.sort(), [0, 1, 3], 'delete hands on every block of the chunk')
})
