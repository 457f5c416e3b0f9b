// Heartbeat failure detector: a peer whose beats go unanswered for `missesToSuspect` rounds is suspect,
// after `missesToDown` rounds (or when its connection is gone) it is down, and it is trusted again
// only after `acksToRecover` answers in a row, so a flapping peer does not flap the cluster's view.
// Pure: the caller passes the time in and sends the beats.

export type PeerState = 'up' | 'suspect' | 'down'

export interface DetectorSettings {
  timeoutMs: number
  missesToSuspect: number
  missesToDown: number
  acksToRecover: number
}

export const DEFAULT_DETECTOR: DetectorSettings = { timeoutMs: 1_000, missesToSuspect: 3, missesToDown: 10, acksToRecover: 3 }

interface Record {
  state: PeerState
  misses: number
  acks: number // answers in a row since the last miss
  outstanding: Map<number, number> // beat sequence → sent at (ms)
  lastAckMs: number | null
}

export class FailureDetector {
  private readonly settings: DetectorSettings
  private readonly peers = new Map<string, Record>()

  constructor (settings: DetectorSettings = DEFAULT_DETECTOR) {
    this.settings = settings
  }

  /** A newly admitted connection: a peer never seen is up at once; one that failed must earn it back. */
  connected (peer: string): void {
    if (!this.peers.has(peer)) this.peers.set(peer, { state: 'up', misses: 0, acks: 0, outstanding: new Map(), lastAckMs: null })
  }

  disconnected (peer: string): void {
    const record = this.peers.get(peer)
    if (record === undefined) return
    record.state = 'down'
    record.acks = 0
    record.outstanding.clear()
  }

  sent (peer: string, sequence: number, nowMs: number): void {
    this.peers.get(peer)?.outstanding.set(sequence, nowMs)
  }

  acked (peer: string, sequence: number, nowMs: number): void {
    const record = this.peers.get(peer)
    if (record === undefined || !record.outstanding.delete(sequence)) return // late, duplicate or unknown
    record.lastAckMs = nowMs
    record.misses = 0
    record.acks++
    if (record.state !== 'up' && record.acks >= this.settings.acksToRecover) record.state = 'up'
  }

  /** Counts every beat older than the timeout as a miss. */
  expire (nowMs: number): void {
    for (const record of this.peers.values()) {
      for (const [sequence, sentMs] of record.outstanding) {
        if (nowMs - sentMs < this.settings.timeoutMs) continue
        record.outstanding.delete(sequence)
        record.misses++
        record.acks = 0
        if (record.misses >= this.settings.missesToDown) record.state = 'down'
        else if (record.misses >= this.settings.missesToSuspect && record.state === 'up') record.state = 'suspect'
      }
    }
  }

  state (peer: string): PeerState {
    return this.peers.get(peer)?.state ?? 'down'
  }

  lastAckMs (peer: string): number | null {
    return this.peers.get(peer)?.lastAckMs ?? null
  }

  forget (peer: string): void {
    this.peers.delete(peer)
  }
}
