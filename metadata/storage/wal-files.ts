// The WAL's file-level operations: list, create and delete segment files durably. Segment creation is
// atomic (tmp, fdatasync, rename, fsync dir), which is why only the last segment can ever be torn.
import { open, readdir, rename } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { removeFile, syncDirectory, writeAndSync } from './atomic-file.js'
import type { SyncCounter } from './atomic-file.js'
import { SEGMENT_HEADER_BYTES, encodeSegmentHeader, parseSegmentFileName, segmentFileName } from './wal-segment.js'
import { START_FILE_NAME } from './wal-start.js'

/** A segment as the WAL tracks it: where it is, which index it starts at, and how many bytes are valid. */
export interface Segment {
  readonly base: number
  readonly file: string
  readonly path: string
  sizeBytes: number
}

export function segmentAt (directory: string, base: number, sizeBytes: number): Segment {
  const file = segmentFileName(base)
  return { base, file, path: join(directory, file), sizeBytes }
}

/**
 * Segment bases present in `directory`, ascending. Leftover `.tmp` files of our own atomic writes (a crash
 * between write and rename) are deleted: they were never part of the log. Other files are left alone.
 */
export async function listSegmentBases (directory: string): Promise<number[]> {
  const names = await readdir(directory)
  const bases: number[] = []
  for (const name of names) {
    const base = parseSegmentFileName(name)
    if (base !== null) bases.push(base)
    else if (isOwnTmpFile(name)) await removeFile(join(directory, name))
  }
  return bases.sort((a, b) => a - b)
}

function isOwnTmpFile (name: string): boolean {
  if (!name.endsWith('.tmp')) return false
  const target = name.slice(0, -'.tmp'.length)
  return target === START_FILE_NAME || parseSegmentFileName(target) !== null
}

/** Creates an empty segment (header only) atomically and returns it with an open read-write handle. */
export async function createSegmentFile (directory: string, base: number, counter: SyncCounter): Promise<{ segment: Segment, handle: FileHandle }> {
  const segment = segmentAt(directory, base, SEGMENT_HEADER_BYTES)
  await writeAndSync(segment.path + '.tmp', encodeSegmentHeader(base), counter)
  await rename(segment.path + '.tmp', segment.path)
  await syncDirectory(directory, counter)
  return { segment, handle: await open(segment.path, 'r+') }
}

/** Deletes segments in the given order, then makes the unlinks durable with one directory fsync. */
export async function deleteSegmentFiles (directory: string, segments: readonly Segment[], counter: SyncCounter): Promise<void> {
  if (segments.length === 0) return
  for (const segment of segments) await removeFile(segment.path)
  await syncDirectory(directory, counter)
}
