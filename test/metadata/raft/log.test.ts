// Proves RaftLog over MemoryStorage + Unstable: appends and conflict truncation (paper §5.3), the
// committed/applied invariants, term lookups across the compaction boundary, byte-bounded slices, and
// findConflictByTerm for fast backoff.
import test from 'brittle'
import { RaftLog } from '../../../metadata/raft/log.js'
import { MemoryStorage } from '../../../metadata/raft/memory-storage.js'
import { CompactedError } from '../../../metadata/raft/storage.js'
import { AssertionError } from '../../../metadata/raft/assert.js'
import { EntryType } from '../../../metadata/raft/messages.js'
import type { Entry } from '../../../metadata/raft/messages.js'

function entries (from: number, terms: number[]): Entry[] {
  return terms.map((term, i) => ({ term, index: from + i, type: EntryType.Normal, data: new Uint8Array(10) }))
}

test('log: append, conflict detection and truncation', (t) => {
  const log = new RaftLog(new MemoryStorage())
  log.append(entries(1, [1, 1, 2, 2, 3]))
  t.is(log.lastIndex(), 5)
  t.is(log.findConflict(entries(3, [2, 2])), 0, 'all present')
  t.is(log.findConflict(entries(4, [2, 4])), 5, 'first conflict')
  const r = log.maybeAppend(3, 2, 4, entries(4, [2, 4, 4]))
  t.alike(r?.written.map((e) => e.index), [5, 6])
  t.is(log.lastIndex(), 6)
  t.is(log.term(5), 4)
  t.is(log.committed, 4, 'min(leader commit, last new index)')
  t.is(log.maybeAppend(6, 3, 6, []), null, 'consistency check fails on a term mismatch')
  t.exception(() => log.append(entries(2, [9])), AssertionError, 'never overwrite committed entries')
  t.ok(log.isUpToDate(6, 4) && !log.isUpToDate(9, 3) && log.isUpToDate(1, 5))
})

test('log: only current-term entries commit by counting; applied never passes committed', (t) => {
  const log = new RaftLog(new MemoryStorage())
  log.append(entries(1, [1, 2, 2]))
  t.absent(log.maybeCommit(2, 1), 'term mismatch')
  t.ok(log.maybeCommit(2, 2))
  t.exception(() => log.appliedTo(3), AssertionError)
  log.appliedTo(2)
  t.alike(log.nextCommittedEntries(1000), [])
  log.commitTo(3)
  t.alike(log.nextCommittedEntries(1000).map((e) => e.index), [3])
  log.checkInvariants()
})

test('log: terms across compaction, bounded slices, findConflictByTerm', (t) => {
  const storage = new MemoryStorage()
  storage.append(entries(1, [1, 1, 2, 2, 3, 3, 3]))
  storage.createSnapshot(4, { voters: ['a'], learners: [] }, new Uint8Array(1))
  storage.compact(3)
  const log = new RaftLog(storage)
  t.is(log.firstIndex(), 4)
  t.is(log.term(3), 2, 'the compaction point keeps its term')
  t.exception(() => log.term(2), CompactedError)
  t.is(log.committed, 4, 'a snapshot is committed state')
  t.is(log.slice(4, 8, 60).length, 2, 'byte bound (26 bytes per entry)')
  t.is(log.slice(4, 8, 1).length, 1, 'at least one entry')
  t.alike(log.findConflictByTerm(7, 2), { index: 4, term: 2 })
  t.alike(log.findConflictByTerm(7, 5), { index: 7, term: 3 })
})
