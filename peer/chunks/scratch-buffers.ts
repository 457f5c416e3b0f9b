// Reusable buffers of one size for bytes that live only for the length of a call: the sealed blocks a
// small read preads and decrypts at once. Every ArrayBuffer allocated counts towards V8's next full
// collection, whatever its life: random 4 KiB reads, each preading a fresh 64 KiB block, ran a
// mark-compact every ~100 reads.

export class ScratchBuffers {
  private readonly free: Buffer[] = []

  constructor (readonly bytes: number, private readonly keptMax: number) {
    if (!Number.isSafeInteger(bytes) || bytes < 1 || !Number.isSafeInteger(keptMax) || keptMax < 0) throw new RangeError(`bad scratch buffers ${bytes} × ${keptMax}`)
  }

  /** A buffer of `bytes` (contents undefined): a kept one, else a new one. */
  take (): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bytes)
  }

  /** Hands back a buffer from take() that nothing reads or writes any more. */
  give (buffer: Buffer): void {
    if (buffer.length !== this.bytes) throw new RangeError(`a buffer of ${buffer.length} bytes is not one of these ${this.bytes}`)
    if (this.free.length < this.keptMax) this.free.push(buffer)
  }
}
