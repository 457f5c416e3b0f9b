// Worker side of seal-pool.ts: hashes and seals chunks, and opens (authenticates and decrypts) runs of
// blocks, off the JS thread that answers FUSE.
import { parentPort, workerData } from 'node:worker_threads'
import { chunkIdOf } from './chunk-id.js'
import { BLOCK_BYTES, ChunkCorruptError, openBlocks, openChunk, parseHeader, sealChunk, splitBlocks } from './sealed-chunk.js'
import type { BlockAllocator, BlockRange, ChunkLayout } from './sealed-chunk.js'

export type SealRequest =
  | { readonly kind: 'seal', readonly job: number, readonly plaintext: Uint8Array }
  | { readonly kind: 'open', readonly job: number, readonly layout: ChunkLayout, readonly range: BlockRange, readonly sealed: Uint8Array, readonly id: Uint8Array }
  /** blocks: answer with the plaintext, block by block (a fetched copy about to be read). */
  | { readonly kind: 'verify', readonly job: number, readonly sealed: Uint8Array, readonly id: Uint8Array, readonly blocks: boolean }
  /** Memory of whole blocks the cache let go of, to decrypt into again (no answer). */
  | { readonly kind: 'spares', readonly buffers: ArrayBuffer[] }
export type SealResponse =
  | { readonly job: number, readonly id: Uint8Array, readonly sealed: Uint8Array }
  | { readonly job: number, readonly blocks: Uint8Array[] }
  | { readonly job: number, readonly verified: true, readonly plaintextBlocks: Uint8Array[] | null }
  | { readonly job: number, readonly error: string, readonly corrupt: boolean }

const { encryptionKey, idKey } = workerData as { encryptionKey: Uint8Array, idKey: Uint8Array }
const port = parentPort
if (port === null) throw new Error('seal-worker must run as a worker thread')

/** Whole-block buffers to decrypt into: enough for a read-ahead piece or two, the rest left to the collector. */
const SPARES_MAX = 64
const spares: ArrayBuffer[] = []
const allocate: BlockAllocator = (bytes) => {
  const spare = bytes === BLOCK_BYTES ? spares.pop() : undefined
  return spare !== undefined ? Buffer.from(spare) : Buffer.allocUnsafeSlow(bytes)
}

/** Transfer (no copy) only buffers that own their memory: a small one may live in Node's shared pool. */
function owned (bytes: Uint8Array): ArrayBuffer[] {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length ? [bytes.buffer as ArrayBuffer] : []
}

port.on('message', (request: SealRequest) => {
  if (request.kind === 'spares') {
    for (const buffer of request.buffers) if (spares.length < SPARES_MAX && buffer.byteLength === BLOCK_BYTES) spares.push(buffer)
    return
  }
  try {
    if (request.kind === 'open') {
      const blocks = openBlocks(request.layout, request.range, request.sealed, request.id, encryptionKey, allocate)
      port.postMessage({ job: request.job, blocks } satisfies SealResponse, blocks.flatMap(owned))
      return
    }
    if (request.kind === 'verify') {
      let plaintext: Buffer
      try {
        plaintext = openChunk(request.sealed, request.id, { encryptionKey, idKey })
      } catch (error) {
        // Whatever a peer sent, failing to open it means a bad copy (as ChunkStore.openSealed says).
        port.postMessage({ job: request.job, error: String((error as Error).message ?? error), corrupt: true } satisfies SealResponse)
        return
      }
      const blocks = request.blocks ? splitBlocks(plaintext, parseHeader(request.sealed), allocate) : null
      port.postMessage({ job: request.job, verified: true, plaintextBlocks: blocks } satisfies SealResponse, blocks?.flatMap(owned) ?? [])
      return
    }
    const id = chunkIdOf(request.plaintext, idKey)
    const sealed = sealChunk(request.plaintext, id, encryptionKey)
    port.postMessage({ job: request.job, id, sealed } satisfies SealResponse, owned(sealed))
  } catch (error) {
    port.postMessage({ job: request.job, error: String((error as Error).message ?? error), corrupt: error instanceof ChunkCorruptError } satisfies SealResponse)
  }
})
