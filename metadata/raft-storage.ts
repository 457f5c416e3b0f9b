// The Raft log on disk: the core's synchronous Storage view is kept in memory, and every change is
// written through to the WAL (entries), the hard-state file (term, vote) and snapshot files as it
// happens; `sync()` resolves once all of it is durable — the Ready loop sends append and vote replies
// only after that (thesis §3.8). Concurrent proposals land in one Ready and share one fdatasync.
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from '../peer/log.js'
import { assert } from './raft/assert.js'
import { NONE } from './raft/messages.js'
import type { ConfState, Entry, EntryType, HardState, Snapshot } from './raft/messages.js'
import { bootstrapEntry } from './raft/memory-storage.js'
import { CompactedError, UnavailableError } from './raft/storage.js'
import type { InitialState, WritableStorage } from './raft/storage.js'
import { loadHardState, saveHardState } from './storage/hard-state.js'
import { loadLatestSnapshot, writeSnapshot } from './storage/snapshot-file.js'
import { Wal } from './storage/wal.js'
import type { LogRecord } from './storage/wal.js'

const EMPTY_CONF: ConfState = { voters: [], learners: [] }
/** The vote recorded when the log shows a term whose vote was lost in a crash: it matches no peer id. */
export const UNKNOWN_VOTE = '\u0000vote-lost-in-crash'

export class RaftStorage implements WritableStorage {
  private readonly directory: string
  private readonly wal: Wal
  private entriesInMemory: Entry[]
  private compactedIndex: number
  private compactedTerm: number
  private hardState: HardState
  private currentSnapshot: Snapshot
  /** Disk writes issued since the last sync(), in order. */
  private outstanding: Array<Promise<unknown>> = []
  /** The latest snapshot-file write: compaction of the log waits for it. */
  private snapshotWrite: Promise<unknown> = Promise.resolve()
  /** Every write ever issued (each settles, never rejects): close() waits for all of them. */
  private allWrites: Promise<unknown> = Promise.resolve()
  /** A deferred WAL operation not yet done: later WAL calls queue behind it (null when none). */
  private walBarrier: Promise<unknown> | null = null
  private failure: Error | null = null
  syncs = 0

  private constructor (directory: string, wal: Wal, snapshot: Snapshot, hardState: HardState, entries: Entry[]) {
    this.directory = directory
    this.wal = wal
    this.currentSnapshot = snapshot
    this.compactedIndex = snapshot.metadata.index
    this.compactedTerm = snapshot.metadata.term
    this.hardState = hardState
    this.entriesInMemory = entries
  }

  /**
   * Opens the log in `directory`; a new one is bootstrapped with `founders` as its voters. A damaged
   * snapshot skipped for an older one is reported to `logger` (default: stderr).
   */
  static async open (directory: string, founders: string[], logger?: Logger): Promise<RaftStorage> {
    await mkdir(path.join(directory, 'snapshots'), { recursive: true })
    const reportDamage = logger === undefined ? {} : { log: (message: string) => logger.warn('metadata.snapshot_damaged', { detail: message }) }
    const loaded = await loadLatestSnapshot(path.join(directory, 'snapshots'), reportDamage)
    const snapshot: Snapshot = loaded === null
      ? { metadata: { index: 0, term: 0, conf: EMPTY_CONF }, data: new Uint8Array(0) }
      : { metadata: { index: loaded.meta.index, term: loaded.meta.term, conf: loaded.meta.conf as ConfState }, data: loaded.data }
    const wal = await Wal.open(path.join(directory, 'wal'))
    if (wal.firstIndex() > snapshot.metadata.index + 1) {
      throw new Error(`metadata log in ${directory} starts at ${wal.firstIndex()} but the snapshot ends at ${snapshot.metadata.index}: entries are missing; refusing to start`)
    }
    await reconcileWithSnapshot(wal, snapshot)
    const first = Math.max(wal.firstIndex(), snapshot.metadata.index + 1)
    const entries = first <= wal.lastIndex() ? wal.entries(first, wal.lastIndex() + 1).map(decodeEntry) : []
    wal.releasePayloads() // the entries live on in `entries` (entriesInMemory), not twice
    const saved = (await loadHardState(directory)) ?? { term: 0, vote: null, commit: 0 }
    const lastIndex = snapshot.metadata.index + entries.length
    const lastTerm = entries.at(-1)?.term ?? snapshot.metadata.term
    // Term/vote and the log are written in parallel (one fsync round per Ready), so a crash can leave
    // either ahead of the other. A log entry of a term the hard state does not know yet: its Ready was
    // not durable, so nothing it promised left; but we may have voted, even led, in that term, so we
    // resume in it with a vote that matches no candidate: never a second vote in a term we took part in.
    const hardState: HardState = saved.term >= lastTerm
      ? { term: saved.term, vote: saved.vote ?? NONE, commit: saved.commit }
      : { term: lastTerm, vote: UNKNOWN_VOTE, commit: saved.commit }
    // Commit is not written on every change (paper Fig. 2: it may be re-learned); it never lags what a
    // snapshot covers and never passes the log that survived (a torn tail may have cut it).
    const commit = Math.min(Math.max(hardState.commit, snapshot.metadata.index), lastIndex)
    const storage = new RaftStorage(directory, wal, snapshot, { ...hardState, commit }, entries)
    if (hardState.term !== saved.term) storage.track(saveHardState(directory, toDisk(storage.hardState)))
    if (storage.lastIndex() === 0 && founders.length > 0) {
      // A fresh directory, or one whose bootstrap was cut short by a crash (either write may be missing).
      // A peer joining an existing group has no founders: its log arrives from the leader.
      storage.append([bootstrapEntry(founders)])
      storage.setHardState({ term: Math.max(1, storage.hardState.term), vote: storage.hardState.vote, commit: 1 })
    }
    await storage.sync()
    return storage
  }

