// Commits of closed files run in the background, a bounded number at a time, the way the kernel
// writes back dirty pages: close() returns at once, fsync() waits. A caller past the bound waits for
// a slot (backpressure), and `drain` waits for all of them (unmount, shutdown).

export class Writeback {
  private readonly inFlightMax: number
  private readonly inFlight = new Set<Promise<void>>()
  private readonly onError: (error: unknown) => void

  constructor (inFlightMax: number, onError: (error: unknown) => void) {
    this.inFlightMax = inFlightMax
    this.onError = onError
  }

  /** Starts `task` once fewer than the bound are running; resolves when it has started. */
  async schedule (task: () => Promise<void>): Promise<void> {
    while (this.inFlight.size >= this.inFlightMax) await Promise.race(this.inFlight)
    const running: Promise<void> = task().catch(this.onError).finally(() => { this.inFlight.delete(running) })
    this.inFlight.add(running)
  }

  async drain (): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight)
  }
}
