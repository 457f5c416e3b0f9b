// Proves MemoryStorage's durability model, which the simulator relies on: writes are readable at
// once, survive a crash only after sync(), and compaction keeps the term of the compaction point.
import test from 'brittle'
import { MemoryStorage } from '../../../metadata/raft/memory-storage.js'
import { CompactedError, UnavailableError } from '../../../metadata/raft/storage.js'
import { EntryType } from '../../../metadata/raft/messages.js'

const e = (index: number, term: number) => ({ term, index, type: EntryType.Normal, data: new Uint8Array(0) })

test('memory storage: crash drops unsynced writes only', (t) => {
  const s = MemoryStorage.bootstrap(['a', 'b', 'c'])
  s.append([e(2, 1), e(3, 2)])
  s.setHardState({ term: 2, vote: 'a', commit: 1 })
  t.is(s.lastIndex(), 3)
  s.sync()
  s.append([e(4, 2)])
  s.setHardState({ term: 3, vote: 'b', commit: 3 })
  s.crash()
  t.is(s.lastIndex(), 3)
  t.alike(s.initialState().hardState, { term: 2, vote: 'a', commit: 1 })
  s.append([e(3, 3)])
  t.is(s.term(3), 3, 'a conflicting suffix is replaced')
  t.exception(() => s.term(9), UnavailableError)
})

test('memory storage: snapshot and compaction', (t) => {
  const s = MemoryStorage.bootstrap(['a'])
  s.append([e(2, 1), e(3, 2), e(4, 2)])
  s.createSnapshot(3, { voters: ['a'], learners: [] }, new Uint8Array([7]))
  s.compact(2)
  t.is(s.firstIndex(), 3)
  t.is(s.term(2), 1)
  t.exception(() => s.entries(2, 4, 100), CompactedError)
  t.is(s.snapshot().metadata.index, 3)
  s.applySnapshot({ metadata: { index: 10, term: 4, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array(0) })
  t.is(s.firstIndex(), 11)
  t.is(s.lastIndex(), 10)
  t.is(s.term(10), 4)
})
