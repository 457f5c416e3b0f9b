// Group-commit benchmark: fsync'd appends per second with 1, 16 and 256 concurrent appenders, next to
// the raw fdatasync rate of the same disk (the ceiling a WAL without group commit cannot pass). Each
// appender awaits its append before issuing the next, like a Raft node waiting for durability.
// Run: node dist/test/metadata/storage/wal-bench.js [directory]
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { performance } from 'node:perf_hooks'
import { Wal } from '../../../metadata/storage/wal.js'

export interface WalBenchOptions {
  /** Where to measure (a directory on the disk of interest); a fresh temp dir when omitted. */
  directory?: string
  concurrencies?: number[]
  /** Raw fdatasyncs to time for the ceiling. */
  rawSyncs?: number
  /** Appends per concurrency level (at least 100 per appender). */
  appendsPerRun?: number
  recordBytes?: number
}

export interface WalBenchRow {
  concurrency: number
  appends: number
  appendsPerSecond: number
  syncs: number
  recordsPerSync: number
}

export interface WalBenchResult {
  rawSyncsPerSecond: number
  rows: WalBenchRow[]
}

const RAW_WRITE_BYTES = 64

export async function runWalBench (options: WalBenchOptions = {}): Promise<WalBenchResult> {
  const root = options.directory ?? await mkdtemp(join(tmpdir(), 'swarmfs-wal-bench-'))
  try {
    const rawSyncsPerSecond = await measureRawSyncs(root, options.rawSyncs ?? 2000)
    const rows: WalBenchRow[] = []
    for (const concurrency of options.concurrencies ?? [1, 16, 256]) {
      const appends = Math.max(options.appendsPerRun ?? 4000, concurrency * 100)
      rows.push(await measureAppends(join(root, `wal-${concurrency}`), concurrency, appends, options.recordBytes ?? 100))
    }
    return { rawSyncsPerSecond, rows }
  } finally {
    if (options.directory === undefined) await rm(root, { recursive: true, force: true })
  }
}

/** Small positional write + fdatasync in a loop: what one un-batched durable append costs. */
async function measureRawSyncs (root: string, count: number): Promise<number> {
  const handle = await open(join(root, 'raw-fdatasync'), 'w')
  const bytes = Buffer.alloc(RAW_WRITE_BYTES, 1)
  try {
    const started = performance.now()
    for (let round = 0; round < count; round++) {
      await handle.write(bytes, 0, bytes.length, round * bytes.length)
      await handle.datasync()
    }
    return count / ((performance.now() - started) / 1000)
  } finally {
    await handle.close()
  }
}

async function measureAppends (directory: string, concurrency: number, appends: number, recordBytes: number): Promise<WalBenchRow> {
  await mkdir(directory, { recursive: true })
  const wal = await Wal.open(directory)
  const payload = Buffer.alloc(recordBytes, 7)
  const syncsBefore = wal.stats.syncs
  let next = 1
  const appender = async (): Promise<void> => {
    // Indexes are taken at call time, so calls from all appenders stay contiguous.
    while (next <= appends) await wal.append([{ index: next++, term: 1, data: payload }])
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, appender))
  const seconds = (performance.now() - started) / 1000
  const syncs = wal.stats.syncs - syncsBefore
  await wal.close()
  return { concurrency, appends, appendsPerSecond: appends / seconds, syncs, recordsPerSync: appends / syncs }
}

export function formatWalBench (result: WalBenchResult): string {
  const lines = [`raw fdatasync: ${Math.round(result.rawSyncsPerSecond)}/s (${(1e6 / result.rawSyncsPerSecond).toFixed(0)} µs each)`]
  for (const row of result.rows) {
    const ratio = row.appendsPerSecond / result.rawSyncsPerSecond
    lines.push(`appenders ${String(row.concurrency).padStart(3)}: ${Math.round(row.appendsPerSecond).toString().padStart(7)} fsync'd appends/s` +
      `  ${row.recordsPerSync.toFixed(1).padStart(6)} records/fdatasync  ×${ratio.toFixed(2)} raw fdatasync rate`)
  }
  return lines.join('\n')
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const directory = process.argv[2]
  console.log(formatWalBench(await runWalBench(directory === undefined ? {} : { directory })))
}
