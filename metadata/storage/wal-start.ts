// The log's logical start, persisted by compact(): records below it are covered by a snapshot even when
// they still sit in a partly-compacted segment. Written atomically (atomic-file.ts), so it is never torn;
// a bad one is corruption. Layout: magic "SWFSWST1" (8) | firstIndex u64 | reserved u32 | crc32 of
// bytes [0, 20) u32 = 24 bytes (every byte is checked).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { WalCorruptError } from './errors.js'
import { isMissing, writeFileAtomic } from './atomic-file.js'
import type { SyncCounter } from './atomic-file.js'
import { readUint64, writeUint64 } from './uint64.js'

export const START_FILE_NAME = 'wal-start'
const START_MAGIC = Buffer.from('SWFSWST1', 'latin1')
const START_FILE_BYTES = 24
const FIRST_INDEX_OFFSET = 8
const CRC_OFFSET = 20

export async function writeStartIndex (directory: string, firstIndex: number, counter?: SyncCounter): Promise<void> {
  await writeFileAtomic(directory, join(directory, START_FILE_NAME), encodeStartIndex(firstIndex), counter)
}

export function encodeStartIndex (firstIndex: number): Buffer {
  if (!Number.isSafeInteger(firstIndex) || firstIndex < 1) throw new RangeError(`bad first index ${firstIndex}`)
  const bytes = Buffer.alloc(START_FILE_BYTES)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  START_MAGIC.copy(bytes, 0)
  writeUint64(view, FIRST_INDEX_OFFSET, firstIndex)
  view.setUint32(CRC_OFFSET, crc32(bytes.subarray(0, CRC_OFFSET)), true)
  return bytes
}

/** The persisted first index, or null when compact() never ran in this directory. */
export async function readStartIndex (directory: string): Promise<number | null> {
  const bytes = await readIfExists(join(directory, START_FILE_NAME))
  return bytes === null ? null : decodeStartIndex(bytes)
}

export function decodeStartIndex (bytes: Uint8Array): number {
  const fail = (offset: number, reason: string): never => { throw new WalCorruptError(START_FILE_NAME, offset, reason) }
  if (bytes.length !== START_FILE_BYTES) fail(0, `expected ${START_FILE_BYTES} bytes, found ${bytes.length}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (!START_MAGIC.equals(bytes.subarray(0, START_MAGIC.length))) fail(0, 'bad magic')
  if (crc32(bytes.subarray(0, CRC_OFFSET)) !== view.getUint32(CRC_OFFSET, true)) fail(CRC_OFFSET, 'checksum mismatch')
  const firstIndex = readUint64(view, FIRST_INDEX_OFFSET)
  if (firstIndex < 1) fail(FIRST_INDEX_OFFSET, `bad first index ${firstIndex}`)
  return firstIndex
}

async function readIfExists (path: string): Promise<Buffer | null> {
  try {
    return await readFile(path)
  } catch (error) {
    if (isMissing(error)) return null
    throw error
  }
}
