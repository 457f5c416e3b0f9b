// The log as the core sees it: persisted entries (Storage) followed by unstable ones (etcd log.go).
// Invariant: firstIndex - 1 ≤ applied ≤ committed ≤ lastIndex.
import { assert } from './assert.js'
import { Unstable } from './unstable.js'
import { CompactedError, UnavailableError } from './storage.js'
import type { Storage } from './storage.js'
import { entryBytes } from './messages.js'
import type { Entry, Snapshot } from './messages.js'

export class RaftLog {
  readonly unstable: Unstable
  committed: number
  applied: number

  constructor (readonly storage: Storage) {
    const first = storage.firstIndex()
    const last = storage.lastIndex()
    this.unstable = new Unstable(last + 1)
    // A snapshot is of committed state, so it bounds commit and applied from below on restart.
    const floor = Math.max(first - 1, storage.snapshot().metadata.index)
    this.committed = floor
    this.applied = floor
  }

  firstIndex (): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex()
  }

  lastIndex (): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex()
  }

  lastTerm (): number {
    return this.term(this.lastIndex())
  }

  // Term of entry i; throws CompactedError/UnavailableError outside [firstIndex - 1, lastIndex].
  term (index: number): number {
    const dummy = this.firstIndex() - 1
    if (index < dummy) throw new CompactedError(index)
    if (index > this.lastIndex()) throw new UnavailableError(index)
    const t = this.unstable.maybeTerm(index)
    if (t !== null) return t
    return this.storage.term(index)
  }

  // Term of entry i, or 0 if it is compacted or beyond the log (for comparisons only).
  termOrZero (index: number): number {
    // Checked first: the follower asks this for every new entry of an append, and constructing the
    // exception (stack trace) dominated a busy follower's CPU profile.
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return 0
    try {
      return this.term(index)
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return 0
      throw err
    }
  }

  matchTerm (index: number, term: number): boolean {
    return this.termOrZero(index) === term && (term !== 0 || index === 0)
  }

  // Paper §5.4.1: a candidate's log is at least as up-to-date as ours.
  isUpToDate (lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm()
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex())
  }

  // The first entry that conflicts with ours (same index, different term) or is new; 0 if none.
  findConflict (entries: Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index
    }
    return 0
  }

  // The largest index ≤ index whose term is ≤ term, with that term (fast backoff, thesis §3.5 and
  // etcd findConflictByTerm). The walk is bounded by the log length.
  findConflictByTerm (index: number, term: number): { index: number, term: number } {
    let i = Math.min(index, this.lastIndex())
    const floor = this.firstIndex() - 1
    for (; i >= floor; i--) {
      const t = this.termOrZero(i)
      if (t <= term) return { index: i, term: t }
    }
    return { index: Math.max(floor, 0), term: 0 }
  }

  // The follower side of AppendEntries (paper §5.3). Returns null if the consistency check fails,
  // else the last index covered by the message and the entries actually written (a conflicting
  // suffix replaced, already-present entries skipped).
  maybeAppend (index: number, logTerm: number, committed: number, entries: Entry[]): { lastNewIndex: number, written: Entry[] } | null {
    if (!this.matchTerm(index, logTerm)) return null
    const lastNewIndex = index + entries.length
    const conflict = this.findConflict(entries)
    let written: Entry[] = []
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} conflicts with committed entry ${this.committed}`)
      written = entries.slice(conflict - (index + 1))
      this.append(written)
    }
    // Paper Fig. 2: commitIndex = min(leaderCommit, index of last new entry).
    this.commitTo(Math.min(committed, lastNewIndex))
    return { lastNewIndex, written }
  }

  append (entries: Entry[]): number {
    const first = entries[0]
    if (first === undefined) return this.lastIndex()
    assert(first.index - 1 >= this.committed, `append at ${first.index} would overwrite committed ${this.committed}`)
    this.unstable.truncateAndAppend(entries)
    return this.lastIndex()
  }

  // Entries [lo, hi) bounded by maxBytes (at least one).
  slice (lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return []
    if (lo < this.firstIndex()) throw new CompactedError(lo)
    assert(hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) beyond last index ${this.lastIndex()}`)
    const out: Entry[] = []
    const unstableFrom = this.unstable.offset
    if (lo < unstableFrom) {
      const stored = this.storage.entries(lo, Math.min(hi, unstableFrom), maxBytes)
      out.push(...stored)
      // Storage stopped early because of maxBytes.
      if (stored.length < Math.min(hi, unstableFrom) - lo) return out
    }
    if (hi > unstableFrom) {
      let bytes = out.reduce((sum, e) => sum + entryBytes(e), 0)
      for (const e of this.unstable.slice(Math.max(lo, unstableFrom), hi)) {
        bytes += entryBytes(e)
        if (out.length > 0 && bytes > maxBytes) break
        out.push(e)
      }
    }
    return out
  }

  entriesFrom (lo: number, maxBytes: number): Entry[] {
    if (lo > this.lastIndex()) return []
    return this.slice(lo, this.lastIndex() + 1, maxBytes)
  }

  // Paper §5.4.2: only entries of the current term are committed by counting replicas.
  maybeCommit (maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex)
      return true
    }
    return false
  }

  commitTo (index: number): void {
    if (index <= this.committed) return // never decrease commit
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`)
    this.committed = index
  }

  appliedTo (index: number): void {
    if (index === 0) return
    assert(index >= this.applied && index <= this.committed, `applied ${index} outside [${this.applied}, ${this.committed}]`)
    this.applied = index
  }

  hasNextCommittedEntries (): boolean {
    return this.committed > this.applied
  }

  nextCommittedEntries (maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return []
    return this.slice(this.applied + 1, this.committed + 1, maxBytes)
  }

  snapshot (): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot()
  }

  // The application restores its state machine from the snapshot before applying any committed entry
  // of the same Ready, so applied moves to the snapshot's index here.
  restore (snapshot: Snapshot): void {
    assert(snapshot.metadata.index > this.committed, 'restore: snapshot must be ahead of commit')
    this.committed = snapshot.metadata.index
    this.applied = snapshot.metadata.index
    this.unstable.restore(snapshot)
  }

  checkInvariants (): void {
    const first = this.firstIndex()
    const last = this.lastIndex()
    assert(first - 1 <= this.applied, `log: applied ${this.applied} below first index ${first}`)
    assert(this.applied <= this.committed, `log: applied ${this.applied} > committed ${this.committed}`)
    assert(this.committed <= last, `log: committed ${this.committed} > last ${last}`)
    this.unstable.checkInvariants()
  }
}
