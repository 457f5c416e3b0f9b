// Proves the WAL's normal-operation contract: records survive a reopen, concurrent appends share
// fsyncs (counted, never timed), truncateSuffix and compact are durable, segments roll at their limit,
// and caller bugs (gaps, decreasing terms, out-of-range reads) are refused with named errors.
import type { FileHandle } from 'node:fs/promises'
import test from 'brittle'
import { LogCompactedError, LogUnavailableError, Wal } from '../../../metadata/storage/wal.js'
import { record, records, segmentFiles, texts } from './helpers.js'

test('round trip across reopen', async (t) => {
  const directory = await t.tmp()
  const wal = await Wal.open(directory)
  t.is(wal.firstIndex(), 1)
  t.is(wal.lastIndex(), 0, 'a fresh log is empty')
  await wal.append(records(1, 3, 1))
  await wal.append(records(4, 5, 2))
  await wal.close()

  const reopened = await Wal.open(directory)
  t.teardown(() => reopened.close())
  t.is(reopened.firstIndex(), 1)
  t.is(reopened.lastIndex(), 5)
  t.is(reopened.term(3), 1)
  t.is(reopened.term(4), 2)
  t.alike(texts(reopened.entries(2, 5)), ['entry-2', 'entry-3', 'entry-4'])
  t.alike(reopened.entries(3, 3), [], 'an empty range is allowed')
  t.is(reopened.recovery.tornBytes, 0)
})

test('released payloads: terms, appends, truncation and compaction go on; entries() is refused; reopen reads them all', async (t) => {
  const directory = await t.tmp()
  const wal = await Wal.open(directory)
  await wal.append(records(1, 3, 1))
  wal.releasePayloads()
  await wal.append(records(4, 6, 2))
  t.is(wal.term(2), 1)
  t.is(wal.term(5), 2)
  t.is(wal.lastIndex(), 6)
  t.exception(() => wal.entries(1, 2), /payloads were released/)
  await wal.truncateSuffix(6)
  await wal.append(records(6, 7, 3))
  await wal.compact(1)
  t.is(wal.firstIndex(), 2)
  await wal.close()
  const reopened = await Wal.open(directory)
  t.teardown(() => reopened.close())
  t.alike(texts(reopened.entries(2, 8)), ['entry-2', 'entry-3', 'entry-4', 'entry-5', 'entry-6', 'entry-7'])
  t.is(reopened.term(6), 3)
})

test('group commit: 256 concurrent appends cost 2 fdatasyncs, sequential ones cost one each', async (t) => {
  const wal = await Wal.open(await t.tmp())
  t.teardown(() => wal.close())
  const before = { ...wal.stats }
  // Issued in one synchronous loop: the first starts a write at once, the other 255 queue behind it
  // and must all ride the next single write + fdatasync.
  await Promise.all(records(1, 256).map((entry) => wal.append([entry])))
  t.is(wal.stats.records - before.records, 256)
  t.is(wal.stats.batches - before.batches, 2, 'two writes')
  t.is(wal.stats.syncs - before.syncs, 2, 'two fdatasyncs for 256 appends')
  t.is(wal.lastIndex(), 256)

  const middle = { ...wal.stats }
  for (const entry of records(257, 266)) await wal.append([entry])
  t.is(wal.stats.syncs - middle.syncs, 10, 'an append that waits for the previous one gets its own fdatasync')
})

test('appends are visible only once durable, in call order', async (t) => {
  const wal = await Wal.open(await t.tmp())
  t.teardown(() => wal.close())
  const first = wal.append(records(1, 2))
  const second = wal.append(records(3, 4))
  t.is(wal.lastIndex(), 0, 'nothing is served before its fdatasync')
  await first
  t.ok(wal.lastIndex() >= 2)
  await second
  t.is(wal.lastIndex(), 4)
})

test('caller bugs are refused: index gaps, decreasing terms, bad ranges', async (t) => {
  const wal = await Wal.open(await t.tmp())
  t.teardown(() => wal.close())
  await wal.append(records(1, 3, 2))
  await t.exception.all(wal.append([record(5, 2)]), /expected index 4/)
  await t.exception.all(wal.append([record(4, 1)]), /below 2/)
  await t.exception.all(wal.append([record(4, 2), record(4, 2)]), /expected index 5/)
  t.exception(() => wal.entries(2, 5), LogUnavailableError)
  t.exception(() => wal.term(4), LogUnavailableError)
  await wal.append([record(4, 3)])
  t.is(wal.lastIndex(), 4, 'refused calls did not disturb the log')
})

test('truncateSuffix drops a conflicting tail durably; appends continue after it', async (t) => {
  const directory = await t.tmp()
  const wal = await Wal.open(directory)
  for (const entry of records(1, 10, 1)) await wal.append([entry])
  await wal.truncateSuffix(6)
  t.is(wal.lastIndex(), 5)
  await wal.append(records(6, 7, 2))
  await wal.close()

  const reopened = await Wal.open(directory)
  t.teardown(() => reopened.close())
  t.is(reopened.lastIndex(), 7)
  t.alike([5, 6, 7].map((index) => reopened.term(index)), [1, 2, 2])
  await t.exception.all(reopened.truncateSuffix(9), /outside/, 'cannot truncate past the end + 1')
})

