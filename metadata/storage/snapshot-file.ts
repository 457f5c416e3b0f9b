// Atomic, verified snapshot files (hashicorp file_snapshot.go, in one file per snapshot): stream the state
// into `<name>.tmp` while hashing it, append the metadata and a trailer carrying the hash, fsync, rename,
// fsync the directory, keep the newest N. Loading verifies the hash and falls back to an older snapshot
// when the newest is damaged — the caller must then check that the log still reaches back to it
// (loaded.meta.index + 1 >= wal.firstIndex()), or fetch a snapshot from the leader.
//
// Layout: magic "SWFSSNP1" (8) | data | meta as JSON | trailer (56): dataBytes u64 | metaBytes u32 |
// version u32 | SHA-256 of every byte before this field (32) | magic "SWFSSNPE" (8).
// SHA-256 rather than CRC: a snapshot is large and read rarely, and node hashes ~1.7 GB/s here.
import { createHash } from 'node:crypto'
import { open, readFile, readdir, rename } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { StorageFileCorruptError } from './errors.js'
import { isMissing, removeFile, syncDirectory, writeFully } from './atomic-file.js'
import { readUint64, writeUint64 } from './uint64.js'

export const SNAPSHOTS_RETAINED = 2
export const SNAPSHOT_META_BYTES_MAX = 1024 * 1024 // membership and counters, not state
const HEADER_MAGIC = Buffer.from('SWFSSNP1', 'latin1')
const TRAILER_MAGIC = Buffer.from('SWFSSNPE', 'latin1')
const FORMAT_VERSION = 1
const TRAILER_BYTES = 56
const TRAILER_HASHED_BYTES = 16 // dataBytes + metaBytes + version
const HASH_BYTES = 32
const NAME_PATTERN = /^snapshot-(\d{20})-(\d{20})\.snap$/

/** At least the log position the snapshot covers; any other JSON-serializable fields ride along. */
export interface SnapshotMeta {
  readonly index: number
  readonly term: number
  readonly [key: string]: unknown
}

export interface LoadedSnapshot {
  readonly meta: SnapshotMeta
  readonly data: Uint8Array
  readonly file: string
}

export interface WriteSnapshotOptions {
  /** How many snapshots to keep, newest first (default SNAPSHOTS_RETAINED). */
  retain?: number
}

export interface LoadSnapshotOptions {
  /** Where a skipped damaged snapshot is reported (default console.warn). */
  log?: (message: string) => void
}

export function snapshotFileName (index: number, term: number): string {
  if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(term) || term < 0) throw new RangeError(`bad snapshot position ${index}/${term}`)
  return `snapshot-${String(index).padStart(20, '0')}-${String(term).padStart(20, '0')}.snap`
}

/**
 * Writes a snapshot atomically: after a crash the directory holds either the complete, verified file or
 * a leftover .tmp that loading ignores. One writer per directory. Returns the file name and its size.
 */
export async function writeSnapshot (directory: string, meta: SnapshotMeta, data: Uint8Array | AsyncIterable<Uint8Array>, options: WriteSnapshotOptions = {}): Promise<{ file: string, bytes: number }> {
  const retain = options.retain ?? SNAPSHOTS_RETAINED
  if (!Number.isSafeInteger(retain) || retain < 1) throw new RangeError(`retain must be >= 1, got ${retain}`)
  const metaBytes = Buffer.from(JSON.stringify(meta), 'utf8')
  if (metaBytes.length > SNAPSHOT_META_BYTES_MAX) throw new RangeError('snapshot meta too large')
  const file = snapshotFileName(meta.index, meta.term)
  const path = join(directory, file)
  const handle = await open(path + '.tmp', 'w')
  let bytes: number
  try {
    bytes = await writeSnapshotBody(handle, metaBytes, data)
    await handle.sync()
  } catch (error) {
    await handle.close()
    await removeFile(path + '.tmp')
    throw error
  }
  await handle.close()
  await rename(path + '.tmp', path)
  await syncDirectory(directory)
  await pruneSnapshots(directory, retain)
  return { file, bytes }
}

/** Hashed and written a slice at a time: hashing 100 MB at once would hold the event loop ~0.2 s. */
const WRITE_SLICE_BYTES = 1024 * 1024

function * slices (bytes: Uint8Array, size: number): Generator<Uint8Array, void, undefined> {
  for (let start = 0; start < bytes.length; start += size) yield bytes.subarray(start, start + size)
}

