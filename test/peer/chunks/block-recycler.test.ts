// Proves evicted blocks go back to the decrypting worker and are decrypted into again: only whole blocks
// that own their memory are taken, they leave in batches and are emptied (detached) here when they do,
// and the worker's output stays correct while it reuses them (that it reuses them shows as fewer full
// collections, measured in the README, not here).
import test from 'brittle'
import { BlockRecycler } from '../../../peer/chunks/block-recycler.js'
import { chunkIdOf } from '../../../peer/chunks/chunk-id.js'
import { SealPool } from '../../../peer/chunks/seal-pool.js'
import { BLOCK_BYTES, CHUNK_BYTES, blockSpan, openBlocks, parseHeader, sealChunk } from '../../../peer/chunks/sealed-chunk.js'
import { newKeys, patterned, sameBytes } from './fixtures.js'

test('only whole blocks that own their memory are taken, and they leave in batches of 16', (t) => {
  const sent: ArrayBuffer[][] = []
  const recycler = new BlockRecycler((buffers) => { sent.push(buffers) })
  recycler.give(Buffer.allocUnsafeSlow(BLOCK_BYTES - 1)) // a short last block
  recycler.give(Buffer.allocUnsafeSlow(2 * BLOCK_BYTES).subarray(0, BLOCK_BYTES)) // a view of a larger buffer
  recycler.give(Buffer.from(new SharedArrayBuffer(BLOCK_BYTES)))
  const blocks = Array.from({ length: 16 }, () => Buffer.allocUnsafeSlow(BLOCK_BYTES))
  blocks.slice(0, 15).forEach((block) => { recycler.give(block) })
  recycler.give(blocks[0]!) // given twice: taken once
  t.is(sent.length, 0, 'nothing sent before a batch is full')
  recycler.give(blocks[15]!)
  t.is(sent.length, 1)
  t.is(sent[0]!.length, 16)
  t.ok(sent[0]!.every((buffer, index) => buffer === blocks[index]!.buffer), 'exactly the whole blocks')
})

test('the pool stays correct while handed blocks to decrypt into; readers of a moved block see it empty, never reused bytes', async (t) => {
  const keys = newKeys()
  const pool = new SealPool(keys, 1)
  t.teardown(async () => { await pool.close() })
  const plaintext = patterned(CHUNK_BYTES, 9)
  const id = chunkIdOf(plaintext, keys.idKey)
  const sealed = sealChunk(plaintext, id, keys.encryptionKey)
  const layout = parseHeader(sealed)
  const range = blockSpan(layout, 0, layout.blockCount)
  const slice = (): Buffer => Buffer.from(sealed.subarray(range.sealedOffset, range.sealedOffset + range.sealedBytes))
  const first = await pool.open(layout, range, slice(), id)
  const held = first[0]!
  pool.recycle(first.map((block) => block.buffer as ArrayBuffer))
  t.is(held.length, 0, 'a block handed back is empty for anyone still holding it')
  for (let round = 0; round < 3; round++) {
    const blocks = await pool.open(layout, range, slice(), id)
    sameBytes(t, Buffer.concat(blocks), Buffer.concat(openBlocks(layout, range, slice(), id, keys.encryptionKey)), `round ${round}: the same plaintext`)
    pool.recycle(blocks.map((block) => block.buffer as ArrayBuffer))
  }
  pool.recycle([new ArrayBuffer(BLOCK_BYTES), first[1]!.buffer as ArrayBuffer]) // the second is already moved: dropped, no throw
  sameBytes(t, Buffer.concat(await pool.open(layout, range, slice(), id)), plaintext, 'still opens after a refused batch')
})