  initialState (): InitialState {
    return { hardState: { ...this.hardState }, confState: this.currentSnapshot.metadata.conf }
  }

  firstIndex (): number {
    return this.compactedIndex + 1
  }

  lastIndex (): number {
    return this.compactedIndex + this.entriesInMemory.length
  }

  term (index: number): number {
    if (index === this.compactedIndex) return this.compactedTerm
    if (index < this.compactedIndex) throw new CompactedError(index)
    if (index > this.lastIndex()) throw new UnavailableError(index)
    return this.entriesInMemory[index - this.compactedIndex - 1]!.term
  }

  entries (lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.compactedIndex) throw new CompactedError(lo)
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1)
    const out: Entry[] = []
    let bytes = 0
    for (let index = lo; index < hi; index++) {
      const entry = this.entriesInMemory[index - this.compactedIndex - 1]!
      bytes += entry.data.length + 16
      if (out.length > 0 && bytes > maxBytes) break
      out.push(entry)
    }
    return out
  }

  snapshot (): Snapshot {
    return this.currentSnapshot
  }

  /** Appends entries that follow the log, replacing a conflicting suffix (paper §5.3). */
  append (entries: Entry[]): void {
    const firstNew = entries[0]
    const lastNew = entries[entries.length - 1]
    if (firstNew === undefined || lastNew === undefined || lastNew.index <= this.compactedIndex) return
    const usable = firstNew.index > this.compactedIndex ? entries : entries.slice(this.compactedIndex + 1 - firstNew.index)
    const start = usable[0]!.index
    assert(start <= this.lastIndex() + 1, `raft storage: gap in append at ${start}`)
    const replaces = start <= this.lastIndex()
    // In place: copying the whole in-memory log on every append made a long log quadratic.
    if (replaces) this.entriesInMemory.length = start - this.compactedIndex - 1
    for (const entry of usable) this.entriesInMemory.push(entry)
    const records = usable.map(encodeEntry)
    this.walCall(async () => {
      // Both queued at once, in order: the WAL runs them in call order.
      const truncated = replaces ? this.wal.truncateSuffix(start) : null
      const appended = this.wal.append(records)
      await Promise.all([truncated, appended])
    })
  }

  setHardState (hardState: HardState): void {
    const changed = hardState.term !== this.hardState.term || hardState.vote !== this.hardState.vote
    this.hardState = { ...hardState }
    // Term and vote must be durable before a vote or append reply leaves; commit alone need not be.
    if (changed) this.track(saveHardState(this.directory, toDisk(hardState)))
  }

  /** A snapshot received from the leader replaces the whole log (paper §7). */
  applySnapshot (snapshot: Snapshot): void {
    assert(snapshot.metadata.index >= this.currentSnapshot.metadata.index, 'raft storage: older snapshot')
    const index = snapshot.metadata.index
    const previousLast = this.lastIndex()
    this.currentSnapshot = snapshot
    this.compactedIndex = index
    this.compactedTerm = snapshot.metadata.term
    this.entriesInMemory = []
    const written = this.writeSnapshotFile(snapshot)
    // The WAL is emptied only once the snapshot file is durable, and WAL calls made meanwhile (the
    // entries that follow the snapshot, often in the same Ready) queue behind: the WAL validates each
    // call against the log as it stands when the call is made. Entries past the snapshot are a
    // conflicting suffix (the core restores only when its log lacks the snapshot's entry): cut first.
    this.deferWal(written, async () => {
      if (previousLast > index) await this.wal.truncateSuffix(index + 1)
      await this.wal.compact(index)
    })
  }

  createSnapshot (index: number, conf: ConfState, data: Uint8Array): void {
    if (index <= this.currentSnapshot.metadata.index) return
    this.currentSnapshot = { metadata: { index, term: this.term(index), conf }, data }
    this.track(this.writeSnapshotFile(this.currentSnapshot))
  }

  compact (index: number): void {
    assert(index <= this.currentSnapshot.metadata.index, 'raft storage: compact beyond the snapshot')
    if (index <= this.compactedIndex) return
    this.compactedTerm = this.term(index)
    this.entriesInMemory = this.entriesInMemory.slice(index - this.compactedIndex)
    this.compactedIndex = index
    // The log on disk is compacted only once the snapshot that covers it is durable. Appends made
    // meanwhile need not wait: they lie past `index` (index <= applied <= commit < any new entry).
    this.track(this.snapshotWrite.then(async () => { await this.wal.compact(index) }))
  }

  /** Resolves once every write issued so far is durable; rejects (for good) after an I/O error. */
  async sync (): Promise<void> {
    const writes = this.outstanding
    this.outstanding = []
    await Promise.all(writes)
    this.syncs++
    if (this.failure !== null) throw this.failure
  }

  async close (): Promise<void> {
    // Every write ever issued, including those a sync() still in progress waits for: the hard-state
    // file below must not be written concurrently with a save already under way.
    await this.allWrites
    if (this.failure === null && this.hardState.term > 0) await saveHardState(this.directory, toDisk(this.hardState))
    await this.wal.close()
  }

  stats (): { syncs: number, walSyncs: number, firstIndex: number, lastIndex: number, snapshotIndex: number } {
    return { syncs: this.syncs, walSyncs: this.wal.stats.syncs, firstIndex: this.firstIndex(), lastIndex: this.lastIndex(), snapshotIndex: this.currentSnapshot.metadata.index }
  }

  private writeSnapshotFile (snapshot: Snapshot): Promise<unknown> {
    const meta = { index: snapshot.metadata.index, term: snapshot.metadata.term, conf: snapshot.metadata.conf }
    this.snapshotWrite = this.snapshotWrite.then(async () => await writeSnapshot(path.join(this.directory, 'snapshots'), meta, snapshot.data))
    return this.snapshotWrite
  }

  private track (write: Promise<unknown>): void {
    const guarded = write.catch((error: unknown) => { this.failure ??= error instanceof Error ? error : new Error(String(error)) })
    this.outstanding.push(guarded)
    this.allWrites = Promise.all([this.allWrites, guarded])
  }

  /** Issues a WAL operation now, or behind a deferred one still waiting (see applySnapshot). */
  private walCall (operation: () => Promise<void>): void {
    if (this.walBarrier === null) this.track(operation())
    else this.deferWal(this.walBarrier, operation)
  }

  /** Issues a WAL operation once `after` is done; every WAL call until then queues behind it. */
  private deferWal (after: Promise<unknown>, operation: () => Promise<void>): void {
    const chained = Promise.all([this.walBarrier, after]).then(operation)
    this.walBarrier = chained
    const clear = (): void => { if (this.walBarrier === chained) this.walBarrier = null }
    chained.then(clear, clear)
    this.track(chained)
  }
}

