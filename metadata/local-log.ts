// The metadata log of a single voter: a proposal is appended to the write-ahead log (concurrent
// proposals share one fdatasync), applied in log order once durable, and acknowledged with its result.
// Every SNAPSHOT_INTERVAL_ENTRIES the state is snapshotted and the log before it compacted; a restart
// loads the newest snapshot and replays the log after it. This is the shape a Raft group drives:
// commands in, ordered durable entries, deterministic apply — with one member instead of a quorum.
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { decodeCommand, encodeCommand } from './fs/commands.js'
import type { Command } from './fs/commands.js'
import { decodeSnapshot, encodeSnapshot } from './fs/snapshot.js'
import type { ApplyResult } from './fs/state.js'
import { FsState } from './fs/state.js'
import { loadLatestSnapshot, writeSnapshot } from './storage/snapshot-file.js'
import { Wal } from './storage/wal.js'

export const SNAPSHOT_INTERVAL_ENTRIES = 50_000
const TERM = 1 // a single voter never changes term; Raft will own this field

export interface LocalLogStatus {
  appliedIndex: number
  snapshotIndex: number
  logFirstIndex: number
  logLastIndex: number
  syncs: number
}

export class LocalLog {
  state: FsState
  private readonly wal: Wal
  private readonly snapshotDirectory: string
  private lastIndex: number
  private appliedIndex: number
  private snapshotIndex: number
  private snapshotting: Promise<void> | null = null
  /** The newest append: it resolves when everything applied so far is on disk. */
  private durable: Promise<void> = Promise.resolve()
  /** Set when a log write failed: the applied state is ahead of the disk, so nothing more is accepted. */
  private failure: Error | null = null
  /** Called with each applied command and the chunk ids it freed (for garbage collection). */
  onApplied: (command: Command, result: ApplyResult, freedChunks: string[]) => void = () => {}

  private constructor (wal: Wal, snapshotDirectory: string, state: FsState, snapshotIndex: number) {
    this.wal = wal
    this.snapshotDirectory = snapshotDirectory
    this.state = state
    this.snapshotIndex = snapshotIndex
    this.appliedIndex = snapshotIndex
    this.lastIndex = snapshotIndex
  }

  /** Opens the log in `directory`: newest valid snapshot, then every durable entry after it. */
  static async open (directory: string, rootTimeNs: bigint): Promise<LocalLog> {
    const snapshotDirectory = path.join(directory, 'snapshots')
    await mkdir(snapshotDirectory, { recursive: true })
    const snapshot = await loadLatestSnapshot(snapshotDirectory)
    const state = snapshot === null ? new FsState(rootTimeNs) : decodeSnapshot(snapshot.data)
    const snapshotIndex = snapshot?.meta.index ?? 0
    const wal = await Wal.open(path.join(directory, 'wal'))
    if (wal.lastIndex() < snapshotIndex) await wal.compact(snapshotIndex) // unsynced log tail lost, snapshot newer
    if (wal.firstIndex() > snapshotIndex + 1) {
      throw new Error(`metadata log starts at ${wal.firstIndex()} but the snapshot ends at ${snapshotIndex}: entries are missing; refusing to start`)
    }
    const log = new LocalLog(wal, snapshotDirectory, state, snapshotIndex)
    for (const record of wal.entries(snapshotIndex + 1, wal.lastIndex() + 1)) {
      // Entries are applied from the snapshot on; older ones are kept only as a fallback.
      log.state.apply(decodeCommand(record.data))
      log.state.takeFreedChunks()
      log.appliedIndex = log.lastIndex = record.index
    }
    return log
  }

  /**
   * Appends `command` and applies it at once, in log order; the append becomes durable in the
   * background (group commit) and `sync()` waits for it. This is the early ("unsafe") reply of CephFS's
   * MDS and the journal of ext4: metadata is durable at fsync, not at every create. A crash loses at most
   * a suffix of the log, so the state after restart is always one the filesystem really passed through.
   */
  async propose (command: Command): Promise<ApplyResult> {
    if (this.failure !== null) throw this.failure
    const index = ++this.lastIndex
    this.durable = this.wal.append([{ index, term: TERM, data: encodeCommand(command) }])
    this.durable.catch((error: unknown) => { this.failure ??= new Error(`metadata log failed, no further changes accepted: ${(error as Error).message}`) })
    const result = this.state.apply(command)
    this.appliedIndex = index
    this.onApplied(command, result, this.state.takeFreedChunks())
    if (this.appliedIndex - this.snapshotIndex >= SNAPSHOT_INTERVAL_ENTRIES) this.snapshotSoon()
    return result
  }

  /** Resolves once every change applied so far is durable; rejects if the log failed. */
  async sync (): Promise<void> {
    await this.durable
    if (this.failure !== null) throw this.failure
  }

  /** Writes a snapshot of the applied state and compacts the log behind it. */
  async snapshot (): Promise<void> {
    while (this.snapshotting !== null) await this.snapshotting
    const index = this.appliedIndex
    if (index === this.snapshotIndex) return
    const data = encodeSnapshot(this.state)
    const previousIndex = this.snapshotIndex
    this.snapshotting = (async () => {
      await this.sync() // the snapshot must never be ahead of the log it replaces
      await writeSnapshot(this.snapshotDirectory, { index, term: TERM }, data)
      this.snapshotIndex = index
      // Keep the log back to the previous snapshot: if the newest one is ever found damaged, the
      // loader falls back to the previous one and replays from there.
      await this.wal.compact(previousIndex)
    })()
    try {
      await this.snapshotting
    } finally {
      this.snapshotting = null
    }
  }

  status (): LocalLogStatus {
    return {
      appliedIndex: this.appliedIndex,
      snapshotIndex: this.snapshotIndex,
      logFirstIndex: this.wal.firstIndex(),
      logLastIndex: this.wal.lastIndex(),
      syncs: this.wal.stats.syncs
    }
  }

  async close (): Promise<void> {
    while (this.snapshotting !== null) await this.snapshotting
    await this.sync().catch(() => {})
    await this.wal.close()
  }

  private snapshotSoon (): void {
    if (this.snapshotting !== null) return
    this.snapshot().catch((error: unknown) => { console.error('swarmfs: snapshot failed:', error) })
  }
}
