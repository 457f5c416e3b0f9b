// Proves the on-disk chunk store: round trips and partial reads at every block boundary, that a damaged
// file (a flipped byte, a torn or truncated write, blocks swapped on disk) fails reads of the affected
// blocks and verify() while other blocks still read, that no plaintext reaches the disk, dedupe, delete,
// list, stats, putSealed's verification, and that reads pread only the blocks they need.
import { readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'brittle'
import { chunkIdOf, chunkIdToHex } from '../../../peer/chunks/chunk-id.js'
import { ChunkMissingError, ChunkStore } from '../../../peer/chunks/chunk-store.js'
import { BLOCK_BYTES, BLOCK_OVERHEAD_BYTES, CHUNK_BYTES, ChunkCorruptError, HEADER_BYTES, sealChunk } from '../../../peer/chunks/sealed-chunk.js'
import { KiB, patterned, sameBytes, seededRandom, tempStore } from './fixtures.js'

const BLOCK_SEALED_BYTES = BLOCK_BYTES + BLOCK_OVERHEAD_BYTES

function chunkPath (dir: string, id: Buffer): string {
  const hex = chunkIdToHex(id)
  return join(dir, hex.slice(0, 2), hex)
}

test('put and read round trip at 1 byte, 64 KiB ± 1 and 4 MiB', async (t) => {
  const { store, keys } = await tempStore(t)
  for (const size of [1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, CHUNK_BYTES]) {
    const plaintext = patterned(size, size)
    const id = await store.put(plaintext)
    t.alike(id, chunkIdOf(plaintext, keys.idKey), `size ${size}: id is the keyed hash`)
    sameBytes(t, await store.read(id, 0, size), plaintext, `size ${size}: whole read`)
    sameBytes(t, await store.read(id, 0, size + 100), plaintext, `size ${size}: read past the end is clamped`)
    t.is((await store.read(id, size, 10)).length, 0, `size ${size}: read at the end is empty`)
    await store.verify(id)
    t.is((await store.layout(id)).plaintextBytes, size)
  }
})

test('partial reads at every block boundary of a 4 MiB chunk', async (t) => {
  const { store } = await tempStore(t)
  const plaintext = patterned(CHUNK_BYTES, 7)
  const id = await store.put(plaintext)
  let wrong = 0
  for (let boundary = 0; boundary <= CHUNK_BYTES; boundary += BLOCK_BYTES) {
    for (const offset of [boundary - 4 * KiB, boundary - 1, boundary, boundary + 1]) {
      for (const length of [1, 2, 4 * KiB, BLOCK_BYTES + 2]) {
        if (offset < 0) continue
        const expected = plaintext.subarray(offset, Math.min(offset + length, CHUNK_BYTES))
        if (!(await store.read(id, offset, length)).equals(expected)) wrong++
      }
    }
  }
  t.is(wrong, 0)
  const blocks = await store.readBlocks(id, 62, 2)
  sameBytes(t, Buffer.concat(blocks), plaintext.subarray(62 * BLOCK_BYTES))
})

test('a flipped byte in the stored file fails its block and verify(); other blocks still read', async (t) => {
  const { store, dir } = await tempStore(t, { readHandlesMax: 0 }) // reopen per read: each sees the edited file
  const plaintext = patterned(4 * BLOCK_BYTES + 500, 3)
  const id = await store.put(plaintext)
  const path = chunkPath(dir, id)
  const original = await readFile(path)
  const random = seededRandom(42)
  const positions = [0, 4, 5, 8, 12, 15] // header: magic, version, reserved, length, block size
  for (let block = 0; block < 5; block++) {
    const start = HEADER_BYTES + block * BLOCK_SEALED_BYTES
    const end = Math.min(start + BLOCK_SEALED_BYTES, original.length)
    positions.push(start, start + 23, start + 24, end - 17, end - 16, end - 1, start + Math.floor(random() * (end - start)))
  }
  let wrong = 0
  for (const position of positions) {
    const damaged = Buffer.from(original)
    damaged[position]! ^= 0x01
    await writeFile(path, damaged)
    const affected = position < HEADER_BYTES ? -1 : Math.floor((position - HEADER_BYTES) / BLOCK_SEALED_BYTES)
    for (let block = 0; block < 5; block++) {
      const result = await store.read(id, block * BLOCK_BYTES + 10, 100).then((bytes) => bytes, (error: unknown) => error)
      const shouldFail = affected === -1 || affected === block
      if (shouldFail && !(result instanceof ChunkCorruptError)) wrong++
      if (!shouldFail && !(Buffer.isBuffer(result) && result.equals(plaintext.subarray(block * BLOCK_BYTES + 10, block * BLOCK_BYTES + 110)))) wrong++
    }
    if (!(await store.verify(id).then(() => false, (error: unknown) => error instanceof ChunkCorruptError))) wrong++
  }
  t.is(wrong, 0, `${positions.length} flipped positions behaved`)
  await writeFile(path, original)
  await store.verify(id)
})

test('torn and truncated files are detected, never returned as data', async (t) => {
  const { store, dir, keys } = await tempStore(t, { readHandlesMax: 0 })
  const plaintext = patterned(3 * BLOCK_BYTES, 4)
  const id = await store.put(plaintext)
  const path = chunkPath(dir, id)
  const original = await readFile(path)
  for (const length of [0, 5, HEADER_BYTES, HEADER_BYTES + 100, HEADER_BYTES + BLOCK_SEALED_BYTES, original.length - 1]) {
    await truncate(path, length)
    await t.exception(store.read(id, 0, 10), ChunkCorruptError, `torn at ${length}: read`)
    await t.exception(store.verify(id), ChunkCorruptError, `torn at ${length}: verify`)
    await t.exception(store.readSealed(id), ChunkCorruptError, `torn at ${length}: readSealed`)
    await writeFile(path, original)
  }
  // A crash can also leave a full-length file whose tail never reached the disk (zeros).
  await writeFile(path, Buffer.concat([original.subarray(0, HEADER_BYTES + BLOCK_SEALED_BYTES), Buffer.alloc(original.length - HEADER_BYTES - BLOCK_SEALED_BYTES)]))
  sameBytes(t, await store.read(id, 0, 10), plaintext.subarray(0, 10), 'the whole first block still reads')
  await t.exception(store.read(id, BLOCK_BYTES, 10), ChunkCorruptError, 'zeroed block refused')
  await t.exception(store.verify(id), ChunkCorruptError)
  t.alike(await store.put(plaintext), id, 'put of the same content over a same-size damaged file is a dedupe hit')
  await store.putSealed(id, sealChunk(plaintext, id, keys.encryptionKey))
  await store.verify(id) // putSealed is the repair path: it overwrites
})

test('blocks swapped on disk are refused', async (t) => {
  const { store, dir } = await tempStore(t, { readHandlesMax: 0 })
  const id = await store.put(patterned(3 * BLOCK_BYTES, 5))
  const path = chunkPath(dir, id)
  const original = await readFile(path)
  const block = (index: number): Buffer => original.subarray(HEADER_BYTES + index * BLOCK_SEALED_BYTES, HEADER_BYTES + (index + 1) * BLOCK_SEALED_BYTES)
  await writeFile(path, Buffer.concat([original.subarray(0, HEADER_BYTES), block(1), block(0), block(2)]))
  await t.exception(store.read(id, 0, 1), ChunkCorruptError)
  await t.exception(store.read(id, BLOCK_BYTES, 1), ChunkCorruptError)
  t.is((await store.read(id, 2 * BLOCK_BYTES, 1)).length, 1, 'the block left in place still reads')
})

test('no stored chunk file contains any 64-byte run of its plaintext', async (t) => {
  const { store, dir } = await tempStore(t)
  const text = Buffer.from('swarmfs keeps your bytes private; '.repeat(10_000)) // low entropy, ~340 KB
  const zeros = Buffer.alloc(CHUNK_BYTES)
  const textId = await store.put(text)
  const zerosId = await store.put(zeros)
  // Any 64-byte run of the plaintext contains a 32-byte run starting at a multiple of 32, so it is enough
  // to check that none of those appears anywhere in the file: index every 32-byte window of the file.
  const file = await readFile(chunkPath(dir, textId))
  const windows = new Set<string>()
  for (let position = 0; position + 32 <= file.length; position++) windows.add(file.toString('latin1', position, position + 32))
  let leaks = 0
  for (let position = 0; position + 32 <= text.length; position += 32) if (windows.has(text.toString('latin1', position, position + 32))) leaks++
  t.is(leaks, 0, 'no 32-byte aligned window of the text is in its file')
  t.is((await readFile(chunkPath(dir, zerosId))).indexOf(Buffer.alloc(64)), -1, 'no 64 zero bytes in the file of a zero chunk')
})

test('dedupe, has, delete, list and stats', async (t) => {
  const { store, dir } = await tempStore(t)
  const plaintexts = [patterned(10, 1), patterned(70 * KiB, 2), patterned(1, 3)]
  const ids = await Promise.all(plaintexts.map(async (plaintext) => await store.put(plaintext)))
  const again = await Promise.all([store.put(plaintexts[0]!), store.put(plaintexts[0]!)])
  t.alike(again[0], ids[0])
  t.alike(again[1], ids[0])
  const fanout = await readdir(join(dir, chunkIdToHex(ids[0]!).slice(0, 2)))
  t.is(fanout.filter((name) => name === chunkIdToHex(ids[0]!)).length, 1, 'one file for duplicated content')
  t.is((await readdir(join(dir, 'tmp'))).length, 0, 'no temp files left behind')

  const listed: string[] = []
  for await (const id of store.list()) listed.push(chunkIdToHex(id))
  t.alike(listed, ids.map((id) => chunkIdToHex(id)).sort(), 'list yields every id, in hex order')
  const stats = await store.stats()
  t.is(stats.chunks, 3)
  t.is(stats.bytes, (10 + 40 + 16) + (70 * KiB + 2 * 40 + 16) + (1 + 40 + 16))

  t.ok(await store.has(ids[1]!))
  await store.read(ids[1]!, 0, 10) // caches a read handle, which delete must drop
  t.ok(await store.delete(ids[1]!))
  t.absent(await store.has(ids[1]!))
  t.absent(await store.delete(ids[1]!), 'a second delete reports false')
  await t.exception(store.read(ids[1]!, 0, 10), ChunkMissingError)
  await t.exception(store.verify(ids[1]!), ChunkMissingError)
  await t.exception(store.readSealed(ids[1]!), ChunkMissingError)
  t.is((await store.stats()).chunks, 2)
  await store.sync()
  t.absent(store.hasUnsynced())
  await store.sync() // nothing written: a no-op that still resolves
})

test('putSealed stores verified replicas and refuses damaged ones', async (t) => {
  const source = await tempStore(t)
  const target = await tempStore(t, { encryptionKey: source.keys.encryptionKey, idKey: source.keys.idKey })
  const plaintext = patterned(200 * KiB, 9)
  const id = await source.store.put(plaintext)
  const sealed = await source.store.readSealed(id)
  const damaged = Buffer.from(sealed)
  damaged[damaged.length - 1]! ^= 1
  await t.exception(target.store.putSealed(id, damaged), ChunkCorruptError)
  await t.exception(target.store.putSealed(id, sealed.subarray(0, 100)), ChunkCorruptError)
  await t.exception(target.store.putSealed(chunkIdOf(Buffer.from('other'), source.keys.idKey), sealed), ChunkCorruptError)
  t.absent(await target.store.has(id), 'nothing damaged was stored')
  await target.store.putSealed(id, sealed)
  sameBytes(t, await target.store.read(id, 1000, 5000), plaintext.subarray(1000, 6000))
})

test('putSealed with keepWhole keeps a whole copy, replaces a torn one, and counts it as written', async (t) => {
  const source = await tempStore(t)
  const target = await tempStore(t, { encryptionKey: source.keys.encryptionKey, idKey: source.keys.idKey })
  const plaintext = patterned(3000, 4)
  const id = await source.store.put(plaintext)
  const sealed = await source.store.readSealed(id)
  const file = chunkPath(target.dir, id)
  await target.store.putSealed(id, sealed, { durable: true, keepWhole: true })
  await target.store.sync()
  const { ino } = await stat(file)
  await target.store.putSealed(id, sealed, { durable: true, keepWhole: true })
  t.is((await stat(file)).ino, ino, 'a whole copy is kept: no new file renamed over it')
  t.ok(target.store.hasUnsynced(), 'the kept copy counts as written, so the next sync covers it')
  await target.store.putSealed(id, sealed, { durable: true })
  t.not((await stat(file)).ino, ino, 'without keepWhole (repair) the copy is replaced')
  await truncate(file, 100)
  await target.store.putSealed(id, sealed, { durable: true, keepWhole: true })
  sameBytes(t, await target.store.read(id, 0, 3000), plaintext, 'a torn copy is replaced')
  const damaged = Buffer.from(sealed)
  damaged[damaged.length - 1]! ^= 1
  await t.exception(target.store.putSealed(chunkIdOf(Buffer.from('other'), source.keys.idKey), damaged, { durable: true, keepWhole: true }), ChunkCorruptError, 'a chunk not stored here is still verified')
})

test('a chunk written by one store instance is read by the next; stale temp files are swept', async (t) => {
  const { store, dir, keys } = await tempStore(t)
  const id = await store.put(patterned(1000))
  await store.sync()
  await writeFile(join(dir, 'tmp', 'leftover.1234'), 'half a chunk')
  await store.close()
  const reopened = await ChunkStore.open(dir, keys)
  t.teardown(async () => { await reopened.close() })
  sameBytes(t, await reopened.read(id, 0, 1000), patterned(1000))
  t.is((await readdir(join(dir, 'tmp'))).length, 0)
})

test('concurrent reads share cached handles without leaking or closing them under a read', async (t) => {
  const { store } = await tempStore(t, { readHandlesMax: 2 })
  const plaintexts = Array.from({ length: 5 }, (_, index) => patterned(BLOCK_BYTES * 2, index + 20))
  const ids = await Promise.all(plaintexts.map(async (plaintext) => await store.put(plaintext)))
  const random = seededRandom(7)
  let wrong = 0
  await Promise.all(Array.from({ length: 400 }, async () => {
    const which = Math.floor(random() * 5)
    const offset = Math.floor(random() * (BLOCK_BYTES * 2 - 4 * KiB))
    const bytes = await store.read(ids[which]!, offset, 4 * KiB)
    if (!bytes.equals(plaintexts[which]!.subarray(offset, offset + 4 * KiB))) wrong++
  }))
  t.is(wrong, 0, '400 concurrent reads over 5 chunks with 2 cached handles')
})

test('fuzz: a stored file of mutated bytes only ever fails with ChunkCorruptError', async (t) => {
  const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000)
  t.comment(`seed ${seed} (SEED=${seed} replays)`)
  const random = seededRandom(seed)
  const integer = (below: number): number => Math.floor(random() * below)
  const { store, dir } = await tempStore(t, { readHandlesMax: 0 })
  const plaintext = patterned(2 * BLOCK_BYTES + 999, 13)
  const id = await store.put(plaintext)
  const path = chunkPath(dir, id)
  const original = await readFile(path)
  let others = 0
  let wrongData = 0
  for (let round = 0; round < 150; round++) {
    const bytes = Buffer.from(original)
    const kind = integer(4)
    if (kind === 0) for (let flips = 1 + integer(4); flips > 0; flips--) bytes[integer(bytes.length)]! ^= 1 << integer(8)
    if (kind === 1) bytes.writeUInt32LE(integer(2 ** 32), 8 + 4 * integer(2))
    const stored = kind === 2 ? bytes.subarray(0, integer(bytes.length)) : kind === 3 ? Buffer.concat([bytes, Buffer.alloc(1 + integer(50))]) : bytes
    await writeFile(path, stored)
    const offset = integer(plaintext.length)
    const attempts: Array<Promise<unknown>> = [
      store.read(id, offset, 1 + integer(BLOCK_BYTES)).then((data) => {
        if (!data.equals(plaintext.subarray(offset, offset + data.length)) || data.length === 0) wrongData++
      }),
      store.verify(id), store.readSealed(id), store.layout(id)
    ]
    for (const result of await Promise.allSettled(attempts)) {
      if (result.status === 'rejected' && !(result.reason instanceof ChunkCorruptError)) { others++; t.comment(String(result.reason)) }
    }
  }
  t.is(others, 0, 'no other error class')
  t.is(wrongData, 0, 'whatever a read returned was the real plaintext')
})

