// Proves the worker seal pool produces what the JS thread would: the keyed-hash id and sealed bytes
// that open to the plaintext, for small (pooled-buffer) and full chunks, and that a store using it
// round-trips and dedupes. Throughput and event-loop numbers are in seal-pool-bench.ts.
import test from 'brittle'
import { chunkIdOf } from '../../../peer/chunks/chunk-id.js'
import { SealPool } from '../../../peer/chunks/seal-pool.js'
import { BLOCK_BYTES, CHUNK_BYTES, ChunkCorruptError, blockSpan, openBlocks, openChunk, parseHeader, sealChunk } from '../../../peer/chunks/sealed-chunk.js'
import { newKeys, patterned, sameBytes, tempStore } from './fixtures.js'

test('pool output is the keyed-hash id and a sealed chunk that opens', async (t) => {
  const keys = newKeys()
  const pool = new SealPool(keys, 2)
  t.teardown(async () => { await pool.close() })
  const plaintexts = [patterned(1), patterned(100), patterned(70_000), patterned(CHUNK_BYTES)]
  const results = await Promise.all(plaintexts.map(async (plaintext) => await pool.seal(plaintext)))
  results.forEach((result, index) => {
    const plaintext = plaintexts[index]!
    t.alike(result.id, chunkIdOf(plaintext, keys.idKey), `${plaintext.length} bytes: id`)
    sameBytes(t, openChunk(result.sealed, result.id, keys), plaintext, `${plaintext.length} bytes: opens`)
  })
  t.is(plaintexts[0]!.length, 1, 'the caller keeps its buffer')
})

test('a store sealing on the pool round-trips and dedupes', async (t) => {
  const keys = newKeys()
  const pool = new SealPool(keys, 1)
  t.teardown(async () => { await pool.close() }, { order: 1 })
  const { store } = await tempStore(t, { ...keys, sealPool: pool })
  const plaintext = patterned(300_000, 5)
  const [first, second] = await Promise.all([store.put(plaintext), store.put(plaintext)])
  t.alike(first, second)
  sameBytes(t, await store.read(first!, 1000, 200_000), plaintext.subarray(1000, 201_000))
  await store.verify(first!)
  t.is((await store.stats()).chunks, 1)
})

test('the pool opens runs of blocks as the JS thread does, and refuses altered ones', async (t) => {
  const keys = newKeys()
  const pool = new SealPool(keys, 1)
  t.teardown(async () => { await pool.close() }, { order: 1 })
  const plaintext = patterned(CHUNK_BYTES, 3)
  const id = chunkIdOf(plaintext, keys.idKey)
  const sealed = sealChunk(plaintext, id, keys.encryptionKey)
  const layout = parseHeader(sealed)
  const range = blockSpan(layout, 4, 20)
  const slice = (): Buffer => Buffer.from(sealed.subarray(range.sealedOffset, range.sealedOffset + range.sealedBytes))
  const fromPool = await pool.open(layout, range, slice(), id)
  const inline = openBlocks(layout, range, slice(), id, keys.encryptionKey)
  t.is(fromPool.length, 20)
  sameBytes(t, Buffer.concat(fromPool), Buffer.concat(inline), 'the same plaintext blocks')
  const altered = slice()
  altered[100]! ^= 1
  await t.exception(pool.open(layout, range, altered, id), ChunkCorruptError, 'an altered block is refused as corrupt')
})

test('a store with a pool reads long runs (read-ahead) through it, correctly', async (t) => {
  const keys = newKeys()
  const pool = new SealPool(keys, 1)
  t.teardown(async () => { await pool.close() }, { order: 1 })
  const { store } = await tempStore(t, { ...keys, sealPool: pool })
  const plaintext = patterned(CHUNK_BYTES, 11)
  const id = await store.put(plaintext)
  sameBytes(t, Buffer.concat(await store.readBlocks(id, 0, 64)), plaintext, 'all 64 blocks, opened on the worker')
  sameBytes(t, await store.read(id, 70_000, 5000), plaintext.subarray(70_000, 75_000), 'a short read, opened here')
})

test('a store with a pool verifies whole copies from peers on the worker, refusing damaged ones', async (t) => {
  const keys = newKeys()
  const pool = new SealPool(keys, 1)
  t.teardown(async () => { await pool.close() }, { order: 1 })
  const { store } = await tempStore(t, { ...keys, sealPool: pool })
  const plaintext = patterned(CHUNK_BYTES, 8)
  const id = chunkIdOf(plaintext, keys.idKey)
  const sealed = sealChunk(plaintext, id, keys.encryptionKey)
  const damaged = Buffer.from(sealed)
  damaged[damaged.length >> 1]! ^= 1
  await t.exception(store.putSealed(id, damaged), ChunkCorruptError, 'a flipped bit is refused')
  const swapped = Buffer.from(sealed)
  swapped.writeUInt32LE(swapped.readUInt32LE(0) ^ 1, 0) // the header
  await t.exception(store.putSealed(id, swapped), ChunkCorruptError, 'a damaged header is refused as a bad copy too')
  await t.exception(store.putSealed(chunkIdOf(Buffer.from('other'), keys.idKey), sealed), ChunkCorruptError, 'a copy under another id is refused')
  t.absent(await store.has(id), 'nothing damaged was stored')
  t.is(await store.putSealed(id, sealed), null, 'no plaintext unless asked')
  t.is(sealed.length > 0, true, 'the caller keeps its bytes (copied to the worker, not handed over)')
  sameBytes(t, await store.read(id, 0, CHUNK_BYTES), plaintext)
  for (const [what, bytes] of [['whole, on the worker', plaintext], ['small, on this thread', plaintext.subarray(0, 100_000)]] as const) {
    const smallId = chunkIdOf(bytes, keys.idKey)
    const blocks = await store.putSealed(smallId, sealChunk(bytes, smallId, keys.encryptionKey), { durable: false, blocks: true })
    t.is(blocks?.length, Math.ceil(bytes.length / BLOCK_BYTES), `${what}: the plaintext comes back block by block`)
    sameBytes(t, Buffer.concat(blocks!), bytes)
    t.ok(blocks!.every((block) => block.buffer.byteLength === block.length), 'each block owns its memory (a cache counts it right)')
  }
})
