// Chunk layer benchmark: MiB/s of put (hash + seal + write + fdatasync) of 4 MiB chunks, sequential read
// in FUSE-sized 128 KiB reads, and 4 KiB random-read IOPS — from the store (cold for the block cache;
// the page cache is warm, as on a busy peer), through the block cache, and, as the baseline the block
// format exists to beat, opening the whole chunk per read. Run: node dist/test/peer/chunks/chunk-bench.js
// [chunks] ; runChunkBench() is exported for `npm run bench`.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { KEY_BYTES, randomBytes } from '../../../native/crypto.js'
import { CachedChunkReader } from '../../../peer/chunks/cached-chunk-reader.js'
import { ChunkCache } from '../../../peer/chunks/chunk-cache.js'
import type { ChunkId } from '../../../peer/chunks/chunk-id.js'
import { ChunkStore } from '../../../peer/chunks/chunk-store.js'
import { SealPool } from '../../../peer/chunks/seal-pool.js'
import { CHUNK_BYTES, openChunk } from '../../../peer/chunks/sealed-chunk.js'

const MiB = 1024 * 1024
const SEQUENTIAL_READ_BYTES = 128 * 1024 // what FUSE sends with big_writes/readahead (STACK.md §1)
const RANDOM_READ_BYTES = 4 * 1024
const RANDOM_READ_MS = 1500 // per IOPS measurement
const CHUNKS_DEFAULT = 32 // 128 MiB
const PUTS_IN_FLIGHT = 2

export interface ChunkBenchOptions {
  readonly chunks?: number
  readonly readHandlesMax?: number
  readonly sealWorkers?: number // 0 (default): seal on the JS thread
}

export interface ChunkBenchResult {
  readonly putMiBps: number
  readonly putLoopDelayP99Ms: number // how long the JS thread (FUSE's) was blocked during puts
  readonly sequentialReadMiBps: number
  readonly randomReadIops: number // 4 KiB, QD1, store only (block cache cold)
  readonly randomReadIopsQueueDepth8: number
  readonly cachedRandomReadIops: number // 4 KiB, QD1, all blocks in the block cache
  readonly wholeChunkRandomReadIops: number // 4 KiB, QD1, opening the whole chunk per read (baseline)
}

export async function runChunkBench (options: ChunkBenchOptions = {}): Promise<ChunkBenchResult> {
  const chunks = options.chunks ?? CHUNKS_DEFAULT
  const dir = await mkdtemp(join(tmpdir(), 'swarmfs-chunk-bench-'))
  const keys = { encryptionKey: randomBytes(KEY_BYTES), idKey: randomBytes(KEY_BYTES) }
  const sealPool = (options.sealWorkers ?? 0) > 0 ? new SealPool(keys, options.sealWorkers) : null
  const store = await ChunkStore.open(dir, {
    ...keys,
    ...(options.readHandlesMax === undefined ? {} : { readHandlesMax: options.readHandlesMax }),
    ...(sealPool === null ? {} : { sealPool })
  })
  try {
    const plaintexts = Array.from({ length: chunks }, () => randomBytes(CHUNK_BYTES))
    const ids: ChunkId[] = []
    let next = 0
    const loopDelay = monitorEventLoopDelay({ resolution: 1 })
    loopDelay.enable()
    const putMs = await timed(async () => { // PUTS_IN_FLIGHT at once, as a write buffer with read-ahead sealing would
      await Promise.all(Array.from({ length: PUTS_IN_FLIGHT }, async () => {
        while (next < plaintexts.length) { const index = next++; ids[index] = await store.put(plaintexts[index]!) }
      }))
      await store.sync()
    })
    loopDelay.disable()
    const sequentialMs = await timed(async () => {
      for (const id of ids) {
        for (let offset = 0; offset < CHUNK_BYTES; offset += SEQUENTIAL_READ_BYTES) await store.read(id, offset, SEQUENTIAL_READ_BYTES)
      }
    })
    const randomRead = async (id: ChunkId, offset: number): Promise<unknown> => await store.read(id, offset, RANDOM_READ_BYTES)
    const cache = new ChunkCache({ bytesMax: (chunks + 1) * CHUNK_BYTES })
    const reader = new CachedChunkReader(store, cache)
    for (const id of ids) await reader.read(id, 0, CHUNK_BYTES) // warm every block
    const wholeChunk = async (id: ChunkId, offset: number): Promise<unknown> => openChunk(await store.readSealed(id), id, keys).subarray(offset, offset + RANDOM_READ_BYTES)
    return {
      putMiBps: chunks * CHUNK_BYTES / MiB / (putMs / 1000),
      putLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      sequentialReadMiBps: chunks * CHUNK_BYTES / MiB / (sequentialMs / 1000),
      randomReadIops: await iops(ids, 1, randomRead),
      randomReadIopsQueueDepth8: await iops(ids, 8, randomRead),
      cachedRandomReadIops: await iops(ids, 1, async (id, offset) => await reader.read(id, offset, RANDOM_READ_BYTES)),
      wholeChunkRandomReadIops: await iops(ids, 1, wholeChunk)
    }
  } finally {
    await store.close()
    await sealPool?.close()
    await rm(dir, { recursive: true, force: true })
  }
}

async function timed (work: () => Promise<void>): Promise<number> {
  const start = performance.now()
  await work()
  return performance.now() - start
}

/** 4 KiB reads at random aligned offsets of random chunks for RANDOM_READ_MS, `depth` in flight. */
async function iops (ids: ChunkId[], depth: number, read: (id: ChunkId, offset: number) => Promise<unknown>): Promise<number> {
  const deadline = performance.now() + RANDOM_READ_MS
  const start = performance.now()
  let count = 0
  await Promise.all(Array.from({ length: depth }, async () => {
    while (performance.now() < deadline) {
      const id = ids[Math.floor(Math.random() * ids.length)]!
      await read(id, Math.floor(Math.random() * (CHUNK_BYTES / RANDOM_READ_BYTES)) * RANDOM_READ_BYTES)
      count++
    }
  }))
  return count / ((performance.now() - start) / 1000)
}

async function main (): Promise<void> {
  const chunks = Number(process.argv[2] ?? CHUNKS_DEFAULT)
  for (const [readHandlesMax, sealWorkers] of [[64, 0], [0, 0], [64, 1]] as const) {
    const result = await runChunkBench({ chunks, readHandlesMax, sealWorkers })
    console.log(`chunk store (${chunks} × 4 MiB, read handles cached: ${readHandlesMax}, seal workers: ${sealWorkers})`)
    console.log(`  put 4 MiB chunks        ${result.putMiBps.toFixed(0)} MiB/s (event-loop delay p99 ${result.putLoopDelayP99Ms.toFixed(1)} ms)`)
    console.log(`  sequential read 128 KiB ${result.sequentialReadMiBps.toFixed(0)} MiB/s`)
    console.log(`  4 KiB random read QD1   ${result.randomReadIops.toFixed(0)} IOPS (block cache cold)`)
    console.log(`  4 KiB random read QD8   ${result.randomReadIopsQueueDepth8.toFixed(0)} IOPS (block cache cold)`)
    console.log(`  4 KiB random read QD1   ${result.cachedRandomReadIops.toFixed(0)} IOPS (block cache hot)`)
    console.log(`  4 KiB random read QD1   ${result.wholeChunkRandomReadIops.toFixed(0)} IOPS (baseline: open whole chunk per read)`)
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
