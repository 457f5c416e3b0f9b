// Latency histograms with fixed buckets, as Prometheus histograms want them: a count per upper bound
// (cumulative when read), a sum and a count. Pure and allocation-free per observation, so the FUSE
// dispatch and the Raft proposal path can record every operation.

/** Upper bounds in seconds, from a page-cache hit (0.1 ms) to a stalled election (10 s). */
export const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

export interface HistogramSnapshot {
  /** Observations ≤ each bound of LATENCY_BUCKETS_SECONDS (cumulative), then +Inf (= count). */
  buckets: number[]
  sumSeconds: number
  count: number
}

export class LatencyHistogram {
  private readonly counts = new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0)
  private sumSeconds = 0
  private count = 0

  observe (seconds: number): void {
    let bucket = LATENCY_BUCKETS_SECONDS.findIndex((bound) => seconds <= bound)
    if (bucket === -1) bucket = LATENCY_BUCKETS_SECONDS.length
    this.counts[bucket]!++
    this.sumSeconds += seconds
    this.count++
  }

  snapshot (): HistogramSnapshot {
    let running = 0
    const buckets = this.counts.map((count) => (running += count))
    return { buckets, sumSeconds: this.sumSeconds, count: this.count }
  }
}

/** One histogram per name (a FUSE operation, say), made on first use. */
export class LatencyRecorder {
  private readonly histograms = new Map<string, LatencyHistogram>()

  observe (name: string, seconds: number): void {
    let histogram = this.histograms.get(name)
    if (histogram === undefined) {
      histogram = new LatencyHistogram()
      this.histograms.set(name, histogram)
    }
    histogram.observe(seconds)
  }

  snapshot (): Record<string, HistogramSnapshot> {
    return Object.fromEntries([...this.histograms].sort(([a], [b]) => a.localeCompare(b)).map(([name, histogram]) => [name, histogram.snapshot()]))
  }
}