test('truncateSuffix queued behind pending appends applies in call order', async (t) => {
  const wal = await Wal.open(await t.tmp())
  t.teardown(() => wal.close())
  const pending = [wal.append(records(1, 5, 1)), wal.truncateSuffix(3), wal.append(records(3, 4, 2))]
  await Promise.all(pending)
  t.is(wal.lastIndex(), 4)
  t.alike([1, 2, 3, 4].map((index) => wal.term(index)), [1, 1, 2, 2])
})

test('truncateSuffix into an earlier segment deletes the later segments', async (t) => {
  const directory = await t.tmp()
  const wal = await Wal.open(directory, { segmentBytesMax: 256 })
  for (let index = 1; index <= 40; index += 4) await wal.append(records(index, index + 3))
  const rolled = (await segmentFiles(directory)).length
  t.ok(rolled > 3, `rolled into ${rolled} segments`)
  await wal.truncateSuffix(7)
  t.ok((await segmentFiles(directory)).length < rolled)
  await wal.append(records(7, 9, 5))
  await wal.close()

  const reopened = await Wal.open(directory, { segmentBytesMax: 256 })
  t.teardown(() => reopened.close())
  t.is(reopened.lastIndex(), 9)
  t.is(reopened.term(9), 5)
  t.alike(texts(reopened.entries(6, 8)), ['entry-6', 'entry-7'])
})

test('segments roll at the size limit and all are read back', async (t) => {
  const directory = await t.tmp()
  const wal = await Wal.open(directory, { segmentBytesMax: 512 })
  for (let index = 1; index <= 100; index += 5) await wal.append(records(index, index + 4, 1, 20))
  t.ok(wal.stats.segmentsCreated >= 5, `created ${wal.stats.segmentsCreated} segments`)
  const files = await segmentFiles(directory)
  t.is(files.length, wal.stats.segmentsCreated)
  t.is(files[0], 'wal-00000000000000000001.seg', 'the name carries the base index')
  await wal.close()

  const reopened = await Wal.open(directory, { segmentBytesMax: 512 })
  t.teardown(() => reopened.close())
  t.is(reopened.lastIndex(), 100)
  t.is(reopened.entries(1, 101).length, 100)
  t.is(reopened.recovery.segments, files.length)
})

test('compact deletes covered segments, persists the start, and survives reopen', async (t) => {
  const directory = await t.tmp()
  const wal = await Wal.open(directory, { segmentBytesMax: 256 })
  for (let index = 1; index <= 50; index += 5) await wal.append(records(index, index + 4))
  const before = await segmentFiles(directory)
  await wal.compact(30)
  t.is(wal.firstIndex(), 31)
  t.exception(() => wal.entries(30, 32), LogCompactedError)
  t.exception(() => wal.term(30), LogCompactedError)
  const after = await segmentFiles(directory)
  t.ok(after.length < before.length, `segments ${before.length} → ${after.length}`)
  await wal.compact(10)
  t.is(wal.firstIndex(), 31, 'compacting below the start is a no-op')
  await wal.close()

  const reopened = await Wal.open(directory, { segmentBytesMax: 256 })
  t.teardown(() => reopened.close())
  t.is(reopened.firstIndex(), 31, 'the start survives even inside a partly covered segment')
  t.is(reopened.lastIndex(), 50)
  t.alike(texts(reopened.entries(31, 33)), ['entry-31', 'entry-32'])
})

test('compact past the end (snapshot install) empties the log, which continues after it', async (t) => {
  const directory = await t.tmp()
  const wal = await Wal.open(directory)
  await wal.append(records(1, 10))
  await wal.compact(100)
  t.is(wal.firstIndex(), 101)
  t.is(wal.lastIndex(), 100)
  t.alike(await segmentFiles(directory), ['wal-00000000000000000101.seg'])
  await wal.append(records(101, 102, 7))
  await wal.close()

  const reopened = await Wal.open(directory)
  t.teardown(() => reopened.close())
  t.is(reopened.firstIndex(), 101)
  t.is(reopened.lastIndex(), 102)
  t.is(reopened.term(102), 7)
})

test('after an I/O error the WAL fails stop: pending and later calls reject', async (t) => {
  const wal = await Wal.open(await t.tmp())
  await wal.append(records(1, 2))
  // White-box fault injection: close the tail file behind the WAL's back, so the next write fails.
  await (wal as unknown as { _tail: FileHandle })._tail.close()
  await t.exception(wal.append(records(3, 3)), /EBADF|closed/)
  await t.exception(wal.append(records(4, 4)), /failed earlier/)
  t.is(wal.lastIndex(), 2, 'nothing unconfirmed became visible')
  await wal.close()
})

test('a closed WAL refuses work', async (t) => {
  const wal = await Wal.open(await t.tmp())
  await wal.close()
  await t.exception(wal.append([record(1)]), /closed/)
})
