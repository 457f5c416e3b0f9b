// Plaintext blocks the cache let go of, handed back in batches to the worker that decrypts, to be
// decrypted into again. Reading 1 GiB otherwise allocates 1 GiB of fresh ArrayBuffers on the JS thread,
// and V8 counts them towards its next full collection: a cold sequential read ran one mark-compact per
// ~16 MiB. Moving a buffer to the worker empties (detaches) it here, so a reader still holding an
// evicted block sees an empty one and asks again (CachedChunkReader); it never sees reused bytes.
import { BLOCK_BYTES } from './sealed-chunk.js'

const BATCH_BLOCKS = 16

export class BlockRecycler {
  private batch = new Set<ArrayBuffer>()

  constructor (private readonly send: (buffers: ArrayBuffer[]) => void) {}

  /** Takes a block evicted from the cache; keeps only whole blocks that own their memory. */
  give (block: Buffer): void {
    const buffer = block.buffer
    if (!(buffer instanceof ArrayBuffer) || block.byteOffset !== 0 || block.length !== BLOCK_BYTES || buffer.byteLength !== BLOCK_BYTES) return
    this.batch.add(buffer)
    if (this.batch.size < BATCH_BLOCKS) return
    const buffers = [...this.batch]
    this.batch = new Set()
    this.send(buffers)
  }
}
