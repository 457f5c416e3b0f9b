// Proves the worker seal pool produces what the JS thread would: the keyed-hash id and sealed bytes
// that open to the plaintext, for small (pooled-buffer) and full chunks, and that a store using it
// round-trips and dedupes. Throughput and event-loop numbers are in seal-pool-bench.ts.
import test from 'brittle'
import { chunkIdOf } from '../../../peer/chunks/chunk-id.js'
import { SealPool } from '../../../peer/chunks/seal-pool.js'
import { CHUNK_BYTES, openChunk } from '../../../peer/chunks/sealed-chunk.js'
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
