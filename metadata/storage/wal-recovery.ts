// Opening the WAL after a crash: read every segment, accept a torn final write (cut it off, durably),
// refuse anything else that is wrong. What comes out is the in-memory image the Wal serves from.
import assert from 'node:assert/strict'
import { open, readFile } from 'node:fs/promises'
import { WalCorruptError } from './errors.js'
import { deleteSegmentFiles, listSegmentBases, segmentAt } from './wal-files.js'
import type { Segment } from './wal-files.js'
import type { SyncCounter } from './atomic-file.js'
import type { LogRecord } from './wal-record.js'
import { SEGMENT_HEADER_BYTES, decodeSegment } from './wal-segment.js'
import type { DecodedSegment } from './wal-segment.js'
import { START_FILE_NAME, readStartIndex, writeStartIndex } from './wal-start.js'

export interface RecoveryCounter extends SyncCounter {
  segmentsDeleted: number
}

export interface RecoveredLog {
  readonly segments: Segment[] // ascending by base; the last one is the tail (empty when the directory was empty)
  readonly records: LogRecord[] // records with index >= first
  readonly offsets: number[] // offsets[i] is where records[i]'s frame starts inside its segment
  readonly first: number
  /** When set, compact() was interrupted after persisting the start: the log must restart empty here. */
  readonly resetTo: number | null
  readonly tornBytes: number
  readonly tornFile: string | null
}

export async function recoverLog (directory: string, counter: RecoveryCounter): Promise<RecoveredLog> {
  const present = await listSegmentBases(directory)
  const start = await startIndexOrInitialize(directory, present, counter)
  const bases = await dropObsoleteSegments(directory, present, start, counter)
  if (bases.length === 0) return { segments: [], records: [], offsets: [], first: start, resetTo: null, tornBytes: 0, tornFile: null }
  const segments: Segment[] = []
  const records: LogRecord[] = []
  const offsets: number[] = []
  let torn: { bytes: number, file: string | null } = { bytes: 0, file: null }
  for (const [position, base] of bases.entries()) {
    const segment = segmentAt(directory, base, 0)
    const decoded = decodeSegment(await readFile(segment.path), { file: segment.file, base, isLast: position === bases.length - 1 })
    checkContinuity(segment, decoded, segments.at(-1), records.at(-1))
    for (const record of decoded.records) {
      records.push({ index: record.index, term: record.term, data: record.data })
      offsets.push(record.offset)
    }
    segment.sizeBytes = decoded.validBytes
    segments.push(segment)
    if (decoded.tornBytes > 0) torn = { bytes: decoded.tornBytes, file: segment.file }
  }
  const last = segments.at(-1)
  if (last !== undefined && torn.bytes > 0) await truncateTornTail(last, counter)
  return applyStart(segments, records, offsets, start, torn)
}

/**
 * The persisted start index. A fresh directory gets `wal-start` = 1 before its first segment, so that
 * later a missing first segment is detectable (start < base) instead of looking like a compacted log.
 */
async function startIndexOrInitialize (directory: string, bases: number[], counter: SyncCounter): Promise<number> {
  const start = await readStartIndex(directory)
  if (start !== null) return start
  if (bases.length > 0) throw new WalCorruptError(START_FILE_NAME, 0, 'missing while segments exist')
  await writeStartIndex(directory, 1, counter)
  return 1
}

/**
 * Deletes segments that lie wholly below the persisted start (a compact() that was interrupted before
 * its deletions finished). A segment's extent is known from the next one's base, so no need to read it.
 */
async function dropObsoleteSegments (directory: string, bases: number[], start: number, counter: RecoveryCounter): Promise<number[]> {
  const obsolete = bases.filter((_, position) => (bases[position + 1] ?? Infinity) <= start)
  await deleteSegmentFiles(directory, obsolete.map((base) => segmentAt(directory, base, 0)), counter)
  counter.segmentsDeleted += obsolete.length
  return bases.slice(obsolete.length)
}

/** Each segment must start right after the previous one ends, with terms that never decrease. */
function checkContinuity (segment: Segment, decoded: DecodedSegment, previousSegment: Segment | undefined, previousRecord: LogRecord | undefined): void {
  if (previousSegment === undefined) return
  // The previous segment ends just before its last record + 1, or (if it holds none) before its own base.
  const expectedBase = previousRecord === undefined || previousRecord.index < previousSegment.base ? previousSegment.base : previousRecord.index + 1
  if (segment.base !== expectedBase) {
    throw new WalCorruptError(segment.file, 0, `segment starts at index ${segment.base} but the log continues at ${expectedBase}`)
  }
  const first = decoded.records[0]
  if (first !== undefined && previousRecord !== undefined && first.term < previousRecord.term) {
    throw new WalCorruptError(segment.file, SEGMENT_HEADER_BYTES, `term goes back from ${previousRecord.term} to ${first.term} across segments`)
  }
}

/** Cuts the torn bytes off and fdatasyncs, so the next append never lands after garbage. */
async function truncateTornTail (segment: Segment, counter: SyncCounter): Promise<void> {
  const handle = await open(segment.path, 'r+')
  try {
    await handle.truncate(segment.sizeBytes)
    await handle.datasync()
    counter.syncs++
  } finally {
    await handle.close()
  }
}

/** Hides records below the persisted start; a start past the end means the log must restart there. */
function applyStart (segments: Segment[], records: LogRecord[], offsets: number[], start: number, torn: { bytes: number, file: string | null }): RecoveredLog {
  const oldest = segments[0]
  assert.ok(oldest !== undefined, 'called with at least one segment')
  const lastIndex = oldest.base + records.length - 1
  const result = { segments, records, offsets, first: oldest.base, resetTo: null, tornBytes: torn.bytes, tornFile: torn.file }
  if (start < oldest.base) {
    throw new WalCorruptError(oldest.file, SEGMENT_HEADER_BYTES, `log starts at index ${oldest.base} but its persisted start is ${start}: records are missing`)
  }
  if (start > lastIndex + 1) return { ...result, records: [], offsets: [], first: start, resetTo: start }
  records.splice(0, start - oldest.base)
  offsets.splice(0, start - oldest.base)
  return { ...result, first: start }
}
