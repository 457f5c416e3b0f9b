// The segmented write-ahead log behind the metadata state machine (Raft's LogStore, hashicorp log.go):
// records {index, term, data} with contiguous indexes, made durable with GROUP COMMIT — every append
// issued while a write + fdatasync is in flight joins the next single write + fdatasync.
//
// Memory bound: every record since the last compact() is kept in memory (payloads are views into the
// written buffers), so entries()/term() are synchronous like etcd's Storage. Memory ≈ the live log's
// bytes + ~100 B per record; the snapshot policy bounds it by compacting (metadata logs are small). An
// owner that keeps its own copy of the entries (the Raft storage) releases the payloads once it has
// read them at open: then only index and term stay here.
//
// On disk: `wal-<base>.seg` segments (wal-segment.ts), `wal-start` (the compacted start, wal-start.ts).
// Hard state lives in its own file (hard-state.ts), not in the log. Single process per directory.
import assert from 'node:assert/strict'
import { mkdir, open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { LogCompactedError, LogUnavailableError } from './errors.js'
import { writeFully } from './atomic-file.js'
import { createSegmentFile, deleteSegmentFiles } from './wal-files.js'
import type { Segment } from './wal-files.js'
import { recoverLog } from './wal-recovery.js'
import { RECORD_DATA_BYTES_MAX, RECORD_HEADER_BYTES, encodeRecordInto, encodedRecordBytes } from './wal-record.js'
import type { LogRecord } from './wal-record.js'
import { writeStartIndex } from './wal-start.js'

export type { LogRecord } from './wal-record.js'
export { WalCorruptError, LogCompactedError, LogUnavailableError } from './errors.js'

const NO_PAYLOAD = new Uint8Array(0)

export const SEGMENT_BYTES_MAX = 64 * 1024 * 1024 // roll to a new segment beyond this
export const BATCH_BYTES_MAX = 8 * 1024 * 1024 // one write + fdatasync carries at most this (≈25 ms at 326 MB/s)

export interface WalOptions {
  /** Roll to a new segment when a write would pass this size. A single larger write gets its own segment. */
  segmentBytesMax?: number
  /** Upper bound of one group-commit write; also the largest single append() call. */
  batchBytesMax?: number
}

/** Counters a test or a metrics exporter reads; `syncs` counts every fsync/fdatasync the WAL issued. */
export interface WalStats {
  appends: number
  records: number
  batches: number
  syncs: number
  bytesWritten: number
  segmentsCreated: number
  segmentsDeleted: number
}

/** What open() found and repaired. */
export interface WalRecovery {
  readonly segments: number
  readonly records: number
  readonly tornBytes: number
  readonly tornFile: string | null
}

interface Settle {
  resolve: () => void
  reject: (error: Error) => void
}

type Operation =
  | { kind: 'append', records: readonly LogRecord[], bytes: number, settle: Settle }
  | { kind: 'truncate', fromIndex: number, settle: Settle }
  | { kind: 'compact', throughIndex: number, settle: Settle }
  | { kind: 'close', settle: Settle }

/** What has been asked for, ahead of what is durable: calls are validated against this, synchronously. */
interface AcceptedState {
  first: number
  last: number
  lastTerm: number
}

export class Wal {
  readonly directory: string
  readonly stats: WalStats = { appends: 0, records: 0, batches: 0, syncs: 0, bytesWritten: 0, segmentsCreated: 0, segmentsDeleted: 0 }
  recovery: WalRecovery = { segments: 0, records: 0, tornBytes: 0, tornFile: null }

  private readonly _segmentBytesMax: number
  private readonly _batchBytesMax: number
  // Durable state. Invariant: records[i].index === first + i, offsets[i] is its frame in its segment.
  private _segments: Segment[] = []
  private _tail: FileHandle | null = null
  private _records: LogRecord[] = []
  private _offsets: number[] = []
  private _first = 1
  private _payloadsReleased = false
  // Pending work, executed strictly in call order by _pump().
  private readonly _queue: Operation[] = []
  private _inflight: Operation[] = []
  private _pumping = false
  private _accepted: AcceptedState = { first: 1, last: 0, lastTerm: 0 }
  private _failure: Error | null = null
  private _closing = false

  private constructor (directory: string, options: WalOptions) {
    this.directory = directory
    this._segmentBytesMax = options.segmentBytesMax ?? SEGMENT_BYTES_MAX
    this._batchBytesMax = options.batchBytesMax ?? BATCH_BYTES_MAX
    if (!(this._segmentBytesMax > 0 && this._batchBytesMax > 0)) throw new RangeError('size limits must be positive')
  }

  /** Opens (creating if needed) the log in `directory`, recovering from a crash; see wal-recovery.ts. */
  static async open (directory: string, options: WalOptions = {}): Promise<Wal> {
    await mkdir(directory, { recursive: true })
    const wal = new Wal(directory, options)
    await wal._recover()
    return wal
  }

  firstIndex (): number { return this._first }

  /** The last durable index; firstIndex() - 1 when the log is empty. */
  lastIndex (): number { return this._first + this._records.length - 1 }

  term (index: number): number {
    return this._recordAt(index).term
  }

  /** Durable records with lo <= index < hi. Payloads are shared views: do not mutate them. */
  entries (lo: number, hi: number): LogRecord[] {
    if (this._payloadsReleased) throw new Error('wal: payloads were released (entries() is for reading the log at open)')
    if (!(Number.isSafeInteger(lo) && Number.isSafeInteger(hi) && lo <= hi)) throw new RangeError(`bad range [${lo}, ${hi})`)
    if (lo < this._first) throw new LogCompactedError(lo, this._first)
    if (hi > this.lastIndex() + 1) throw new LogUnavailableError(hi - 1, this.lastIndex())
    return this._records.slice(lo - this._first, hi - this._first)
  }

  /**
   * Keeps no payload in memory from now on, of the records held and those to come; entries() is refused,
   * everything else goes on. For an owner that keeps its own copy of every entry: otherwise each payload
   * would be held twice until compaction (~10 MB per 20,000 entries, measured in a heap snapshot).
   */
  releasePayloads (): void {
    this._payloadsReleased = true
    this._records = this._records.map(({ index, term }) => ({ index, term, data: NO_PAYLOAD }))
  }

  /**
   * Appends records whose indexes continue the log (after earlier calls, even those not yet durable) with
   * terms that never decrease. Resolves once they are on disk (fdatasync). `data` must not be mutated
   * before this resolves. Rejects with RangeError on a caller bug; an I/O error fails the whole WAL.
   */
  append (records: readonly LogRecord[]): Promise<void> {
    const refusal = this._refusal() ?? checkAppend(records, this._accepted, this._batchBytesMax)
    if (refusal !== null) return Promise.reject(refusal)
    const last = records.at(-1)
    if (last === undefined) return Promise.resolve()
    this._accepted.last = last.index
    this._accepted.lastTerm = last.term
    this.stats.appends++
    const bytes = records.reduce((sum, record) => sum + encodedRecordBytes(record), 0)
    return this._enqueue((settle) => ({ kind: 'append', records, bytes, settle }))
  }

  /** Drops records with index >= fromIndex (a follower's conflicting tail); durable when it resolves. */
  truncateSuffix (fromIndex: number): Promise<void> {
    const accepted = this._accepted
    const refusal = this._refusal() ?? (Number.isSafeInteger(fromIndex) && fromIndex >= accepted.first && fromIndex <= accepted.last + 1
      ? null
      : new RangeError(`truncateSuffix(${fromIndex}) outside [${accepted.first}, ${accepted.last + 1}]`))
    if (refusal !== null) return Promise.reject(refusal)
    if (fromIndex <= accepted.last) {
      accepted.lastTerm = this._acceptedTermAt(fromIndex - 1)
      accepted.last = fromIndex - 1
    }
    return this._enqueue((settle) => ({ kind: 'truncate', fromIndex, settle }))
  }

  /**
   * Drops records <= throughIndex (a snapshot covers them): whole segments are deleted and the new start
   * is persisted. throughIndex past the end (installing a snapshot) empties the log, which then continues
   * at throughIndex + 1. A no-op below firstIndex().
   */
  compact (throughIndex: number): Promise<void> {
    const refusal = this._refusal() ?? (Number.isSafeInteger(throughIndex) && throughIndex >= 0 ? null : new RangeError(`compact(${throughIndex})`))
    if (refusal !== null) return Promise.reject(refusal)
    const accepted = this._accepted
    if (throughIndex >= accepted.last) this._accepted = { first: throughIndex + 1, last: throughIndex, lastTerm: 0 }
    else accepted.first = Math.max(accepted.first, throughIndex + 1)
    return this._enqueue((settle) => ({ kind: 'compact', throughIndex, settle }))
  }

  /** Finishes queued work, then closes the file. Later calls reject. */
  close (): Promise<void> {
    if (this._closing) return Promise.reject(new Error('wal is already closing'))
    this._closing = true
    if (this._failure !== null) return this._closeTail()
    return this._enqueue((settle) => ({ kind: 'close', settle }))
  }

  private _refusal (): Error | null {
    if (this._failure !== null) return new Error('wal failed earlier and must be reopened', { cause: this._failure })
    if (this._closing) return new Error('wal is closed')
    return null
  }

  private _enqueue (make: (settle: Settle) => Operation): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this._queue.push(make({ resolve, reject }))
      void this._pump()
    })
  }

  private _recordAt (index: number): LogRecord {
    if (index < this._first) throw new LogCompactedError(index, this._first)
    const record = this._records[index - this._first]
    if (record === undefined) throw new LogUnavailableError(index, this.lastIndex())
    return record
  }

  /** Term of an accepted record (queued, in flight or durable); 0 when compacted away (unknown). */
  private _acceptedTermAt (index: number): number {
    for (const operation of [...this._queue].reverse().concat(this._inflight)) {
      if (operation.kind !== 'append') continue
      const record = operation.records.find((candidate) => candidate.index === index)
      if (record !== undefined) return record.term
    }
    return index >= this._first && index <= this.lastIndex() ? this._recordAt(index).term : 0
  }

  // ---- the single writer: one operation (or one coalesced group of appends) at a time --------------

  private async _pump (): Promise<void> {
    if (this._pumping) return
    this._pumping = true
    try {
      while (this._queue.length > 0) {
        this._inflight = this._takeNext()
        try {
          await this._run(this._inflight)
          for (const operation of this._inflight) operation.settle.resolve()
        } catch (error) {
          this._fail(error instanceof Error ? error : new Error(String(error)))
        }
        this._inflight = []
        // Let the callers just resolved run and append again before the next batch is cut: otherwise
        // batches alternate between one early re-append and everyone else (half the records per sync).
        await new Promise<void>((resolve) => { setImmediate(resolve) })
      }
    } finally {
      this._pumping = false
    }
  }

  /** The head operation; if it is an append, also every append queued behind it that fits one write. */
  private _takeNext (): Operation[] {
    const head = this._queue.shift()
    assert.ok(head !== undefined, 'pump runs only with queued work')
    if (head.kind !== 'append') return [head]
    const group: Operation[] = [head]
    let bytes = head.bytes
    for (let next = this._queue[0]; next?.kind === 'append' && bytes + next.bytes <= this._batchBytesMax; next = this._queue[0]) {
      bytes += next.bytes
      group.push(next)
      this._queue.shift()
    }
    return group
  }

  private async _run (group: Operation[]): Promise<void> {
    const head = group[0]
    assert.ok(head !== undefined)
    switch (head.kind) {
      case 'append': return await this._writeBatch(group)
      case 'truncate': return await this._truncateSuffixNow(head.fromIndex)
      case 'compact': return await this._compactNow(head.throughIndex)
      case 'close': return await this._closeTail()
    }
  }

  /**
   * After an I/O error nothing the page cache holds can be trusted (a failed fsync may have dropped dirty
   * pages), so the WAL stops: everything pending is rejected and the owner must reopen (recovery re-reads).
   */
  private _fail (error: Error): void {
    this._failure = error
    const pending = this._inflight.concat(this._queue.splice(0))
    for (const operation of pending) {
      if (operation.kind === 'close') void this._closeTail().then(operation.settle.resolve, operation.settle.reject)
      else operation.settle.reject(error)
    }
  }

  // ---- operations, each run only by the pump ---------------------------------------------------------

  /** One positional write of every frame in the group, one fdatasync, then the records become visible. */
  private async _writeBatch (group: Operation[]): Promise<void> {
    const records = group.flatMap((operation) => operation.kind === 'append' ? operation.records : [])
    const firstRecord = records[0]
    assert.ok(firstRecord !== undefined && firstRecord.index === this.lastIndex() + 1, 'batch continues the durable log')
    const bytes = records.reduce((sum, record) => sum + encodedRecordBytes(record), 0)
    if (this._tailHasRecords() && this._tailSegment().sizeBytes + bytes > this._segmentBytesMax) await this._roll(firstRecord.index)
    const segment = this._tailSegment()
    // Not a slice of Node's shared 8 KiB pool: the records below stay in memory as views of this buffer
    // until compaction, and a pooled slice keeps its whole slab alive (measured with a heap snapshot).
    const buffer = Buffer.allocUnsafeSlow(bytes)
    const frameOffsets: number[] = [] // inside `buffer`
    let offset = 0
    for (const record of records) {
      frameOffsets.push(offset)
      offset = encodeRecordInto(buffer, offset, record, firstRecord.index)
    }
    assert.equal(offset, bytes)
    await writeFully(this._tailHandle(), buffer, segment.sizeBytes)
    await this._tailHandle().datasync()
    this._countBatch(records.length, bytes)
    // Serve payloads from the written buffer: one allocation per batch, immune to callers reusing theirs.
    for (const [position, record] of records.entries()) {
      const dataOffset = (frameOffsets[position] ?? 0) + RECORD_HEADER_BYTES
      const data = this._payloadsReleased ? NO_PAYLOAD : buffer.subarray(dataOffset, dataOffset + record.data.length)
      this._records.push({ index: record.index, term: record.term, data })
      this._offsets.push(segment.sizeBytes + (frameOffsets[position] ?? 0))
    }
    segment.sizeBytes += bytes
  }

  private _countBatch (records: number, bytes: number): void {
    this.stats.syncs++
    this.stats.batches++
    this.stats.records += records
    this.stats.bytesWritten += bytes
  }

  /**
   * Deletes later segments newest first (a crash leaves a contiguous prefix), fsyncs the directory, then
   * cuts the segment holding fromIndex at that record's frame and fdatasyncs it.
   */
  private async _truncateSuffixNow (fromIndex: number): Promise<void> {
    if (fromIndex > this.lastIndex()) return
    assert.ok(fromIndex >= this._first, 'truncateSuffix below the first index was refused at call time')
    const keep = this._segmentIndexOf(fromIndex)
    const dropped = this._segments.slice(keep + 1).reverse()
    if (dropped.length > 0) await this._closeTail()
    await deleteSegmentFiles(this.directory, dropped, this.stats)
    this.stats.segmentsDeleted += dropped.length
    this._segments.length = keep + 1
    const segment = this._tailSegment()
    const cut = this._offsets[fromIndex - this._first]
    assert.ok(cut !== undefined && cut >= 0 && cut <= segment.sizeBytes)
    if (this._tail === null) this._tail = await open(segment.path, 'r+')
    await this._tail.truncate(cut)
    await this._tail.datasync()
    this.stats.syncs++
    segment.sizeBytes = cut
    this._records.length = fromIndex - this._first
    this._offsets.length = fromIndex - this._first
  }

  /** Persists the new start first, so a crash during the deletions is finished by the next open. */
  private async _compactNow (throughIndex: number): Promise<void> {
    if (throughIndex < this._first) return
    await writeStartIndex(this.directory, throughIndex + 1, this.stats)
    if (throughIndex >= this.lastIndex()) return await this._resetTo(throughIndex + 1)
    // Oldest first: a crash leaves a contiguous suffix. A segment is wholly covered when the next starts at or below the new first index.
    const covered = this._segments.filter((_, position) => (this._segments[position + 1]?.base ?? Infinity) <= throughIndex + 1)
    await deleteSegmentFiles(this.directory, covered, this.stats)
    this.stats.segmentsDeleted += covered.length
    this._segments.splice(0, covered.length)
    this._records.splice(0, throughIndex + 1 - this._first)
    this._offsets.splice(0, throughIndex + 1 - this._first)
    this._first = throughIndex + 1
  }

  /** Empties the log so that it continues at `first`: a fresh tail segment, every older one deleted. */
  private async _resetTo (first: number): Promise<void> {
    if (this._tailHasRecords() || this._tailSegment().base !== first) await this._roll(first)
    const older = this._segments.slice(0, -1)
    await deleteSegmentFiles(this.directory, older, this.stats)
    this.stats.segmentsDeleted += older.length
    this._segments.splice(0, older.length)
    this._records = []
    this._offsets = []
    this._first = first
  }

  /** Starts a new tail segment whose first record will be `base`. The old tail is complete and durable. */
  private async _roll (base: number): Promise<void> {
    const { segment, handle } = await createSegmentFile(this.directory, base, this.stats)
    this.stats.segmentsCreated++
    await this._closeTail()
    this._segments.push(segment)
    this._tail = handle
  }

  private async _closeTail (): Promise<void> {
    const tail = this._tail
    this._tail = null
    if (tail !== null) await tail.close()
  }

  private _tailSegment (): Segment {
    const segment = this._segments.at(-1)
    assert.ok(segment !== undefined, 'there is always a tail segment once open')
    return segment
  }

  private _tailHandle (): FileHandle {
    assert.ok(this._tail !== null, 'the tail is open while the WAL is open')
    return this._tail
  }

  /** Whether the tail segment holds records on disk (possibly below first, if compaction ended inside it). */
  private _tailHasRecords (): boolean {
    return this.lastIndex() >= this._tailSegment().base
  }

  /** Position in _segments of the segment holding `index`: the last one whose base is <= index. */
  private _segmentIndexOf (index: number): number {
    let position = this._segments.length - 1
    while (position > 0 && (this._segments[position]?.base ?? 0) > index) position--
    assert.ok((this._segments[position]?.base ?? Infinity) <= index, `index ${index} lies in no segment`)
    return position
  }

  // ---- opening ---------------------------------------------------------------------------------------

  private async _recover (): Promise<void> {
    const recovered = await recoverLog(this.directory, this.stats)
    this._segments = recovered.segments
    this._records = recovered.records
    this._offsets = recovered.offsets
    this._first = recovered.first
    const tail = this._segments.at(-1)
    if (tail === undefined) await this._roll(recovered.first)
    else this._tail = await open(tail.path, 'r+')
    if (recovered.resetTo !== null) await this._resetTo(recovered.resetTo)
    this._accepted = { first: this._first, last: this.lastIndex(), lastTerm: this._records.at(-1)?.term ?? 0 }
    this.recovery = { segments: this._segments.length, records: this._records.length, tornBytes: recovered.tornBytes, tornFile: recovered.tornFile }
  }
}

/** Why an append call is a caller bug, or null: indexes must continue, terms must not go back. */
function checkAppend (records: readonly LogRecord[], accepted: AcceptedState, batchBytesMax: number): RangeError | null {
  let expectedIndex = accepted.last + 1
  let previousTerm = accepted.lastTerm
  let bytes = 0
  for (const record of records) {
    if (record.index !== expectedIndex) return new RangeError(`append: expected index ${expectedIndex}, got ${record.index}`)
    if (!Number.isSafeInteger(record.term) || record.term < previousTerm) return new RangeError(`append: term ${record.term} at index ${record.index} is below ${previousTerm}`)
    if (!(record.data instanceof Uint8Array) || record.data.length > RECORD_DATA_BYTES_MAX) return new RangeError(`append: bad data at index ${record.index}`)
    bytes += encodedRecordBytes(record)
    expectedIndex++
    previousTerm = record.term
  }
  if (bytes > batchBytesMax) return new RangeError(`append: ${bytes} bytes in one call exceeds ${batchBytesMax}`)
  return null
}
