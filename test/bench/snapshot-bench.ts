// Metadata snapshots of a big tree: one peer alone (its real WAL and snapshot files in a temp
// directory) is filled with SWARMFS_BENCH_SNAPSHOT_FILES files of one chunk each, through the same
// proposals a mount makes; a snapshot is taken every 50,000 entries on the way. Measured: the longest
// the event loop (which also answers FUSE and sends heartbeats) went without running a 5 ms timer while
// a snapshot was being taken, against the baseline of the same run: how long encoding the final state
// at once (as a snapshot was taken before) holds it. Also: the snapshot's size, how long it takes to
// restore at once (a restart) and the longest step of restoring it in steps (a follower installing it).
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import v8 from 'node:v8'
import vm from 'node:vm'
import { ROOT_ID, S_IFDIR, S_IFREG } from '../../metadata/fs/inode.js'
import { decodeSnapshot, decodeSnapshotSteps, encodeSnapshot } from '../../metadata/fs/snapshot.js'
import { ReplicatedMetadata } from '../../metadata/replicated-metadata.js'

const FILES_PER_DIRECTORY = 1000
const PROPOSALS_IN_FLIGHT = 64
const PROBE_MS = 5

/** Heap in use after a full collection (the flag exposes gc() to a new context only). */
function heapAfterCollection (): number {
  v8.setFlagsFromString('--expose-gc')
  ;(vm.runInNewContext('gc') as () => void)()
  return process.memoryUsage().heapUsed
}

export async function benchSnapshots (files: number, log: (line: string) => void): Promise<string> {
  const heapBefore = heapAfterCollection()
  const directory = await mkdtemp(path.join(os.tmpdir(), 'swarmfs-snapshot-bench-'))
  const metadata = await ReplicatedMetadata.open({ directory, peerId: 'a'.repeat(64), founder: true, rootTimeNs: 0n })
  // The longest gap between runs of a PROBE_MS timer, counted only while a snapshot is being taken.
  let stallMs = 0
  let snapshots = 0
  let anyStallMs = 0 // at any time: garbage collection, a batch of proposals
  let last = performance.now()
  let pending = false // at the last run: a gap that begins or ends while one is taken counts
  const probe = setInterval(() => {
    const now = performance.now()
    const pendingNow = metadata.node.snapshotPending()
    if (pending || pendingNow) stallMs = Math.max(stallMs, now - last - PROBE_MS)
    anyStallMs = Math.max(anyStallMs, now - last - PROBE_MS)
    if (pendingNow && !pending) snapshots++
    pending = pendingNow
    last = now
  }, PROBE_MS)
  try {
    const started = performance.now()
    let directoryId = ROOT_ID
    for (let first = 0; first < files; first += PROPOSALS_IN_FLIGHT) {
      if (first % FILES_PER_DIRECTORY === 0) {
        directoryId = (await metadata.propose({ type: 'mkdir', parent: ROOT_ID, name: `d${first}`, mode: S_IFDIR | 0o755, uid: 0, gid: 0, nowNs: 1n })).fileId!
      }
      const parent = directoryId
      // As a mount's requests do, each batch comes in a turn of its own, after the I/O that waited
      // (alone, a proposal is answered at once: awaiting answers alone would never yield to the fsyncs).
      await new Promise((resolve) => setImmediate(resolve))
      await Promise.all(Array.from({ length: Math.min(PROPOSALS_IN_FLIGHT, files - first) }, async (_, i) => {
        const name = `file-${first + i}.txt`
        const { fileId } = await metadata.propose({ type: 'create', parent, name, mode: S_IFREG | 0o644, rdev: 0, uid: 1000, gid: 1000, nowNs: 2n })
        const ref = { id: randomBytes(32), length: 4096, holders: ['a'.repeat(64)] }
        await metadata.propose({ type: 'commitChunks', fileId: fileId!, size: 4096, updates: [{ index: 0, ref }], mtimeNs: 3n, attributes: {}, nowNs: 3n })
      }))
      if ((first / PROPOSALS_IN_FLIGHT) % 125 === 0) log(`  ${first} files, ${snapshots} snapshots, longest stall while one was taken ${stallMs.toFixed(0)} ms, ${(performance.now() - started).toFixed(0)} ms`)
    }
    const fillSeconds = (performance.now() - started) / 1000
    while (metadata.node.snapshotPending()) await new Promise((resolve) => setTimeout(resolve, 10))
    const state = metadata.state
    let at = performance.now()
    const bytes = encodeSnapshot(state)
    const atOnceMs = performance.now() - at
    at = performance.now()
    decodeSnapshot(bytes)
    const restoreMs = performance.now() - at
    // Restoring as a follower does it now: in steps. The longest step is how long the loop is held.
    let longestStepMs = 0
    const steps = decodeSnapshotSteps(bytes)
    for (let done = false; !done;) {
      at = performance.now()
      done = steps.next().done === true
      longestStepMs = Math.max(longestStepMs, performance.now() - at)
    }
    const heapPerFile = (heapAfterCollection() - heapBefore) / files
    return [
      `# metadata snapshots: ${files} files (2 entries each; ${snapshots} snapshots taken), filled in ${fillSeconds.toFixed(1)} s`,
      `longest event-loop stall while a snapshot was taken: ${stallMs.toFixed(0)} ms; encoding it at once: ${atOnceMs.toFixed(0)} ms (${(stallMs / atOnceMs).toFixed(2)}x); longest at any time: ${anyStallMs.toFixed(0)} ms`,
      `snapshot ${(bytes.length / 1048576).toFixed(1)} MB (${(bytes.length / files).toFixed(0)} B a file), restored in ${restoreMs.toFixed(0)} ms at once; in steps, the longest ${longestStepMs.toFixed(1)} ms`,
      `JS heap of the metadata: ${heapPerFile.toFixed(0)} B a file (the state, plus the log kept in memory and the remembered results of requests)`
    ].join('\n')
  } finally {
    clearInterval(probe)
    await metadata.close()
    await rm(directory, { recursive: true, force: true })
  }
}
