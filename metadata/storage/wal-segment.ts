// One segment file of the write-ahead log: its name, its header, and the pure decoder that turns its bytes
// into records while deciding what damage a crash can explain. No I/O here, so it can be fuzzed.
//
// A segment is `wal-<base, 20 digits>.seg`: a 32-byte header (magic "SWFSWAL1" | version u32 | reserved u32 |
// base u64 | reserved u32 | crc32 u32) then frames (wal-record.ts) with indexes
// base, base+1, … Segments are created atomically (tmp, fsync, rename, fsync dir) and a write never spans
// two segments, so only the LAST segment can end in a torn write.
import { crc32 } from 'node:zlib'
import { WalCorruptError } from './errors.js'
import { RECORD_HEADER_BYTES, readFrame } from './wal-record.js'
import type { Frame, LogRecord } from './wal-record.js'
import { readUint64, writeUint64 } from './uint64.js'

export const SEGMENT_HEADER_BYTES = 32
const SEGMENT_MAGIC = Buffer.from('SWFSWAL1', 'latin1') // 8 bytes
const SEGMENT_VERSION = 1
const VERSION_OFFSET = 8
const BASE_OFFSET = 16
const HEADER_CRC_OFFSET = 28 // the header's last 4 bytes: crc32 of all 28 before them
const SEGMENT_NAME_PATTERN = /^wal-(\d{20})\.seg$/
const INDEX_FIELD_OFFSET = 8 // where readFrame finds the index inside a frame header

/** A record as decoded from a segment: the payload is a view into the segment bytes, `offset` is its frame. */
export interface DecodedRecord extends LogRecord {
  readonly offset: number
}

export interface DecodedSegment {
  readonly base: number
  readonly records: DecodedRecord[]
  /** Bytes that hold the header and intact records; a torn tail starts here. */
  readonly validBytes: number
  /** Bytes after validBytes that a crash mid-write left behind (only ever non-zero in the last segment). */
  readonly tornBytes: number
}

export interface SegmentIdentity {
  readonly file: string // for error messages
  readonly base: number // from the file name; the header must agree
  readonly isLast: boolean // only the last segment may end in a torn write
}

export function segmentFileName (base: number): string {
  if (!Number.isSafeInteger(base) || base < 1) throw new RangeError(`bad segment base ${base}`)
  return `wal-${String(base).padStart(20, '0')}.seg`
}

/** The base index named by a segment file name, or null for any other file. */
export function parseSegmentFileName (name: string): number | null {
  const match = SEGMENT_NAME_PATTERN.exec(name)
  if (match === null || match[1] === undefined) return null
  const base = Number(match[1])
  return Number.isSafeInteger(base) && base >= 1 ? base : null
}

export function encodeSegmentHeader (base: number): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES)
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
  SEGMENT_MAGIC.copy(header, 0)
  view.setUint32(VERSION_OFFSET, SEGMENT_VERSION, true)
  writeUint64(view, BASE_OFFSET, base)
  view.setUint32(HEADER_CRC_OFFSET, crc32(header.subarray(0, HEADER_CRC_OFFSET)), true)
  return header
}

/**
 * Decodes a whole segment. Returns the intact records; in the last segment a damaged or incomplete
 * record with no record of a later write after it is a torn tail (reported in tornBytes, to be cut off).
 * Anything else throws WalCorruptError, and only that, whatever the bytes.
 */
export function decodeSegment (bytes: Uint8Array, identity: SegmentIdentity): DecodedSegment {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  checkHeader(bytes, view, identity)
  const records: DecodedRecord[] = []
  let offset = SEGMENT_HEADER_BYTES
  let previous: Frame | null = null
  while (offset < bytes.length) {
    const frame = readFrame(bytes, view, offset)
    const expectedIndex = previous === null ? identity.base : previous.index + 1
    if (frame === null) return tornTail(bytes, view, identity, records, offset, expectedIndex)
    checkSequence(identity, offset, frame, previous, expectedIndex)
    records.push({ index: frame.index, term: frame.term, data: bytes.subarray(frame.dataOffset, frame.endOffset), offset })
    previous = frame
    offset = frame.endOffset
  }
  return { base: identity.base, records, validBytes: bytes.length, tornBytes: 0 }
}

