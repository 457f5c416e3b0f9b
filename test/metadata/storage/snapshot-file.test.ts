// Proves snapshot files are atomic and verified: data written whole or streamed round-trips with its
// meta, only the newest N are kept, a leftover .tmp (a crash mid-write) is ignored, and a damaged newest
// snapshot is reported and skipped in favour of the previous one.
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'brittle'
import { listSnapshots, loadLatestSnapshot, snapshotFileName, writeSnapshot } from '../../../metadata/storage/snapshot-file.js'
import { fileSize, flipByte } from './helpers.js'

async function * chunks (count: number, bytes: number): AsyncIterable<Uint8Array> {
  for (let chunk = 0; chunk < count; chunk++) yield Buffer.alloc(bytes, chunk)
}

test('a snapshot round-trips from a buffer or a stream, with its meta', async (t) => {
  const directory = await t.tmp()
  await writeSnapshot(directory, { index: 10, term: 2, voters: ['a', 'b'] }, Buffer.from('small state'))
  let loaded = await loadLatestSnapshot(directory)
  t.alike(loaded?.meta, { index: 10, term: 2, voters: ['a', 'b'] })
  t.is(Buffer.from(loaded?.data ?? []).toString(), 'small state')

  const written = await writeSnapshot(directory, { index: 20, term: 3 }, chunks(64, 4096))
  t.is(written.bytes, await fileSize(join(directory, written.file)))
  loaded = await loadLatestSnapshot(directory)
  t.is(loaded?.meta.index, 20)
  t.is(loaded?.data.length, 64 * 4096)
  t.is(loaded?.data[4096 * 63], 63, 'chunks are in order')
})

test('only the newest N snapshots are kept', async (t) => {
  const directory = await t.tmp()
  for (const index of [5, 9, 30, 100]) await writeSnapshot(directory, { index, term: 1 }, Buffer.from(`state-${index}`))
  t.alike(await listSnapshots(directory), [snapshotFileName(100, 1), snapshotFileName(30, 1)])
  await writeSnapshot(directory, { index: 101, term: 1 }, Buffer.from('x'), { retain: 1 })
  t.alike(await listSnapshots(directory), [snapshotFileName(101, 1)])
})

test('a leftover .tmp from a crash mid-write is ignored, then removed by the next write', async (t) => {
  const directory = await t.tmp()
  await writeSnapshot(directory, { index: 5, term: 1 }, Buffer.from('good'))
  await writeFile(join(directory, snapshotFileName(50, 1) + '.tmp'), 'half a snapshot')
  const loaded = await loadLatestSnapshot(directory)
  t.is(loaded?.meta.index, 5)
  await writeSnapshot(directory, { index: 6, term: 1 }, Buffer.from('newer'))
  t.absent((await readdir(directory)).some((name) => name.endsWith('.tmp')))
})

test('a damaged newest snapshot falls back to the previous one, and says so', async (t) => {
  const directory = await t.tmp()
  await writeSnapshot(directory, { index: 5, term: 1 }, Buffer.from('older state'))
  await writeSnapshot(directory, { index: 9, term: 2 }, Buffer.from('newer state'))
  await flipByte(join(directory, snapshotFileName(9, 2)), 12)
  const messages: string[] = []
  const loaded = await loadLatestSnapshot(directory, { log: (message) => messages.push(message) })
  t.is(loaded?.meta.index, 5)
  t.is(Buffer.from(loaded?.data ?? []).toString(), 'older state')
  t.is(messages.length, 1)
  t.ok(messages[0]?.includes(snapshotFileName(9, 2)), 'the log names the damaged file')

  await flipByte(join(directory, snapshotFileName(5, 1)), 12)
  t.is(await loadLatestSnapshot(directory, { log: () => {} }), null, 'nothing verifies: null, never bad data')
})

test('a failing data stream leaves no snapshot and no tmp file', async (t) => {
  const directory = await t.tmp()
  async function * failing (): AsyncIterable<Uint8Array> {
    yield Buffer.from('partial')
    throw new Error('source failed')
  }
  await t.exception(writeSnapshot(directory, { index: 7, term: 1 }, failing()), /source failed/)
  t.alike(await readdir(directory), [])
  t.is(await loadLatestSnapshot(await t.tmp()), null, 'an empty directory has no snapshot')
})
