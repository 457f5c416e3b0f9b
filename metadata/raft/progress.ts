// The leader's view of one follower (etcd tracker/progress.go, thesis §3.5 and §10.2.1):
//  - probe: the leader does not know where the follower's log matches; one append at a time, and the
//    reply (or its rejection hint) moves next back;
//  - replicate: the logs match up to `match`; appends are pipelined (next is advanced optimistically)
//    within the Inflights window;
//  - snapshot: the follower needs a snapshot; appends pause while the chunks flow (heartbeats do not).
// Invariant: 0 ≤ match < next.
import { assert } from './assert.js'
import { Inflights } from './inflights.js'

export type ProgressState = 'probe' | 'replicate' | 'snapshot'

// An InstallSnapshot transfer in progress, sent in bounded chunks (thesis §5.1 offset/done).
export interface SnapshotTransfer {
  index: number
  term: number
  bytesTotal: number
  offsetSent: number // bytes sent so far (may be ahead of the acknowledgement)
  offsetAcked: number // the follower's next expected offset, as last reported
  finalSent: boolean // the last chunk went out; nothing more to send until an ack or a rewind
  ackedAtLastBeat: number // offsetAcked at the previous heartbeat: no change means the transfer stalled
}

export class Progress {
  match = 0
  next: number
  state: ProgressState = 'probe'
  // probe: an append was sent and not yet answered; nothing more until a reply or a heartbeat reply.
  probeSent = false
  // Set on any message from the follower; the leader's check-quorum reads and clears it (thesis §6.2).
  recentActive = false
  transfer: SnapshotTransfer | null = null
  readonly inflights: Inflights

  constructor (next: number, public isLearner: boolean, inflightCountMax: number, inflightBytesMax: number) {
    assert(next >= 1, 'progress: next must be ≥ 1')
    this.next = next
    this.inflights = new Inflights(inflightCountMax, inflightBytesMax)
  }

  private resetState (state: ProgressState): void {
    this.probeSent = false
    this.state = state
    this.transfer = null
    this.inflights.reset()
  }

  becomeProbe (): void {
    // After a snapshot the follower holds at least the snapshot's index.
    const floor = this.state === 'snapshot' && this.transfer !== null ? Math.max(this.match + 1, this.transfer.index + 1) : this.match + 1
    this.resetState('probe')
    this.next = floor
  }

  becomeReplicate (): void {
    this.resetState('replicate')
    this.next = this.match + 1
  }

  becomeSnapshot (index: number, term: number, bytesTotal: number): void {
    this.resetState('snapshot')
    this.transfer = { index, term, bytesTotal, offsetSent: 0, offsetAcked: 0, finalSent: false, ackedAtLastBeat: -1 }
  }

  // An acknowledgement of index n: returns whether match moved (a stale or duplicate ack does not).
  maybeUpdate (n: number): boolean {
    let updated = false
    if (this.match < n) {
      this.match = n
      updated = true
      this.probeSent = false
    }
    this.next = Math.max(this.next, n + 1)
    return updated
  }

  // Pipelining: assume the append of entries up to n will succeed.
  optimisticUpdate (n: number): void {
    assert(this.state === 'replicate', 'optimistic update outside replicate')
    this.next = n + 1
  }

  // A rejection of the append at index `rejected`, with the follower's hint (paper §5.3's fast backoff,
  // etcd's MaybeDecrTo). Returns false for a stale rejection, which must be ignored.
  maybeDecrTo (rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.probeSent = false
    return true
  }

  isPaused (): boolean {
    switch (this.state) {
      case 'probe': return this.probeSent
      case 'replicate': return this.inflights.full()
      case 'snapshot': return true
    }
  }

  checkInvariants (): void {
    assert(this.match >= 0 && this.match < this.next, `progress: match ${this.match} < next ${this.next} violated`)
    assert((this.state === 'snapshot') === (this.transfer !== null), 'progress: transfer iff snapshot state')
    assert(this.state === 'replicate' || this.inflights.count() === 0, 'progress: inflights only in replicate')
  }
}
