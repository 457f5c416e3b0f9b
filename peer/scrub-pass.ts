// One scrubbing pass over the chunks this peer stores: each is verified in full (every block opens, the
// plaintext hashes to its id) and a bad copy is replaced when another peer has a good one. The
// background scrubber spreads a pass over a period (a day by default), as HDFS's block scanner does,
// and never goes faster than a byte rate, so it never crowds out file traffic; a pass an operator asks
// for (`swarmfs scrub`) runs unpaced. Progress is counted in the caller's object.
import type { ChunkId } from './chunks/chunk-id.js'
import type { ChunkStore } from './chunks/chunk-store.js'
import { ChunkMissingError } from './chunks/chunk-store.js'
import type { PassProgress } from './pass-jobs.js'

export interface ScrubOutcome {
  /** Sealed bytes verified, or fetched for a lost copy (0 when a bad copy was replaced or it is gone). */
  bytes: number
  repaired: boolean
}

export interface ScrubPassOptions {
  /** Verifies one chunk; throws when a bad copy could not be replaced. */
  scrubOne: (id: ChunkId) => Promise<ScrubOutcome>
  /** Pace in sealed bytes per second at most; null: as fast as the disk answers. */
  bytesPerSecond: number | null
  /** Spreads the pass over this long: each chunk takes its share of it at least. null: not spread. */
  periodMs: number | null
  progress: PassProgress
  /** Asked before each chunk: true ends the pass early (stopping, or a requested pass comes first). */
  interrupted: () => boolean
  sleep: (ms: number) => Promise<void>
  onFailure: (id: ChunkId, error: unknown) => void
  now?: () => number
}

/** Every chunk id in the store, listed up front so that the pass has a total to report against. */
export async function storedChunks (store: ChunkStore): Promise<ChunkId[]> {
  const ids: ChunkId[] = []
  for await (const id of store.list()) ids.push(id)
  return ids
}

/** Runs the pass over `ids`; resolves true when it got through all of them, false when interrupted. */
export async function scrubPass (ids: readonly ChunkId[], options: ScrubPassOptions): Promise<boolean> {
  const { progress } = options
  const now = options.now ?? Date.now
  progress.chunksTotal = ids.length
  for (const id of ids) {
    if (options.interrupted()) return false
    const started = now()
    const bytes = await options.scrubOne(id).then((outcome) => {
      if (outcome.repaired) progress.fixed++
      return outcome.bytes
    }, (error: unknown) => {
      progress.failed++
      options.onFailure(id, error)
      return 0
    })
    progress.chunksDone++
    progress.bytesDone += bytes
    const byRate = options.bytesPerSecond === null ? 0 : bytes / options.bytesPerSecond * 1000
    const byPeriod = options.periodMs === null ? 0 : options.periodMs / ids.length
    const wait = Math.max(byRate, byPeriod) - (now() - started)
    if (wait > 0) await options.sleep(wait)
  }
  return true
}

/** Scrubbing for a peer running alone: a bad copy is reported, as no other peer could replace it. */
export async function verifyLocalCopy (store: ChunkStore, id: ChunkId): Promise<ScrubOutcome> {
  try {
    await store.verify(id)
    return { bytes: (await store.layout(id)).sealedBytes, repaired: false }
  } catch (error) {
    if (error instanceof ChunkMissingError) return { bytes: 0, repaired: false } // collected meanwhile
    throw error
  }
}