function checkHeader (bytes: Uint8Array, view: DataView, identity: SegmentIdentity): void {
  const fail = (offset: number, reason: string): never => { throw new WalCorruptError(identity.file, offset, reason) }
  if (bytes.length < SEGMENT_HEADER_BYTES) fail(0, `shorter than the ${SEGMENT_HEADER_BYTES}-byte segment header`)
  if (!SEGMENT_MAGIC.equals(bytes.subarray(0, SEGMENT_MAGIC.length))) fail(0, 'bad segment magic')
  if (crc32(bytes.subarray(0, HEADER_CRC_OFFSET)) !== view.getUint32(HEADER_CRC_OFFSET, true)) fail(HEADER_CRC_OFFSET, 'segment header checksum mismatch')
  const version = view.getUint32(VERSION_OFFSET, true)
  if (version !== SEGMENT_VERSION) fail(VERSION_OFFSET, `unsupported segment version ${version}`)
  const base = readUint64(view, BASE_OFFSET)
  if (base !== identity.base) fail(BASE_OFFSET, `header base ${base} disagrees with the file name (${identity.base})`)
}

/** An intact frame must continue the log: next index, term never decreasing, batch ids consistent. */
function checkSequence (identity: SegmentIdentity, offset: number, frame: Frame, previous: Frame | null, expectedIndex: number): void {
  const fail = (reason: string): never => { throw new WalCorruptError(identity.file, offset, reason) }
  if (frame.index !== expectedIndex) fail(`expected index ${expectedIndex}, found ${frame.index}`)
  if (previous !== null && frame.term < previous.term) fail(`term goes back from ${previous.term} to ${frame.term}`)
  // A record either starts a new write or belongs to the same write as the record before it.
  const startsBatch = frame.batchFirstIndex === frame.index
  const continuesBatch = previous !== null && frame.batchFirstIndex === previous.batchFirstIndex
  if (!startsBatch && !continuesBatch) fail(`record claims write ${frame.batchFirstIndex}, which does not precede it`)
}

/**
 * Decides whether the damage at `offset` is a torn final write. The writer issues a write only after the
 * previous one is durable, so an intact record of a LATER write (batchFirstIndex > expectedIndex) after
 * the damage proves the damaged record was once durable: that is corruption, not a crash. Records of the
 * same write may legitimately survive a crash around a hole (page cache writeback is not ordered).
 */
function tornTail (bytes: Uint8Array, view: DataView, identity: SegmentIdentity, records: DecodedRecord[], offset: number, expectedIndex: number): DecodedSegment {
  if (!identity.isLast) throw new WalCorruptError(identity.file, offset, `damaged or incomplete record (index ${expectedIndex}) in a segment that is not the last`)
  const later = findLaterWrite(bytes, view, offset + 1, expectedIndex)
  if (later !== null) {
    throw new WalCorruptError(identity.file, offset, `damaged record (index ${expectedIndex}) followed by an intact record of a later write (index ${later.index} at byte ${later.offset})`)
  }
  return { base: identity.base, records, validBytes: offset, tornBytes: bytes.length - offset }
}

/** Scans every byte offset from `start` for an intact frame of a write later than `expectedIndex`. */
function findLaterWrite (bytes: Uint8Array, view: DataView, start: number, expectedIndex: number): { index: number, offset: number } | null {
  let offset = start
  while (offset + RECORD_HEADER_BYTES <= bytes.length) {
    // Cheap filter first: the index field must be plausible before paying for a checksum.
    const index = readUint64(view, offset + INDEX_FIELD_OFFSET)
    const indexMax = expectedIndex + Math.floor((bytes.length - offset) / RECORD_HEADER_BYTES)
    const frame = index >= expectedIndex && index <= indexMax ? readFrame(bytes, view, offset) : null
    if (frame !== null && frame.batchFirstIndex > expectedIndex) return { index: frame.index, offset }
    offset = frame === null ? offset + 1 : frame.endOffset
  }
  return null
}
