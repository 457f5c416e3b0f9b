// Proves the read-through reader: results equal the store's bytes for every range, cached blocks are
// served without touching the source, missing blocks are read in contiguous runs, concurrent misses on a
// block share one source read (single flight), and a failed source read fails every waiter and is
// retried by the next read instead of being remembered; a block emptied (handed back for reuse) while a
// read waited for it is read again, never copied as it is.
import test, { type Test } from 'brittle'
import type { ChunkId } from '../../../peer/chunks/chunk-id.js'
import { ChunkCache } from '../../../peer/chunks/chunk-cache.js'
import { type BlockSource, CachedChunkReader } from '../../../peer/chunks/cached-chunk-reader.js'
import { BLOCK_BYTES, ChunkCorruptError, type ChunkLayout } from '../../../peer/chunks/sealed-chunk.js'
import { KiB, patterned, sameBytes, seededRandom, tempStore } from './fixtures.js'

/** Wraps a source: records every readBlocks call and can hold them until released. */
class GatedSource implements BlockSource {
  readonly calls: Array<[number, number]> = []
  private gate: Promise<void> = Promise.resolve()
  private release: () => void = () => {}
  failNext = false

  constructor (private readonly inner: BlockSource) {}

  hold (): void { this.gate = new Promise((resolve) => { this.release = resolve }) }
  open (): void { this.release() }

  async layout (id: ChunkId): Promise<ChunkLayout> { return await this.inner.layout(id) }

  async readBlocks (id: ChunkId, firstBlock: number, blockCount: number): Promise<Buffer[]> {
    this.calls.push([firstBlock, blockCount])
    await this.gate
    if (this.failNext) { this.failNext = false; throw new ChunkCorruptError('injected') }
    return await this.inner.readBlocks(id, firstBlock, blockCount)
  }
}

async function setup (t: Test, bytesMax = 64 * 64 * KiB) {
  const { store } = await tempStore(t)
  const plaintext = patterned(6 * BLOCK_BYTES + 1234, 11)
  const id = await store.put(plaintext)
  const source = new GatedSource(store)
  const cache = new ChunkCache({ bytesMax })
  return { plaintext, id, source, cache, reader: new CachedChunkReader(source, cache) }
}

test('random ranges read through the cache equal the plaintext', async (t) => {
  const { plaintext, id, reader, cache } = await setup(t, 3 * BLOCK_BYTES) // small: forces evictions
  const random = seededRandom(3)
  let wrong = 0
  for (let round = 0; round < 300; round++) {
    const offset = Math.floor(random() * (plaintext.length + 10))
    const length = Math.floor(random() * 2 * BLOCK_BYTES)
    const expected = plaintext.subarray(Math.min(offset, plaintext.length), Math.min(offset + length, plaintext.length))
    if (!(await reader.read(id, offset, length)).equals(expected)) wrong++
  }
  t.is(wrong, 0)
  t.ok(cache.stats().bytes <= 3 * BLOCK_BYTES)
  t.ok(cache.stats().hits > 0 && cache.stats().misses > 0)
})

test('cached blocks skip the source; missing blocks are read as contiguous runs', async (t) => {
  const { plaintext, id, reader, source, cache } = await setup(t)
  sameBytes(t, await reader.read(id, BLOCK_BYTES + 5, 10), plaintext.subarray(BLOCK_BYTES + 5, BLOCK_BYTES + 15))
  sameBytes(t, await reader.read(id, 3 * BLOCK_BYTES, 1), plaintext.subarray(3 * BLOCK_BYTES, 3 * BLOCK_BYTES + 1))
  t.alike(source.calls, [[1, 1], [3, 1]])
  source.calls.length = 0
  sameBytes(t, await reader.read(id, 0, 5 * BLOCK_BYTES), plaintext.subarray(0, 5 * BLOCK_BYTES))
  t.alike(source.calls, [[0, 1], [2, 1], [4, 1]], 'blocks 1 and 3 came from the cache')
  source.calls.length = 0
  const returned = await reader.read(id, 0, 5 * BLOCK_BYTES)
  t.is(source.calls.length, 0, 'a fully cached read touches no source')
  returned.fill(0) // the caller owns its copy: the cache must be unaffected
  sameBytes(t, await reader.read(id, 0, 100), plaintext.subarray(0, 100))
  t.is((await reader.read(id, plaintext.length, 10)).length, 0)
  t.is(cache.stats().misses, 5)
})

test('concurrent misses on the same block share one source read', async (t) => {
  const { plaintext, id, reader, source } = await setup(t)
  source.hold()
  const reads = Array.from({ length: 20 }, async (_, index) => await reader.read(id, 2 * BLOCK_BYTES + index * 100, 4 * KiB))
  const overlapping = reader.read(id, BLOCK_BYTES, 3 * BLOCK_BYTES) // needs 1, 2 (in flight) and 3
  await new Promise((resolve) => setImmediate(resolve))
  source.open()
  const results = await Promise.all(reads)
  let wrong = 0
  results.forEach((bytes, index) => { if (!bytes.equals(plaintext.subarray(2 * BLOCK_BYTES + index * 100, 2 * BLOCK_BYTES + index * 100 + 4 * KiB))) wrong++ })
  t.is(wrong, 0)
  sameBytes(t, await overlapping, plaintext.subarray(BLOCK_BYTES, 4 * BLOCK_BYTES))
  t.alike(source.calls, [[2, 1], [1, 1], [3, 1]], 'one read of block 2 for 21 readers')
  t.is(reader.stats().sharedWaits, 20)
  t.is(reader.stats().sourceReads, 3)
})

test('a failed source read fails all its waiters and is not remembered', async (t) => {
  const { plaintext, id, reader, source } = await setup(t)
  await reader.read(id, 0, 1) // learn the layout (and cache block 0) first
  source.hold()
  source.failNext = true
  const first = reader.read(id, BLOCK_BYTES, 10)
  const second = reader.read(id, BLOCK_BYTES + 5, 10)
  await new Promise((resolve) => setImmediate(resolve))
  source.open()
  await t.exception(first, ChunkCorruptError)
  await t.exception(second, ChunkCorruptError)
  sameBytes(t, await reader.read(id, BLOCK_BYTES, 10), plaintext.subarray(BLOCK_BYTES, BLOCK_BYTES + 10), 'the next read retries the source')
  t.alike(source.calls, [[0, 1], [1, 1], [1, 1]])
})

test('a read whose blocks are emptied while it waits reads them again', async (t) => {
  const { plaintext, id, source } = await setup(t)
  // Evict every block the moment it is cached and empty it, as the recycler's move to the worker does.
  const cache = new ChunkCache({ bytesMax: BLOCK_BYTES, onEvicted: (block) => { structuredClone(block.buffer, { transfer: [block.buffer] }) } })
  const reader = new CachedChunkReader(source, cache)
  sameBytes(t, await reader.read(id, 100, 3 * BLOCK_BYTES), plaintext.subarray(100, 100 + 3 * BLOCK_BYTES), 'the right bytes')
  t.ok(source.calls.length > 3, 'the blocks were read again')
  const random = seededRandom(5)
  let wrong = 0
  for (let round = 0; round < 50; round++) {
    const offset = Math.floor(random() * plaintext.length)
    const length = 1 + Math.floor(random() * 3 * BLOCK_BYTES)
    if (!(await reader.read(id, offset, length)).equals(plaintext.subarray(offset, Math.min(offset + length, plaintext.length)))) wrong++
  }
  t.is(wrong, 0)
})
