// Entries and a snapshot the core has accepted but the application has not yet persisted (etcd
// log_unstable.go). The next Ready hands them out; advance() marks them stable.
// Invariants: entries are contiguous and start at `offset`; a snapshot, if any, ends at offset - 1.
import { assert } from './assert.js'
import type { Entry, Snapshot } from './messages.js'

export class Unstable {
  snapshot: Snapshot | null = null
  entries: Entry[] = []
  offset: number

  constructor (offset: number) {
    assert(offset >= 1, 'unstable: offset must be ≥ 1')
    this.offset = offset
  }

  maybeFirstIndex (): number | null {
    return this.snapshot !== null ? this.snapshot.metadata.index + 1 : null
  }

  maybeLastIndex (): number | null {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1
    return this.snapshot !== null ? this.snapshot.metadata.index : null
  }

  maybeTerm (index: number): number | null {
    if (index < this.offset) {
      if (this.snapshot !== null && this.snapshot.metadata.index === index) return this.snapshot.metadata.term
      return null
    }
    const entry = this.entries[index - this.offset]
    return entry === undefined ? null : entry.term
  }

  // The application persisted entries up to (index, term): drop them, unless a new leader replaced them
  // in the meantime (then the term no longer matches and they stay unstable).
  stableTo (index: number, term: number): void {
    const t = this.maybeTerm(index)
    if (t === null || t !== term || index < this.offset) return
    this.entries = this.entries.slice(index + 1 - this.offset)
    this.offset = index + 1
  }

  stableSnapshotTo (index: number): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === index) this.snapshot = null
  }

  restore (snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1
    this.entries = []
    this.snapshot = snapshot
  }

  // Appends entries, first cutting any suffix they replace (paper §5.3: a conflicting entry and all
  // that follow it are deleted).
  truncateAndAppend (entries: Entry[]): void {
    const first = entries[0]
    if (first === undefined) return
    const after = first.index
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(entries)
    } else if (after <= this.offset) {
      // Replaces everything unstable; the application will overwrite the persisted suffix too.
      this.offset = after
      this.entries = entries.slice()
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(entries)
    }
    this.checkInvariants()
  }

  slice (lo: number, hi: number): Entry[] {
    assert(lo >= this.offset && hi <= this.offset + this.entries.length && lo <= hi, `unstable: slice [${lo}, ${hi}) out of bounds`)
    return this.entries.slice(lo - this.offset, hi - this.offset)
  }

  checkInvariants (): void {
    for (let i = 0; i < this.entries.length; i++) {
      assert((this.entries[i] as Entry).index === this.offset + i, 'unstable: entries not contiguous')
    }
    if (this.snapshot !== null) assert(this.snapshot.metadata.index < this.offset, 'unstable: snapshot beyond offset')
  }
}
