// Proves the chunk store's room accounting with a fake disk: the reserve's bounds, refusal once a write
// would eat into the reserve, writes in flight and writes finished since the last statfs counted against
// the room (so concurrent writes can't all squeeze into the last megabytes), statfs asked at most once
// a second while room is ample and before every write once it is tight, and the mount's capacity
// reporting the reserve as used. Also: a store whose disk has no room fails puts with ENOSPC and leaves
// no file behind.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'brittle'
import { Errno, FsError } from '../../../native/errno.js'
import {
  ChunkStoreFullError, DiskRoom, MEASUREMENT_TTL_MS, RESERVE_BYTES_MAX, RESERVE_BYTES_MIN, defaultReserveBytes, roomLeft
} from '../../../peer/chunks/disk-room.js'
import type { DiskSpace } from '../../../peer/chunks/disk-room.js'
import { chunkIdOf } from '../../../peer/chunks/chunk-id.js'
import { CHUNK_BYTES, ChunkCorruptError, sealChunk } from '../../../peer/chunks/sealed-chunk.js'
import { MiB, patterned, tempStore } from './fixtures.js'

const GiB = 1024 * MiB

/** A disk whose available bytes the test sets, counting how often it is measured. */
function fakeDisk (availableBytes: number, totalBytes = 64 * GiB): { disk: DiskSpace, measured: () => number, measure: () => Promise<DiskSpace> } {
  const disk = { totalBytes, freeBytes: availableBytes, availableBytes }
  let count = 0
  return { disk, measured: () => count, measure: async () => { count++; return { ...disk } } }
}

test('the reserve is 5 % of the disk, at least 16 MiB and at most 1 GiB', (t) => {
  t.is(defaultReserveBytes(64 * MiB), RESERVE_BYTES_MIN)
  t.is(defaultReserveBytes(10 * GiB), Math.floor(10 * GiB * 0.05))
  t.is(defaultReserveBytes(4096 * GiB), RESERVE_BYTES_MAX)
  t.is(roomLeft(100, 30, 20), 50)
  t.is(roomLeft(100, 90, 20), 0, 'never negative')
})

test('a write that would eat into the reserve is refused with ENOSPC', async (t) => {
  const { disk, measure } = fakeDisk(40 * MiB)
  const room = new DiskRoom('/nowhere', { reserveBytes: 16 * MiB, measure })
  const release = await room.claim(20 * MiB)
  t.is(room.room(), 4 * MiB, 'the write counts against the room while it runs')
  release()
  t.is(room.room(), 4 * MiB, 'and once written, until statfs has seen it')
  disk.availableBytes -= 20 * MiB
  const error = await room.claim(8 * MiB).then(() => null, (caught: unknown) => caught)
  t.ok(error instanceof ChunkStoreFullError && error instanceof FsError && error.errno === Errno.ENOSPC, '24 MiB of room, 20 written: 8 more do not fit')
  t.is(room.room(), 4 * MiB, 'statfs now sees the 20 MiB; they are not counted twice')
})

test('writes in flight count against the room until they end', async (t) => {
  const { measure } = fakeDisk(32 * MiB)
  const room = new DiskRoom('/nowhere', { reserveBytes: 16 * MiB, measure })
  const first = await room.claim(10 * MiB)
  await t.exception(room.claim(10 * MiB), ChunkStoreFullError, 'two 10 MiB writes at once do not fit in 16 MiB')
  const second = await room.claim(6 * MiB)
  t.is(room.room(), 0)
  first()
  second()
  first() // releasing twice changes nothing
  t.is(room.room(), 0, 'finished writes still count until the next statfs')
})

test('statfs: at most once a second while room is ample, before every write once it is tight', async (t) => {
  let now = 0
  const ample = fakeDisk(10 * GiB)
  const room = new DiskRoom('/nowhere', { reserveBytes: 16 * MiB, measure: ample.measure, now: () => now })
  for (let i = 0; i < 10; i++) (await room.claim(MiB))()
  t.is(ample.measured(), 1, 'ten small writes, one statfs')
  now += MEASUREMENT_TTL_MS + 1
  ;(await room.claim(MiB))()
  t.is(ample.measured(), 2, 'a stale measurement is renewed')

  const tight = fakeDisk(70 * MiB)
  const small = new DiskRoom('/nowhere', { reserveBytes: 16 * MiB, measure: tight.measure, now: () => now })
  for (let i = 0; i < 5; i++) (await small.claim(MiB))()
  t.is(tight.measured(), 5, 'within 64 MiB of the reserve every write measures again')
  tight.disk.availableBytes = 200 * MiB // something was deleted
  ;(await small.claim(MiB))()
  t.ok((small.room() ?? 0) > 150 * MiB, 'so freed space is seen at once')
})

test('room() is null before the first measurement and starts one; capacity counts the reserve as used', async (t) => {
  const { measure, measured } = fakeDisk(40 * MiB, 64 * MiB)
  const room = new DiskRoom('/nowhere', { measure })
  t.is(room.room(), null, 'unknown before the first statfs')
  await new Promise((resolve) => setImmediate(resolve))
  t.is(measured(), 1, 'which room() started')
  t.is(room.room(), 40 * MiB - RESERVE_BYTES_MIN, 'the default reserve of a 64 MiB disk')
  const capacity = await room.capacity()
  t.alike(capacity, { totalBytes: 64 * MiB, freeBytes: 40 * MiB - RESERVE_BYTES_MIN, availableBytes: 40 * MiB - RESERVE_BYTES_MIN }, 'statfs of the mount shows what files may take')
})

test('a chunk store with no room fails puts with ENOSPC and leaves nothing behind', async (t) => {
  const { store, dir, keys } = await tempStore(t, { reserveBytes: Number.MAX_SAFE_INTEGER })
  const plaintext = patterned(CHUNK_BYTES, 5)
  const error = await store.put(plaintext).then(() => null, (caught: unknown) => caught)
  t.ok(error instanceof ChunkStoreFullError && (error as FsError).errno === Errno.ENOSPC, 'put: ENOSPC')
  const id = chunkIdOf(plaintext, keys.idKey)
  await t.exception(store.putSealed(id, sealChunk(plaintext, id, keys.encryptionKey)), ChunkStoreFullError, 'putSealed: the same')
  await t.exception(store.putSealed(id, Buffer.alloc(100)), ChunkCorruptError, 'a bad copy is still reported as bad, before any room check')
  t.is(await store.has(id), false, 'the chunk is not there')
  t.alike(await readdir(join(dir, 'tmp')), [], 'no temp file left')
  t.is(store.room(), 0, 'and the store says it has no room')
})
