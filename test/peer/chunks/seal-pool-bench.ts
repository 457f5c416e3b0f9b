// Does sealing on worker threads pay on this machine? Compares hashing + sealing 4 MiB chunks on the
// JS thread against SealPool, by throughput and by how long the JS thread is blocked (event-loop
// delay: what a FUSE op waiting behind the seal would feel). Run: node dist/test/peer/chunks/seal-pool-bench.js
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { KEY_BYTES, randomBytes } from '../../../native/crypto.js'
import { chunkIdOf } from '../../../peer/chunks/chunk-id.js'
import { SealPool } from '../../../peer/chunks/seal-pool.js'
import { CHUNK_BYTES, sealChunk } from '../../../peer/chunks/sealed-chunk.js'

const MiB = 1024 * 1024
const CHUNKS = 64
const IN_FLIGHT = 4

export interface SealBenchLine { readonly label: string, readonly mibPerSecond: number, readonly loopDelayP99Ms: number, readonly loopDelayMaxMs: number }

export async function runSealPoolBench (): Promise<SealBenchLine[]> {
  const keys = { encryptionKey: randomBytes(KEY_BYTES), idKey: randomBytes(KEY_BYTES) }
  const plaintexts = Array.from({ length: 8 }, () => randomBytes(CHUNK_BYTES))
  const lines: SealBenchLine[] = []
  lines.push(await measure('JS thread', async (index) => {
    await new Promise((resolve) => setImmediate(resolve)) // let the loop breathe between chunks, as a daemon would
    const plaintext = plaintexts[index % plaintexts.length]!
    sealChunk(plaintext, chunkIdOf(plaintext, keys.idKey), keys.encryptionKey)
  }))
  for (const workers of [1, 2]) {
    const pool = new SealPool(keys, workers)
    await pool.seal(plaintexts[0]!) // start-up cost is not the steady state
    lines.push(await measure(`pool of ${workers}`, async (index) => { await pool.seal(plaintexts[index % plaintexts.length]!) }))
    await pool.close()
  }
  return lines
}

async function measure (label: string, sealOne: (index: number) => Promise<void>): Promise<SealBenchLine> {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  const start = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < CHUNKS) await sealOne(next++)
  }))
  const seconds = (performance.now() - start) / 1000
  histogram.disable()
  return { label, mibPerSecond: CHUNKS * CHUNK_BYTES / MiB / seconds, loopDelayP99Ms: histogram.percentile(99) / 1e6, loopDelayMaxMs: histogram.max / 1e6 }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const line of await runSealPoolBench()) {
    console.log(`${line.label.padEnd(10)} ${line.mibPerSecond.toFixed(0).padStart(5)} MiB/s  event-loop delay p99 ${line.loopDelayP99Ms.toFixed(1)} ms, max ${line.loopDelayMaxMs.toFixed(1)} ms`)
  }
}
