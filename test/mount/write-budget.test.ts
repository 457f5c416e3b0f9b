// Proves the daemon-wide write budget: waiting writers are released once bytes are given back, and the
// whole-chunk buffers it keeps for reuse are bounded and never mistaken for others.
import test from 'brittle'
import { CHUNK_BYTES } from '../../metadata/fs/inode.js'
import { WriteBudget } from '../../mount/write-budget.js'

test('a writer waiting for room goes on once enough bytes are given back', async (t) => {
  const budget = new WriteBudget(100)
  budget.take(150)
  t.ok(budget.exhausted)
  let released = false
  const waiting = budget.waitForRoom().then(() => { released = true })
  budget.give(40)
  await new Promise((resolve) => setImmediate(resolve))
  t.absent(released, 'still over the bound')
  budget.give(20)
  await waiting
  t.ok(released, 'under the bound: released')
  t.exception(() => { budget.give(1000) }, /more than it took/)
})

test('recycled chunk buffers come back, at most a few are kept, and foreign buffers are not taken', (t) => {
  const budget = new WriteBudget(64 * CHUNK_BYTES)
  budget.take(1) // something is buffered: kept buffers are kept
  const buffers = Array.from({ length: 10 }, () => budget.chunkBuffer())
  t.ok(buffers.every((buffer) => buffer.length === CHUNK_BYTES), 'each is one whole chunk')
  t.is(new Set(buffers.map((buffer) => buffer.buffer)).size, 10, 'no two share memory')
  for (const buffer of buffers) budget.recycle(buffer)
  budget.recycle(Buffer.alloc(1000)) // not a chunk buffer: ignored
  budget.recycle(buffers[0]!.subarray(1)) // a view: ignored
  const again = Array.from({ length: 10 }, () => budget.chunkBuffer())
  const reused = again.filter((buffer) => buffers.includes(buffer)).length
  t.ok(reused > 0 && reused < 10, `some are reused, not all are kept (${reused})`)
  t.ok(again.every((buffer) => buffer.length === CHUNK_BYTES), 'only whole chunk buffers are handed out')
})

test('once nothing is buffered, no chunk buffer is kept', (t) => {
  const budget = new WriteBudget(64 * CHUNK_BYTES)
  budget.take(2 * CHUNK_BYTES)
  const [a, b] = [budget.chunkBuffer(), budget.chunkBuffer()]
  budget.recycle(a)
  budget.give(CHUNK_BYTES)
  t.is(budget.chunkBuffer(), a, 'kept while another is in use')
  budget.recycle(a)
  budget.recycle(b)
  budget.give(CHUNK_BYTES)
  const after = budget.chunkBuffer()
  t.ok(after !== a && after !== b, 'an idle budget kept neither')
})
