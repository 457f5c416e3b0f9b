// Proves the scratch buffers that small reads pread into: a buffer given back is handed out again, at
// most `keptMax` are kept, and a buffer of another size is refused rather than handed out as one of these.
import test from 'brittle'
import { ScratchBuffers } from '../../../peer/chunks/scratch-buffers.js'

test('scratch buffers are reused up to the bound', (t) => {
  const scratch = new ScratchBuffers(4096, 2)
  const [a, b, c] = [scratch.take(), scratch.take(), scratch.take()]
  t.ok(a !== b && b !== c && a.buffer !== b.buffer, 'buffers in use at once are distinct')
  t.is(a.length, 4096)
  scratch.give(a)
  scratch.give(b)
  scratch.give(c) // past the bound: dropped
  const taken = [scratch.take(), scratch.take(), scratch.take()]
  t.ok(taken.includes(a) && taken.includes(b), 'the kept ones come back')
  t.absent(taken.includes(c), 'the one past the bound was not kept')
  t.exception.all(() => { scratch.give(Buffer.alloc(100)) }, /not one of these/)
  t.exception.all(() => new ScratchBuffers(0, 1), RangeError)
})
