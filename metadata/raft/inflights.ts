// The in-flight window of AppendEntries sent to one follower and not yet acknowledged (etcd
// tracker/inflights.go). Pipelining sends the next batch before the previous one is acknowledged; the
// window bounds how far ahead the leader may run, in messages and in bytes, so a slow follower cannot
// make the leader buffer without limit.
import { assert } from './assert.js'

interface Inflight {
  index: number // last entry index of the message
  bytes: number
}

export class Inflights {
  private readonly items: Inflight[] = []
  private bytesTotal = 0

  constructor (readonly countMax: number, readonly bytesMax: number) {
    assert(countMax > 0, 'inflights: countMax must be positive')
    assert(bytesMax > 0, 'inflights: bytesMax must be positive')
  }

  add (index: number, bytes: number): void {
    assert(!this.full(), 'inflights: add to a full window')
    const last = this.items[this.items.length - 1]
    assert(last === undefined || index > last.index, 'inflights: indexes must increase')
    this.items.push({ index, bytes })
    this.bytesTotal += bytes
  }

  // Frees every message whose last index is ≤ index (they are acknowledged).
  freeLE (index: number): void {
    let n = 0
    while (n < this.items.length && (this.items[n] as Inflight).index <= index) {
      this.bytesTotal -= (this.items[n] as Inflight).bytes
      n++
    }
    if (n > 0) this.items.splice(0, n)
    assert(this.bytesTotal >= 0, 'inflights: negative byte count')
  }

  freeFirst (): void {
    const first = this.items[0]
    if (first !== undefined) this.freeLE(first.index)
  }

  full (): boolean {
    return this.items.length >= this.countMax || this.bytesTotal >= this.bytesMax
  }

  count (): number {
    return this.items.length
  }

  bytes (): number {
    return this.bytesTotal
  }

  reset (): void {
    this.items.length = 0
    this.bytesTotal = 0
  }
}
