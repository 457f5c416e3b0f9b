// The read interface the core queries (etcd storage.go): the core never writes storage; the
// application persists each Ready and then calls advance(). Index conventions: the log holds
// [firstIndex, lastIndex]; firstIndex - 1 is the index of the last compacted entry (the snapshot's
// index), whose term term() must still answer, so that AppendEntries' consistency check works right
// after a compaction (paper §5.3, §7).
import type { ConfState, Entry, HardState, Snapshot } from './messages.js'

export class CompactedError extends Error {
  constructor (index: number) {
    super(`requested index ${index} is unavailable due to compaction`)
    this.name = 'CompactedError'
  }
}

export class UnavailableError extends Error {
  constructor (index: number) {
    super(`requested entry at index ${index} is unavailable`)
    this.name = 'UnavailableError'
  }
}

export interface InitialState {
  hardState: HardState
  // The configuration as of the snapshot; the core replays ConfChange entries after it.
  confState: ConfState
}

export interface Storage {
  initialState: () => InitialState
  // Entries in [lo, hi), at most maxBytes in total but always at least one if lo < hi.
  // Throws CompactedError if lo < firstIndex, UnavailableError if hi > lastIndex + 1.
  entries: (lo: number, hi: number, maxBytes: number) => Entry[]
  // Term of entry i, for i in [firstIndex - 1, lastIndex]; CompactedError / UnavailableError otherwise.
  term: (index: number) => number
  firstIndex: () => number
  lastIndex: () => number
  // The most recent snapshot (index 0 when there is none).
  snapshot: () => Snapshot
}

// What the node wrapper and the simulator need to persist a Ready. The file WAL in metadata/storage/
// is expected to implement the same shape.
export interface WritableStorage extends Storage {
  append: (entries: Entry[]) => void
  setHardState: (hardState: HardState) => void
  applySnapshot: (snapshot: Snapshot) => void
  // Makes every write so far durable (one fsync for the whole Ready: group commit). A disk-backed
  // storage returns a promise; the node then finishes the Ready (replies, apply, advance) once it
  // resolves, and accumulates new input meanwhile — the next Ready carries all of it (etcd's loop).
  sync: () => void | Promise<void>
  // Records a snapshot of the applied state at index and drops the log up to it (paper §7).
  createSnapshot: (index: number, conf: ConfState, data: Uint8Array) => void
  compact: (index: number) => void
}
