// The Raft log on disk: the core's synchronous Storage view is kept in memory, and every change is
// written through to the WAL (entries), the hard-state file (term, vote) and snapshot files as it
// happens; `sync()` resolves once all of it is durable — the Ready loop sends append and vote replies
// only after that (thesis §3.8). Concurrent proposals land in one Ready and share one fdatasync.
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
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

  /** Opens the log in `directory`; a new one is bootstrapped with `founders` as its voters. */
  static async open (directory: string, founders: string[]): Promise<RaftStorage> {
    await mkdir(path.join(directory, 'snapshots'), { recursive: true })
    const loaded = await loadLatestSnapshot(path.join(directory, 'snapshots'))
    const snapshot: Snapshot = loaded === null
      ? { metadata: { index: 0, term: 0, conf: EMPTY_CONF }, data: new Uint8Array(0) }
      : { metadata: { index: loaded.meta.index, term: loaded.meta.term, conf: loaded.meta.conf as ConfState }, data: loaded.data }
    const wal = await Wal.open(path.join(directory, 'wal'))
    const first = Math.max(wal.firstIndex(), snapshot.metadata.index + 1)
    if (wal.firstIndex() > snapshot.metadata.index + 1) {
      throw new Error(`metadata log in ${directory} starts at ${wal.firstIndex()} but the snapshot ends at ${snapshot.metadata.index}: entries are missing; refusing to start`)
    }
    const entries = first <= wal.lastIndex() ? wal.entries(first, wal.lastIndex() + 1).map(decodeEntry) : []
    const hardState = (await loadHardState(directory)) ?? { term: 0, vote: NONE, commit: 0 }
    // Commit is not written on every change (paper Fig. 2: it may be re-learned), but it never
    // lags what a snapshot already covers.
    const storage = new RaftStorage(directory, wal, snapshot, { term: hardState.term, vote: hardState.vote ?? NONE, commit: Math.max(hardState.commit, snapshot.metadata.index) }, entries)
    if (storage.lastIndex() === 0 && hardState.term === 0) {
      storage.append([bootstrapEntry(founders)])
      storage.setHardState({ term: 1, vote: NONE, commit: 1 })
      await storage.sync()
    }
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
    if (firstNew === undefined) return
    const usable = entries.filter((entry) => entry.index > this.compactedIndex)
    const start = usable[0]
    if (start === undefined) return
    assert(start.index <= this.lastIndex() + 1, `raft storage: gap in append at ${start.index}`)
    if (start.index <= this.lastIndex()) this.track(this.wal.truncateSuffix(start.index))
    this.entriesInMemory = this.entriesInMemory.slice(0, start.index - this.compactedIndex - 1).concat(usable)
    this.track(this.wal.append(usable.map(encodeEntry)))
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
    this.currentSnapshot = snapshot
    this.compactedIndex = snapshot.metadata.index
    this.compactedTerm = snapshot.metadata.term
    this.entriesInMemory = []
    const written = this.writeSnapshotFile(snapshot)
    this.track(written.then(async () => { await this.wal.compact(snapshot.metadata.index) }))
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
    // The log on disk is compacted only once the snapshot that covers it is durable.
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
    await this.sync().catch(() => {})
    if (this.hardState.term > 0) await saveHardState(this.directory, toDisk(this.hardState))
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
  }
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