test('a put and a garbage-collection delete of the same content never lose the chunk', async (t) => {
  const { store } = await tempStore(t)
  const plaintext = patterned(300 * KiB, 9)
  const id = await store.put(plaintext)
  // The collector decided to delete, and the same content is written again in the same instant: the
  // put waits for the delete and stores the chunk anew instead of reusing a file about to vanish.
  await Promise.all([store.delete(id, () => true), store.put(plaintext)])
  t.ok(await store.has(id), 'delete then put: stored')
  t.alike(await store.read(id, 0, 100), plaintext.subarray(0, 100))
  // The other order: the put registers its user (onStored) before the delete asks whether it is garbage.
  let pinned = false
  const results = await Promise.all([store.put(plaintext, () => { pinned = true }), store.delete(id, () => !pinned)])
  t.is(results[1], false, 'the delete saw the new user and kept the file')
  t.ok(await store.has(id), 'put then delete: still stored')
})

test('written chunks are synced by sync(), or by the background flush, even when deleted meanwhile', async (t) => {
  const { store } = await tempStore(t, { flushIntervalMs: 50 })
  t.absent(store.hasUnsynced(), 'a new store has nothing to sync')
  const kept = await store.put(patterned(3000, 1))
  const deleted = await store.put(patterned(3000, 2))
  t.ok(store.hasUnsynced(), 'a put leaves its file to be synced')
  t.ok(await store.delete(deleted))
  await store.sync()
  t.absent(store.hasUnsynced(), 'sync() syncs every file written before it, a deleted one skipped')
  await store.put(patterned(3000, 1))
  t.ok(store.hasUnsynced(), 'a deduped put counts as written: its file may not be synced yet')
  const started = Date.now()
  while (store.hasUnsynced() && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 20))
  t.absent(store.hasUnsynced(), 'the background flush synced it without a caller')
  sameBytes(t, await store.read(kept, 0, 3000), patterned(3000, 1))
})

test('many small reads at once each get their own bytes (their sealed blocks go through reused buffers)', async (t) => {
  const { store } = await tempStore(t)
  const plaintext = patterned(CHUNK_BYTES, 21)
  const id = await store.put(plaintext)
  const random = seededRandom(5)
  for (let round = 0; round < 5; round++) {
    const offsets = Array.from({ length: 40 }, () => Math.floor(random() * (CHUNK_BYTES - 4 * KiB)))
    const reads = await Promise.all(offsets.map(async (offset) => await store.read(id, offset, 4 * KiB)))
    const wrong = reads.filter((bytes, index) => !bytes.equals(plaintext.subarray(offsets[index]!, offsets[index]! + 4 * KiB))).length
    t.is(wrong, 0, `round ${round}: 40 concurrent 4 KiB reads all right`)
  }
})
