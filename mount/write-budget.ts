// The daemon-wide bound on buffered file bytes (dirty chunk buffers plus chunks being sealed). Writers
// past the bound wait until others' bytes are sealed and released: backpressure on FUSE writes keeps the
// daemon's memory flat however much is copied at once.

export class WriteBudget {
  readonly bytesMax: number
  private bytesUsed = 0
  private readonly waiters: Array<() => void> = []

  constructor (bytesMax: number) {
    this.bytesMax = bytesMax
  }

  get exhausted (): boolean {
    return this.bytesUsed >= this.bytesMax
  }

  take (bytes: number): void {
    this.bytesUsed += bytes
  }

  give (bytes: number): void {
    this.bytesUsed -= bytes
    if (this.bytesUsed < 0) throw new Error('write budget released more than it took')
    while (this.waiters.length > 0 && !this.exhausted) this.waiters.shift()!()
  }

  /** Resolves when usage is below the bound (at once if it already is). */
  async waitForRoom (): Promise<void> {
    while (this.exhausted) await new Promise<void>((resolve) => this.waiters.push(resolve))
  }
}
