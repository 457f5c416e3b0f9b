// In-memory Storage with explicit durability, the reference implementation for tests and the
// simulator. Writes are visible to reads at once but only become durable on sync(); crash() throws away
// everything written since the last sync(), modelling a process crash that loses the page cache.
import { assert } from './assert.js'
import { CompactedError, UnavailableError } from './storage.js'
import type { InitialState, WritableStorage } from './storage.js'
import { ConfChangeType, EntryType, NONE, confChangeEntryCodec, emptySnapshot, entryBytes } from './messages.js'
import type { ConfState, Entry, HardState, Snapshot } from './messages.js'

interface LogState {
  hardState: HardState
  snapshot: Snapshot
  // The log was compacted up to compactedIndex (≤ the snapshot's index: a tail of entries behind the
  // snapshot may be kept for slow followers); entries[0] is the entry at compactedIndex + 1.
  compactedIndex: number
  compactedTerm: number
  entries: Entry[]
}

function cloneState (s: LogState): LogState {
  return { ...s, hardState: { ...s.hardState }, entries: s.entries.slice() }
}

export class MemoryStorage implements WritableStorage {
  private live: LogState
  private durable: LogState
  syncCount = 0

  constructor () {
    const empty: LogState = { hardState: { term: 0, vote: NONE, commit: 0 }, snapshot: emptySnapshot(), compactedIndex: 0, compactedTerm: 0, entries: [] }
    this.live = empty
    this.durable = cloneState(empty)
  }

  // A storage for a member of the founding configuration: entry 1 (term 1) is the bootstrap
  // configuration, already committed, identical on every founding member (like etcd's bootstrap).
  static bootstrap<T extends MemoryStorage> (this: new () => T, voters: string[]): T {
    const storage = new this()
    storage.append([bootstrapEntry(voters)])
    storage.setHardState({ term: 1, vote: NONE, commit: 1 })
    storage.sync()
    return storage
  }

  initialState (): InitialState {
    return { hardState: { ...this.live.hardState }, confState: this.live.snapshot.metadata.conf }
  }

  private offset (): number {
    return this.live.compactedIndex + 1
  }

  firstIndex (): number {
    return this.offset()
  }

  lastIndex (): number {
    return this.offset() + this.live.entries.length - 1
  }

  term (index: number): number {
    if (index === this.live.compactedIndex) return this.live.compactedTerm
    if (index < this.live.compactedIndex) throw new CompactedError(index)
    if (index > this.lastIndex()) throw new UnavailableError(index)
    const entry = this.live.entries[index - this.offset()]
    assert(entry !== undefined && entry.index === index, 'memory storage: entry index mismatch')
    return entry.term
  }

  entries (lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.offset()) throw new CompactedError(lo)
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1)
    assert(lo <= hi, 'memory storage: lo > hi')
    const out: Entry[] = []
    let bytes = 0
    for (let i = lo; i < hi; i++) {
      const entry = this.live.entries[i - this.offset()] as Entry
      bytes += entryBytes(entry)
      if (out.length > 0 && bytes > maxBytes) break
      out.push(entry)
    }
    return out
  }

  snapshot (): Snapshot {
    return this.live.snapshot
  }

  // Appends entries, truncating any conflicting suffix (the core only hands us entries that follow
  // its log; a suffix is replaced when a new leader overwrote it, paper §5.3).
  append (entries: Entry[]): void {
    applyAppend(this.live, entries)
  }

  setHardState (hardState: HardState): void {
    this.live.hardState = { ...hardState }
  }

  applySnapshot (snapshot: Snapshot): void {
    applySnapshotTo(this.live, snapshot)
  }

  createSnapshot (index: number, conf: ConfState, data: Uint8Array): void {
    assert(index <= this.lastIndex(), 'createSnapshot beyond last index')
    if (index <= this.live.snapshot.metadata.index) return
    const term = this.term(index)
    this.live.snapshot = { metadata: { index, term, conf }, data }
  }

  compact (index: number): void {
    assert(index <= this.live.snapshot.metadata.index, 'compact beyond the snapshot')
    const drop = index - this.offset() + 1
    if (drop <= 0) return
    this.live.compactedTerm = this.term(index)
    this.live.compactedIndex = index
    this.live.entries = this.live.entries.slice(drop)
    const first = this.live.entries[0]
    assert(first === undefined || first.index === this.offset(), 'compact: offset mismatch')
  }

  sync (): void {
    this.durable = cloneState(this.live)
    this.syncCount++
  }

  // Loses every write since the last sync (and nothing before it).
  crash (): void {
    this.live = cloneState(this.durable)
  }

  // For the simulator's invariant checks: the durable log.
  durableEntries (): readonly Entry[] {
    return this.durable.entries
  }
}

function applyAppend (state: LogState, entries: Entry[]): void {
  const firstNew = entries[0]
  if (firstNew === undefined) return
  const offset = state.compactedIndex + 1
  if (firstNew.index + entries.length - 1 < offset) return
  // Entries at or below the snapshot are already covered by it.
  const usable = firstNew.index < offset ? entries.slice(offset - firstNew.index) : entries
  const start = (usable[0] as Entry).index - offset
  assert(start <= state.entries.length, `memory storage: gap in append at ${(usable[0] as Entry).index}`)
  state.entries = state.entries.slice(0, start).concat(usable)
}

function applySnapshotTo (state: LogState, snapshot: Snapshot): void {
  const index = snapshot.metadata.index
  assert(index >= state.snapshot.metadata.index, 'applySnapshot: snapshot is older than the current one')
  state.snapshot = snapshot
  state.compactedIndex = index
  state.compactedTerm = snapshot.metadata.term
  state.entries = []
}

export function bootstrapEntry (voters: string[]): Entry {
  const data = confChangeEntryCodec.encode({ change: { type: ConfChangeType.Bootstrap, nodeId: NONE }, conf: { voters: voters.slice(), learners: [] } })
  return { term: 1, index: 1, type: EntryType.ConfChange, data }
}
