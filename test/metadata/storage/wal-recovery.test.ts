// Proves what Wal.open() does with the files a crash or a bad disk leaves behind. A torn final write is
// cut off (durably) and the good prefix served; every other kind of damage — a bad record with a later
// write after it, a bad non-last segment, a missing segment, a bad header or start marker — refuses to
// open with a WalCorruptError naming the file and offset. Interrupted compactions are finished.
import { readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'brittle'
import type { Test } from 'brittle'
import { Wal, WalCorruptError } from '../../../metadata/storage/wal.js'
import { decodeSegment } from '../../../metadata/storage/wal-segment.js'
import { writeStartIndex } from '../../../metadata/storage/wal-start.js'
import { appendBytes, fileSize, flipByte, record, records, segmentFiles, truncateFile } from './helpers.js'

const FIRST_SEGMENT = 'wal-00000000000000000001.seg'

/** A closed log in a fresh directory, one write per record (so every record is its own batch). */
async function writtenLog (t: Test, last: number, segmentBytesMax?: number): Promise<string> {
  const directory = await t.tmp()
  const wal = await Wal.open(directory, segmentBytesMax === undefined ? {} : { segmentBytesMax })
  for (const entry of records(1, last)) await wal.append([entry])
  await wal.close()
  return directory
}

/** Frame offsets of a segment's records by index, read with the real decoder. */
async function frameOffsets (directory: string, file: string): Promise<Map<number, number>> {
  const base = Number(file.slice(4, 24))
  const decoded = decodeSegment(await readFile(join(directory, file)), { file, base, isLast: true })
  return new Map(decoded.records.map((entry) => [entry.index, entry.offset]))
}

async function openRefused (t: Test, directory: string, options = {}): Promise<WalCorruptError | null> {
  try {
    const wal = await Wal.open(directory, options)
    await wal.close()
    t.fail('opened a damaged log')
    return null
  } catch (error) {
    t.ok(error instanceof WalCorruptError, `refused with ${String(error)}`)
    t.ok(error instanceof Error && !(error instanceof TypeError) && !(error instanceof RangeError), 'a plain Error subclass')
    return error instanceof WalCorruptError ? error : null
  }
}

test('torn tail: a record cut mid-write is dropped, the cut is durable, appends continue', async (t) => {
  const directory = await writtenLog(t, 5)
  const path = join(directory, FIRST_SEGMENT)
  const fifth = (await frameOffsets(directory, FIRST_SEGMENT)).get(5) ?? 0
  await truncateFile(path, fifth + 10)

  const wal = await Wal.open(directory)
  t.is(wal.lastIndex(), 4, 'the good prefix')
  t.is(wal.recovery.tornBytes, 10)
  t.is(wal.recovery.tornFile, FIRST_SEGMENT)
  t.is(await fileSize(path), fifth, 'the torn bytes were cut off the file')
  await wal.append([record(5, 2)])
  await wal.close()

  const reopened = await Wal.open(directory)
  t.teardown(() => reopened.close())
  t.is(reopened.lastIndex(), 5)
  t.is(reopened.term(5), 2)
})

test('torn tail: garbage or zeros after the last record are dropped', async (t) => {
  for (const tail of [Buffer.from('garbage! '.repeat(20)), Buffer.alloc(4096)]) {
    const directory = await writtenLog(t, 5)
    await appendBytes(join(directory, FIRST_SEGMENT), tail)
    const wal = await Wal.open(directory)
    t.is(wal.lastIndex(), 5)
    t.is(wal.recovery.tornBytes, tail.length)
    await wal.close()
  }
})

test('a flipped byte in a middle record (later writes follow) refuses to open', async (t) => {
  const directory = await writtenLog(t, 6)
  const third = (await frameOffsets(directory, FIRST_SEGMENT)).get(3) ?? 0
  await flipByte(join(directory, FIRST_SEGMENT), third + 34)
  const error = await openRefused(t, directory)
  t.is(error?.file, FIRST_SEGMENT)
  t.is(error?.offset, third, 'names the damaged record')
  t.ok(error?.message.includes('later write'))
})

test('a damaged record inside the final write, with only that write after it, is a torn write', async (t) => {
  // Page-cache writeback is unordered, so a crash mid-write can leave a hole with later pages of the
  // SAME write intact. That write was never acknowledged: cutting it off is correct, not data loss.
  const directory = await t.tmp()
  const wal = await Wal.open(directory)
  await wal.append(records(1, 3))
  await wal.append(records(4, 8))
  await wal.close()
  const fifth = (await frameOffsets(directory, FIRST_SEGMENT)).get(5) ?? 0
  await flipByte(join(directory, FIRST_SEGMENT), fifth + 33)
  const reopened = await Wal.open(directory)
  t.teardown(() => reopened.close())
  t.is(reopened.lastIndex(), 4, 'records 5..8 of the torn write are dropped; 4 of the same write survives')
})

test('damage in a segment that is not the last refuses to open', async (t) => {
  const directory = await writtenLog(t, 30, 256)
  const files = await segmentFiles(directory)
  t.ok(files.length >= 3)
  const first = files[0] ?? ''
  const offsets = [...(await frameOffsets(directory, first)).values()]
  await flipByte(join(directory, first), (offsets.at(-1) ?? 0) + 35) // the LAST record of a non-last segment
  const error = await openRefused(t, directory, { segmentBytesMax: 256 })
  t.is(error?.file, first)
})

test('a missing middle segment or a missing first segment refuses to open', async (t) => {
  const gapped = await writtenLog(t, 30, 256)
  await rm(join(gapped, (await segmentFiles(gapped))[1] ?? ''))
  t.ok((await openRefused(t, gapped, { segmentBytesMax: 256 }))?.message.includes('continues at'))

  const headless = await writtenLog(t, 30, 256)
  await rm(join(headless, FIRST_SEGMENT))
  t.ok((await openRefused(t, headless, { segmentBytesMax: 256 }))?.message.includes('missing'))
})

test('a damaged segment header or start marker refuses to open', async (t) => {
  const header = await writtenLog(t, 3)
  await flipByte(join(header, FIRST_SEGMENT), 17)
  t.is((await openRefused(t, header))?.offset, 28, 'the header checksum')

  const marker = await writtenLog(t, 3)
  await flipByte(join(marker, 'wal-start'), 9)
  t.is((await openRefused(t, marker))?.file, 'wal-start')

  const noMarker = await writtenLog(t, 3)
  await rm(join(noMarker, 'wal-start'))
  await openRefused(t, noMarker)
})

test('an interrupted compaction is finished on open', async (t) => {
  // Crash after persisting the new start, before deleting covered segments.
  const directory = await writtenLog(t, 50, 256)
  const before = await segmentFiles(directory)
  await writeStartIndex(directory, 31)
  const wal = await Wal.open(directory, { segmentBytesMax: 256 })
  t.is(wal.firstIndex(), 31)
  t.is(wal.lastIndex(), 50)
  t.ok((await segmentFiles(directory)).length < before.length, 'covered segments deleted')
  await wal.close()

  // Crash after persisting a start past the end (snapshot install), before the fresh segment existed.
  const installed = await writtenLog(t, 10)
  await writeStartIndex(installed, 101)
  const reset = await Wal.open(installed)
  t.teardown(() => reset.close())
  t.is(reset.firstIndex(), 101)
  t.is(reset.lastIndex(), 100)
  t.alike(await segmentFiles(installed), ['wal-00000000000000000101.seg'])
})

test('leftover tmp files of our own atomic writes are removed; foreign files are left alone', async (t) => {
  const directory = await writtenLog(t, 3)
  await writeFile(join(directory, 'wal-00000000000000000004.seg.tmp'), 'half a header')
  await writeFile(join(directory, 'notes.txt'), 'not ours')
  const wal = await Wal.open(directory)
  t.teardown(() => wal.close())
  t.is(wal.lastIndex(), 3)
  const names = await readdir(directory)
  t.absent(names.includes('wal-00000000000000000004.seg.tmp'))
  t.ok(names.includes('notes.txt'))
})
