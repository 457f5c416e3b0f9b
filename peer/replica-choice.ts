// Which holder to ask for a chunk, learned from how each peer answered before. Every fetch is observed:
// the time it took per MiB (an exponentially weighted mean, forgotten after a minute without news so a
// peer that was slow once gets asked again), no answer within some time (a timeout, a lost connection,
// a hedge that fired: at least that slow), and a copy that failed verification (the peer is distrusted
// for ten minutes). Holders are asked in the order they would likely answer — (requests already
// waiting on the peer + 1) × its time per chunk — with distrusted peers last: still asked when nobody
// else has the chunk, since every copy is verified anyway. A peer not heard from lately is assumed as
// fast as the fastest one known, so that a read-ahead keeping two holders busy spreads over both
// instead of queueing behind the one that answered first. Equal estimates put known peers first, then
// keep the order given (rendezvous order). If the first holder has not answered within a few times its
// expected time, a second one is asked as well (a hedged request): a slow or stalled link costs that
// delay, not the request timeout. Pure: the caller passes the clock.

export const MIB = 1024 * 1024
/** Assumed for a peer not asked lately while no peer is known at all. */
export const UNKNOWN_MS_PER_MIB = 50
/** Weight of the newest observation in the mean. */
export const NEWEST_WEIGHT = 0.3
/** An estimate without news for this long is forgotten (the peer is probed again). */
export const ESTIMATE_TTL_MS = 60_000
export const DISTRUST_MS = 10 * 60_000
/** The chunk size a fetch is assumed to move (the size is only known once it arrives). */
export const ASSUMED_CHUNK_BYTES = 4 * MIB
/** A hedge fires after this many times the expected answer time, within the bounds below. */
export const HEDGE_FACTOR = 4
export const HEDGE_DELAY_MIN_MS = 400
export const HEDGE_DELAY_MAX_MS = 2_000

interface Estimate {
  msPerMib: number
  atMs: number
}

export class ReplicaChoice {
  private readonly estimates = new Map<string, Estimate>()
  private readonly distrustedUntil = new Map<string, number>()
  private readonly lastAnswerMs = new Map<string, number>()

  /**
   * A fetch from `peer`, asked at `askedMs`, brought `bytes` at `nowMs`. Answers from one peer share its
   * connection and arrive one after another, so the time counted is from the later of the ask and that
   * peer's previous answer: a request queued behind another does not make the peer look slower.
   */
  answered (peer: string, askedMs: number, bytes: number, nowMs: number): void {
    const ms = Math.max(0, nowMs - Math.max(askedMs, this.lastAnswerMs.get(peer) ?? -Infinity)) // a clock stepped back counts as 0
    this.lastAnswerMs.set(peer, nowMs)
    this.record(peer, ms / Math.max(bytes / MIB, 1 / 16), nowMs) // tiny chunks count as 64 KiB: latency, not bandwidth
  }

  /**
   * `peer` has not answered a fetch within `ms` (it timed out, lost its connection, or a hedge fired):
   * it is at least as slow as a whole chunk in that time.
   */
  unanswered (peer: string, ms: number, nowMs: number): void {
    this.record(peer, Math.max(this.msPerMib(peer, nowMs), ms / (ASSUMED_CHUNK_BYTES / MIB)), nowMs)
  }

  /** `peer` sent a copy that failed verification. */
  misbehaved (peer: string, nowMs: number): void {
    this.distrustedUntil.set(peer, nowMs + DISTRUST_MS)
  }

  distrusted (peer: string, nowMs: number): boolean {
    const until = this.distrustedUntil.get(peer)
    if (until === undefined) return false
    if (until > nowMs) return true
    this.distrustedUntil.delete(peer)
    return false
  }

  /** The current estimate for `peer`, in ms per MiB: for a peer not known, that of the fastest known. */
  msPerMib (peer: string, nowMs: number): number {
    return this.known(peer, nowMs)?.msPerMib ?? this.fastestKnownMsPerMib(nowMs)
  }

  /** How long a chunk request to `peer` should take, with `waiting` requests ahead of it there. */
  expectedMs (peer: string, waiting: number, nowMs: number): number {
    return (waiting + 1) * this.msPerMib(peer, nowMs) * (ASSUMED_CHUNK_BYTES / MIB)
  }

  /** `candidates` in the order to ask them: soonest expected answer first, distrusted peers last. */
  order (candidates: readonly string[], waiting: (peer: string) => number, nowMs: number): string[] {
    const scored = candidates.map((peer, index) => ({
      peer, index, distrusted: this.distrusted(peer, nowMs), known: this.known(peer, nowMs) !== undefined, ms: this.expectedMs(peer, waiting(peer), nowMs)
    }))
    scored.sort((a, b) => Number(a.distrusted) - Number(b.distrusted) || a.ms - b.ms || Number(b.known) - Number(a.known) || a.index - b.index)
    return scored.map((entry) => entry.peer)
  }

  /** How long to wait for `peer` before asking another holder as well. */
  hedgeDelayMs (peer: string, waiting: number, nowMs: number): number {
    return Math.min(HEDGE_DELAY_MAX_MS, Math.max(HEDGE_DELAY_MIN_MS, HEDGE_FACTOR * this.expectedMs(peer, waiting, nowMs)))
  }

  private known (peer: string, nowMs: number): Estimate | undefined {
    const estimate = this.estimates.get(peer)
    return estimate !== undefined && nowMs - estimate.atMs <= ESTIMATE_TTL_MS ? estimate : undefined
  }

  private fastestKnownMsPerMib (nowMs: number): number {
    const trusted = [...this.estimates.keys()].filter((peer) => !this.distrusted(peer, nowMs))
    const fastest = Math.min(...trusted.map((peer) => this.known(peer, nowMs)?.msPerMib ?? Infinity))
    return Number.isFinite(fastest) ? fastest : UNKNOWN_MS_PER_MIB
  }

  private record (peer: string, msPerMib: number, nowMs: number): void {
    const known = this.known(peer, nowMs)
    this.estimates.set(peer, { msPerMib: known !== undefined ? known.msPerMib + NEWEST_WEIGHT * (msPerMib - known.msPerMib) : msPerMib, atMs: nowMs })
  }
}
