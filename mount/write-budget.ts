// The daemon-wide bound on buffered file bytes (dirty chunk buffers plus chunks being sealed). Writers
// past the bound wait until others' bytes are sealed and released: backpressure on FUSE writes keeps the
// daemon's memory flat however much is copied at once.
//
// It also keeps a few whole-chunk buffers for reuse. Every ArrayBuffer allocated counts towards V8's next
// full collection, and a stream of fresh 4 MiB buffers made one every ~50 ms while writing.
import { CHUNK_BYTES } from '../metadata/fs/inode.js'

/**
 * Whole-chunk buffers kept for reuse, enough for a streaming writer's seals in flight and its next
 * chunk; none once nothing is buffered, so an idle daemon holds none.
 */
const CHUNK_BUFFERS_KEPT_MAX = 5

export class WriteBudget {
  readonly bytesMax: number
  private bytesUsed = 0
  private readonly waiters: Array<() => void> = []
  private readonly chunkBuffers: Buffer[] = []

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
    if (this.bytesUsed === 0) this.chunkBuffers.length = 0
    while (this.waiters.length > 0 && !this.exhausted) this.waiters.shift()!()
  }

  /**
   * A buffer of CHUNK_BYTES (contents undefined), reused when one was recycled. The caller accounts for
   * it with take() like any other buffer.
   */
  chunkBuffer (): Buffer {
    return this.chunkBuffers.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES)
  }

  /** Hands back a buffer from chunkBuffer() that nothing reads or writes any more (before give()). */
  recycle (buffer: Buffer): void {
    if (buffer.length === CHUNK_BYTES && buffer.byteOffset === 0 && this.chunkBuffers.length < CHUNK_BUFFERS_KEPT_MAX) this.chunkBuffers.push(buffer)
  }

  /** Resolves when usage is below the bound (at once if it already is). */
  async waitForRoom (): Promise<void> {
    while (this.exhausted) await new Promise<void>((resolve) => this.waiters.push(resolve))
  }
}
