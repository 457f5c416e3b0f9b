// Hashing and sealing a 4 MiB chunk costs ~6.5 ms of CPU (STACK.md §2); on the JS thread that answers
// FUSE every other operation waits that long. SealPool runs it on worker threads instead.
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { ChunkId } from './chunk-id.js'
import { ChunkCorruptError } from './sealed-chunk.js'
import type { BlockRange, ChunkKeys, ChunkLayout } from './sealed-chunk.js'
import type { SealRequest, SealResponse } from './seal-worker.js'

export const SEAL_WORKERS_DEFAULT = Math.max(1, availableParallelism() - 1) // leave a core for the JS thread

export interface SealedChunk { readonly id: ChunkId, readonly sealed: Buffer }

interface Job { resolve: (response: SealResponse) => void, reject: (error: Error) => void }

export class SealPool {
  private readonly workers: Worker[]
  private readonly jobs = new Map<number, Job>()
  private readonly load: number[] // jobs in flight per worker
  private nextJob = 0
  private failure: Error | null = null // set when a worker dies or the pool closes: later seals fail fast

  constructor (keys: ChunkKeys, workerCount = SEAL_WORKERS_DEFAULT) {
    if (!Number.isSafeInteger(workerCount) || workerCount < 1) throw new RangeError(`bad workerCount ${workerCount}`)
    const workerData = { encryptionKey: keys.encryptionKey, idKey: keys.idKey }
    this.workers = Array.from({ length: workerCount }, () => new Worker(new URL('./seal-worker.js', import.meta.url), { workerData }))
    this.load = this.workers.map(() => 0)
    this.workers.forEach((worker, index) => {
      worker.on('message', (response: SealResponse) => { this.load[index]!--; this.settle(response) })
      worker.on('error', (error) => { this.failAll(error) })
      worker.on('exit', (code) => { this.failAll(new Error(`seal worker exited with code ${code}`)) })
    })
  }

  /** The id and sealed bytes of `plaintext` (copied to the worker; the caller keeps its buffer). */
  async seal (plaintext: Uint8Array): Promise<SealedChunk> {
    const response = await this.run((job) => ({ kind: 'seal', job, plaintext }), [])
    if (!('sealed' in response)) throw new Error('seal worker answered a seal with something else')
    return { id: toBuffer(response.id), sealed: toBuffer(response.sealed) }
  }

  /**
   * Authenticates and decrypts the blocks of `range` from their sealed bytes, as openBlocks does; the
   * sealed buffer is handed over to the worker (the caller must not use it afterwards).
   */
  async open (layout: ChunkLayout, range: BlockRange, sealed: Uint8Array, id: Uint8Array): Promise<Buffer[]> {
    const transfer = sealed.byteOffset === 0 && sealed.buffer.byteLength === sealed.length ? [sealed.buffer as ArrayBuffer] : []
    const response = await this.run((job) => ({ kind: 'open', job, layout, range, sealed, id }), transfer)
    if (!('blocks' in response)) throw new Error('seal worker answered an open with something else')
    return response.blocks.map(toBuffer)
  }

  /**
   * Verifies sealed bytes from elsewhere in full, as ChunkStore.openSealed does (ChunkCorruptError when
   * they do not open), off this thread: a 4 MiB chunk is ~7 ms of decryption and hashing. The bytes are
   * copied, not handed over: the caller may still be sending them on down a chain. With `blocks`, the
   * plaintext that verifying produced comes back too, block by block; otherwise null.
   */
  async verify (id: Uint8Array, sealed: Uint8Array, blocks = false): Promise<Buffer[] | null> {
    const response = await this.run((job) => ({ kind: 'verify', job, sealed, id, blocks }), [])
    if (!('verified' in response)) throw new Error('seal worker answered a verify with something else')
    return response.plaintextBlocks?.map(toBuffer) ?? null
  }

  /**
   * Hands whole-block buffers that nothing reads any more to a worker, to decrypt into again. Moving
   * them empties (detaches) them here, so memory the cache let go of is reused instead of waiting for
   * the collector, and no fresh ArrayBuffer counts towards V8's next full collection.
   */
  recycle (buffers: ArrayBuffer[]): void {
    if (this.failure !== null || buffers.length === 0) return
    try {
      this.workers[this.leastLoaded()]!.postMessage({ kind: 'spares', buffers } satisfies SealRequest, buffers)
    } catch {
      // One of them could not be moved (already detached): the collector takes them instead.
    }
  }

  private async run (request: (job: number) => SealRequest, transfer: ArrayBuffer[]): Promise<SealResponse> {
    if (this.failure !== null) throw this.failure
    const job = this.nextJob++
    const index = this.leastLoaded()
    this.load[index]!++
    return await new Promise<SealResponse>((resolve, reject) => {
      this.jobs.set(job, { resolve, reject })
      this.workers[index]!.postMessage(request(job), transfer)
    })
  }

  private leastLoaded (): number {
    return this.load.indexOf(Math.min(...this.load))
  }

  async close (): Promise<void> {
    this.failAll(new Error('seal pool closed'))
    await Promise.all(this.workers.map(async (worker) => await worker.terminate()))
  }

  private settle (response: SealResponse): void {
    const job = this.jobs.get(response.job)
    if (job === undefined) return
    this.jobs.delete(response.job)
    if ('error' in response) job.reject(response.corrupt ? new ChunkCorruptError(response.error) : new Error(response.error))
    else job.resolve(response)
  }

  private failAll (error: Error): void {
    this.failure ??= error
    for (const job of this.jobs.values()) job.reject(error)
    this.jobs.clear()
  }
}

function toBuffer (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