/**
 * After a crash the WAL may disagree with the newest snapshot: applySnapshot() writes the snapshot
 * file before it empties the WAL, so the WAL can still hold the old log — shorter than the snapshot,
 * or with a different entry at its index. Then nothing in it follows the snapshot: empty it.
 */
async function reconcileWithSnapshot (wal: Wal, snapshot: Snapshot): Promise<void> {
  const { index, term } = snapshot.metadata
  if (index === 0 || wal.firstIndex() > index) return // the WAL starts right after the snapshot
  if (wal.lastIndex() >= index && wal.term(index) === term) return // Log Matching: the rest follows it
  if (wal.lastIndex() > index) await wal.truncateSuffix(index + 1)
  await wal.compact(index)
}

function toDisk (hardState: HardState): { term: number, vote: string | null, commit: number } {
  return { term: hardState.term, vote: hardState.vote === NONE ? null : hardState.vote, commit: hardState.commit }
}

function encodeEntry (entry: Entry): LogRecord {
  const data = new Uint8Array(entry.data.length + 1)
  data[0] = entry.type
  data.set(entry.data, 1)
  return { index: entry.index, term: entry.term, data }
}

function decodeEntry (record: LogRecord): Entry {
  const type = record.data[0] as EntryType
  assert(type !== undefined && type <= 2, `raft storage: unknown entry type in record ${record.index}`)
  return { index: record.index, term: record.term, type, data: record.data.subarray(1) }
}
