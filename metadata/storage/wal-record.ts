// One log record on disk: a fixed header then the payload. Pure encode/decode over bytes, no I/O, so the
// decoder can be fuzzed. Layout (little-endian):
//
//   0  crc32            u32  zlib.crc32 (IEEE) of bytes [4, 32 + dataLength): header fields and payload
//   4  dataLength       u32
//   8  index            u64
//  16  term             u64
//  24  batchFirstIndex  u64  index of the first record of the write this record was part of
//  32  data             dataLength bytes
//
// batchFirstIndex is what lets recovery tell a torn final write from corruption: the writer starts a
// write only after the previous one is durable, so a damaged record followed by a record of a *later*
// batch cannot be a crash artefact (see wal-segment.ts).
import { crc32 } from 'node:zlib'
import { readUint64, writeUint64 } from './uint64.js'

export const RECORD_HEADER_BYTES = 32
export const RECORD_DATA_BYTES_MAX = 4 * 1024 * 1024 // metadata commands are small; anything larger is a bug or damage

const CRC_OFFSET = 0
const LENGTH_OFFSET = 4
const INDEX_OFFSET = 8
const TERM_OFFSET = 16
const BATCH_FIRST_INDEX_OFFSET = 24

export interface LogRecord {
  readonly index: number
  readonly term: number
  readonly data: Uint8Array
}

/** A record found intact by readFrame: where its payload is and where the next frame starts. */
export interface Frame {
  readonly index: number
  readonly term: number
  readonly batchFirstIndex: number
  readonly dataOffset: number
  readonly dataBytes: number
  readonly endOffset: number
}

export function encodedRecordBytes (record: LogRecord): number {
  return RECORD_HEADER_BYTES + record.data.length
}

/** Writes one frame at `offset` of `target` and returns the offset just past it. */
export function encodeRecordInto (target: Uint8Array, offset: number, record: LogRecord, batchFirstIndex: number): number {
  const endOffset = offset + encodedRecordBytes(record)
  if (record.data.length > RECORD_DATA_BYTES_MAX) throw new RangeError('record data too large')
  if (endOffset > target.length) throw new RangeError('record does not fit the target buffer')
  if (batchFirstIndex > record.index) throw new RangeError('batch starts after its record')
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
  view.setUint32(offset + LENGTH_OFFSET, record.data.length, true)
  writeUint64(view, offset + INDEX_OFFSET, record.index)
  writeUint64(view, offset + TERM_OFFSET, record.term)
  writeUint64(view, offset + BATCH_FIRST_INDEX_OFFSET, batchFirstIndex)
  target.set(record.data, offset + RECORD_HEADER_BYTES)
  view.setUint32(offset + CRC_OFFSET, crc32(target.subarray(offset + LENGTH_OFFSET, endOffset)), true)
  return endOffset
}

/**
 * The intact frame starting at `offset`, or null when the bytes there are not one: too short, length out
 * of range, checksum mismatch, or a number that cannot be a safe integer. Never throws on any input.
 */
export function readFrame (bytes: Uint8Array, view: DataView, offset: number): Frame | null {
  if (offset < 0 || bytes.length - offset < RECORD_HEADER_BYTES) return null
  const dataBytes = view.getUint32(offset + LENGTH_OFFSET, true)
  if (dataBytes > RECORD_DATA_BYTES_MAX) return null
  const endOffset = offset + RECORD_HEADER_BYTES + dataBytes
  if (endOffset > bytes.length) return null
  const index = readUint64(view, offset + INDEX_OFFSET)
  const term = readUint64(view, offset + TERM_OFFSET)
  const batchFirstIndex = readUint64(view, offset + BATCH_FIRST_INDEX_OFFSET)
  if (index < 1 || term < 0 || batchFirstIndex < 1 || batchFirstIndex > index) return null
  const expected = view.getUint32(offset + CRC_OFFSET, true)
  if (crc32(bytes.subarray(offset + LENGTH_OFFSET, endOffset)) !== expected) return null
  return { index, term, batchFirstIndex, dataOffset: offset + RECORD_HEADER_BYTES, dataBytes, endOffset }
}
