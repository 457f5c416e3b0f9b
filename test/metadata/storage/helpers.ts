// Small builders and file tamperers shared by the storage tests.
import { open, readdir, stat, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import type { LogRecord } from '../../../metadata/storage/wal.js'

/** A record whose payload names its index, so a wrong record is obvious in a failure diff. */
export function record (index: number, term = 1, padBytes = 0): LogRecord {
  return { index, term, data: Buffer.from(`entry-${index}` + '.'.repeat(padBytes)) }
}

/** Records first..last inclusive. */
export function records (first: number, last: number, term = 1, padBytes = 0): LogRecord[] {
  const list: LogRecord[] = []
  for (let index = first; index <= last; index++) list.push(record(index, term, padBytes))
  return list
}

/** Payloads as strings, for t.alike against expectations. */
export function texts (list: readonly LogRecord[]): string[] {
  return list.map((entry) => Buffer.from(entry.data).toString())
}

export async function segmentFiles (directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => name.endsWith('.seg')).sort()
}

export async function fileSize (path: string): Promise<number> {
  return (await stat(path)).size
}

export async function flipByte (path: string, offset: number): Promise<void> {
  const handle = await open(path, 'r+')
  try {
    const byte = Buffer.alloc(1)
    await handle.read(byte, 0, 1, offset)
    byte[0] = (byte[0] ?? 0) ^ 0x40
    await handle.write(byte, 0, 1, offset)
  } finally {
    await handle.close()
  }
}

export async function appendBytes (path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'a')
  try {
    await handle.write(bytes)
  } finally {
    await handle.close()
  }
}

export async function truncateFile (path: string, length: number): Promise<void> {
  await truncate(path, length)
}

export function segmentPath (directory: string, name: string): string {
  return join(directory, name)
}

export { seededRandom } from '../../helpers/seeded-random.js'