/** Header, streamed data, meta, trailer — hashing as it goes. Returns the total bytes written. */
async function writeSnapshotBody (handle: FileHandle, metaBytes: Buffer, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<number> {
  const hash = createHash('sha256')
  let position = 0
  const put = async (chunk: Uint8Array): Promise<void> => {
    hash.update(chunk)
    await writeFully(handle, chunk, position)
    position += chunk.length
  }
  await put(HEADER_MAGIC)
  const chunks = data instanceof Uint8Array ? slices(data, WRITE_SLICE_BYTES) : data
  for await (const chunk of chunks) {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('snapshot data chunks must be Uint8Array')
    await put(chunk)
  }
  const dataBytes = position - HEADER_MAGIC.length
  await put(metaBytes)
  await put(encodeTrailerFields(dataBytes, metaBytes.length))
  const trailerEnd = Buffer.concat([hash.digest(), TRAILER_MAGIC])
  await writeFully(handle, trailerEnd, position)
  return position + trailerEnd.length
}

function encodeTrailerFields (dataBytes: number, metaBytes: number): Buffer {
  const fields = Buffer.alloc(TRAILER_HASHED_BYTES)
  const view = new DataView(fields.buffer, fields.byteOffset, fields.byteLength)
  writeUint64(view, 0, dataBytes)
  view.setUint32(8, metaBytes, true)
  view.setUint32(12, FORMAT_VERSION, true)
  return fields
}

/** Deletes all but the newest `retain` snapshots, and any stale .tmp (single writer: none is in progress). */
async function pruneSnapshots (directory: string, retain: number): Promise<void> {
  const names = await readdir(directory)
  const stale = names.filter((name) => name.endsWith('.snap.tmp') && NAME_PATTERN.test(name.slice(0, -'.tmp'.length)))
  const old = sortNewestFirst(names).slice(retain)
  for (const name of stale.concat(old)) await removeFile(join(directory, name))
  if (stale.length + old.length > 0) await syncDirectory(directory)
}

/** Snapshot file names in `directory`, newest (highest index, then term) first; .tmp files excluded. */
export async function listSnapshots (directory: string): Promise<string[]> {
  try {
    return sortNewestFirst(await readdir(directory))
  } catch (error) {
    if (isMissing(error)) return []
    throw error
  }
}

function sortNewestFirst (names: string[]): string[] {
  // Zero-padded fixed-width names sort like their (index, term) numbers.
  return names.filter((name) => NAME_PATTERN.test(name)).sort().reverse()
}

/**
 * The newest snapshot that verifies, or null if there is none. A damaged one is reported through
 * options.log and skipped in favour of the next older one; an I/O error other than damage is thrown.
 */
export async function loadLatestSnapshot (directory: string, options: LoadSnapshotOptions = {}): Promise<LoadedSnapshot | null> {
  const log = options.log ?? ((message: string) => { console.warn(message) })
  for (const file of await listSnapshots(directory)) {
    try {
      return { ...decodeSnapshot(await readFile(join(directory, file)), file), file }
    } catch (error) {
      if (!(error instanceof StorageFileCorruptError)) throw error
      log(`snapshot ${file} in ${directory} is damaged (${error.message}); falling back to an older snapshot`)
    }
  }
  return null
}

/** Verifies a whole snapshot file and returns its meta and a view of its data. Throws StorageFileCorruptError only. */
export function decodeSnapshot (bytes: Uint8Array, file: string): { meta: SnapshotMeta, data: Uint8Array } {
  const fail = (reason: string): never => { throw new StorageFileCorruptError(file, reason) }
  if (bytes.length < HEADER_MAGIC.length + TRAILER_BYTES) fail(`only ${bytes.length} bytes`)
  const trailerStart = bytes.length - TRAILER_BYTES
  if (!HEADER_MAGIC.equals(bytes.subarray(0, HEADER_MAGIC.length))) fail('bad header magic')
  if (!TRAILER_MAGIC.equals(bytes.subarray(bytes.length - TRAILER_MAGIC.length))) fail('bad trailer magic (incomplete file?)')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dataBytes = readUint64(view, trailerStart)
  const metaBytes = view.getUint32(trailerStart + 8, true)
  const version = view.getUint32(trailerStart + 12, true)
  if (version !== FORMAT_VERSION) fail(`unsupported version ${version}`)
  if (dataBytes < 0 || HEADER_MAGIC.length + dataBytes + metaBytes !== trailerStart) fail('section lengths disagree with the file size')
  const hashStart = trailerStart + TRAILER_HASHED_BYTES
  const digest = createHash('sha256').update(bytes.subarray(0, hashStart)).digest()
  if (!digest.equals(bytes.subarray(hashStart, hashStart + HASH_BYTES))) fail('checksum mismatch')
  const metaStart = HEADER_MAGIC.length + dataBytes
  const meta = parseMeta(bytes.subarray(metaStart, trailerStart), fail)
  const expectedName = snapshotFileName(meta.index, meta.term)
  if (NAME_PATTERN.test(file) && file !== expectedName) fail(`meta says ${meta.index}/${meta.term} but the file is named ${file}`)
  return { meta, data: bytes.subarray(HEADER_MAGIC.length, metaStart) }
}

function parseMeta (bytes: Uint8Array, fail: (reason: string) => never): SnapshotMeta {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    fail('meta is not JSON')
  }
  if (typeof parsed !== 'object' || parsed === null) return fail('meta is not an object')
  const { index, term } = parsed as { index?: unknown, term?: unknown }
  if (!isPosition(index) || !isPosition(term)) return fail('meta lacks a valid index and term')
  return parsed as SnapshotMeta
}

function isPosition (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
