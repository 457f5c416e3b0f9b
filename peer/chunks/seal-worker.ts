// Worker side of seal-pool.ts: hashes and seals chunks off the JS thread that answers FUSE.
import { parentPort, workerData } from 'node:worker_threads'
import { chunkIdOf } from './chunk-id.js'
import { sealChunk } from './sealed-chunk.js'

export interface SealRequest { readonly job: number, readonly plaintext: Uint8Array }
export type SealResponse = { readonly job: number, readonly id: Uint8Array, readonly sealed: Uint8Array } | { readonly job: number, readonly error: string }

const { encryptionKey, idKey } = workerData as { encryptionKey: Uint8Array, idKey: Uint8Array }
const port = parentPort
if (port === null) throw new Error('seal-worker must run as a worker thread')

port.on('message', (request: SealRequest) => {
  try {
    const id = chunkIdOf(request.plaintext, idKey)
    const sealed = sealChunk(request.plaintext, id, encryptionKey)
    const response: SealResponse = { job: request.job, id, sealed }
    // Transfer (no copy) only a buffer that owns its memory: a small one lives in Node's shared pool.
    const owned = sealed.byteOffset === 0 && sealed.buffer.byteLength === sealed.length
    port.postMessage(response, owned ? [sealed.buffer as ArrayBuffer] : [])
  } catch (error) {
    port.postMessage({ job: request.job, error: String(error) } satisfies SealResponse)
  }
})
