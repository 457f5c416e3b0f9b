// Proves the sealed chunk format, in memory: round trips of every interesting size, block ranges that
// cover exactly the requested bytes, and that any edit of the sealed bytes (a flipped byte anywhere,
// swapped or moved blocks, truncation, a changed header) is refused with ChunkCorruptError for the
// affected blocks only. A seeded fuzz run checks that garbage never escapes as another error class.
import test from 'brittle'
import { KEY_BYTES, randomBytes } from '../../../native/crypto.js'
import { chunkIdOf } from '../../../peer/chunks/chunk-id.js'
import {
  BLOCK_BYTES, BLOCK_BYTES_MIN, BLOCK_OVERHEAD_BYTES, CHUNK_BYTES, ChunkCorruptError, HEADER_BYTES, type ChunkLayout,
  blockRange, blockSpan, copyPlaintextRange, layoutFor, openBlocks, openChunk, parseHeader, sealChunk, sealedBytesFor
} from '../../../peer/chunks/sealed-chunk.js'
import { KiB, MiB, newKeys, patterned, sameBytes, seededRandom } from './fixtures.js'

const SIZES = [1, 2, 4 * KiB - 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 3 * 64 * KiB + 17, CHUNK_BYTES - 1, CHUNK_BYTES]

test('seal and open round trip at every interesting size', (t) => {
  const keys = newKeys()
  for (const size of SIZES) {
    const plaintext = patterned(size)
    const id = chunkIdOf(plaintext, keys.idKey)
    const sealed = sealChunk(plaintext, id, keys.encryptionKey)
    const layout = parseHeader(sealed)
    t.is(sealed.length, sealedBytesFor(size), `size ${size}: sealed length`)
    t.is(layout.blockCount, Math.ceil(size / BLOCK_BYTES), `size ${size}: block count`)
    sameBytes(t, openChunk(sealed, id, keys), plaintext, `size ${size}: full open`)
    const all = blockSpan(layout, 0, layout.blockCount)
    const blocks = openBlocks(layout, all, sealed.subarray(all.sealedOffset, all.sealedOffset + all.sealedBytes), id, keys.encryptionKey)
    sameBytes(t, Buffer.concat(blocks), plaintext, `size ${size}: blocks open`)
  }
})

test('empty and oversized plaintexts are refused as programmer errors', (t) => {
  const keys = newKeys()
  const id = randomBytes(32)
  t.exception.all(() => sealChunk(Buffer.alloc(0), id, keys.encryptionKey), RangeError)
  t.exception.all(() => sealChunk(Buffer.alloc(CHUNK_BYTES + 1), id, keys.encryptionKey), RangeError)
  t.exception.all(() => sealChunk(Buffer.alloc(1), Buffer.alloc(31), keys.encryptionKey), RangeError)
})

test('sealing twice gives different bytes (fresh nonces) that open to the same plaintext', (t) => {
  const keys = newKeys()
  const plaintext = patterned(100 * KiB)
  const id = chunkIdOf(plaintext, keys.idKey)
  const first = sealChunk(plaintext, id, keys.encryptionKey)
  const second = sealChunk(plaintext, id, keys.encryptionKey)
  t.unlike(first, second)
  sameBytes(t, openChunk(second, id, keys), openChunk(first, id, keys))
})

test('blockRange covers exactly the blocks of every boundary range, clamped like pread', (t) => {
  const layout = layoutFor(3 * BLOCK_BYTES + 100)
  const cases: Array<[number, number, number, number]> = [ // offset, length → firstBlock, blockCount
    [0, 1, 0, 1], [BLOCK_BYTES - 1, 1, 0, 1], [BLOCK_BYTES - 1, 2, 0, 2], [BLOCK_BYTES, 1, 1, 1],
    [BLOCK_BYTES, BLOCK_BYTES, 1, 1], [BLOCK_BYTES, BLOCK_BYTES + 1, 1, 2], [0, layout.plaintextBytes, 0, 4],
    [3 * BLOCK_BYTES + 99, 1, 3, 1], [3 * BLOCK_BYTES + 99, 1000, 3, 1], [layout.plaintextBytes, 1, 0, 0],
    [layout.plaintextBytes + 5, 10, 0, 0], [10, 0, 0, 0]
  ]
  for (const [offset, length, firstBlock, blockCount] of cases) {
    const range = blockRange(layout, offset, length)
    t.is(range.blockCount, blockCount, `[${offset}, +${length}) block count`)
    if (blockCount > 0) t.is(range.firstBlock, firstBlock, `[${offset}, +${length}) first block`)
  }
  const last = blockRange(layout, 3 * BLOCK_BYTES, 1)
  t.is(last.sealedOffset + last.sealedBytes, layout.sealedBytes, 'the last block ends where the chunk ends')
  t.is(last.sealedBytes, 100 + BLOCK_OVERHEAD_BYTES)
  t.exception.all(() => blockRange(layout, -1, 1), RangeError)
  t.exception.all(() => blockRange(layout, 0.5, 1), RangeError)
  t.exception.all(() => blockSpan(layout, 3, 2), RangeError)
})

test('partial opens at every block boundary return exactly the plaintext bytes', (t) => {
  const keys = newKeys()
  const plaintext = patterned(4 * BLOCK_BYTES + 3)
  const id = chunkIdOf(plaintext, keys.idKey)
  const sealed = sealChunk(plaintext, id, keys.encryptionKey)
  const layout = parseHeader(sealed)
  let checked = 0
  for (let boundary = 0; boundary <= layout.plaintextBytes; boundary += BLOCK_BYTES) {
    for (const offset of [boundary - 1, boundary, boundary + 1]) {
      for (const length of [1, 2, 4 * KiB, BLOCK_BYTES, BLOCK_BYTES + 1]) {
        if (offset < 0) continue
        const expected = plaintext.subarray(offset, Math.min(offset + length, plaintext.length))
        sameBytes(t, readRange(layout, sealed, id, keys.encryptionKey, offset, length), expected, `[${offset}, +${length})`)
        checked++
      }
    }
  }
  t.ok(checked > 50)
})

test('a flipped byte anywhere fails exactly the blocks it touches (4 KiB blocks, every byte)', (t) => {
  const keys = newKeys()
  const blockBytes = BLOCK_BYTES_MIN
  const plaintext = patterned(2 * blockBytes + 1000)
  const id = chunkIdOf(plaintext, keys.idKey)
  const sealed = sealChunk(plaintext, id, keys.encryptionKey, blockBytes)
  const layout = parseHeader(sealed)
  let wrong = 0
  for (let position = 0; position < sealed.length; position++) {
    sealed[position]! ^= 0x40
    const affected = position < HEADER_BYTES ? -1 : Math.floor((position - HEADER_BYTES) / (blockBytes + BLOCK_OVERHEAD_BYTES))
    if (!openFails(() => openChunk(sealed, id, keys))) wrong++
    for (let index = 0; index < 3; index++) {
      const fails = openFails(() => {
        const layoutNow = parseHeader(sealed)
        const span = blockSpan(layoutNow, index, 1)
        openBlocks(layoutNow, span, sealed.subarray(span.sealedOffset, span.sealedOffset + span.sealedBytes), id, keys.encryptionKey)
      })
      if (fails !== (affected === -1 || affected === index)) wrong++
    }
    sealed[position]! ^= 0x40
  }
  t.is(wrong, 0, `every one of ${sealed.length} flips fails its block and only its block`)
  sameBytes(t, openChunk(sealed, id, keys), plaintext, 'restored bytes open again')
  t.is(layout.blockCount, 3)
})

test('swapped blocks, blocks moved between chunks, truncation and header edits are refused', (t) => {
  const keys = newKeys()
  const plaintext = patterned(3 * BLOCK_BYTES)
  const id = chunkIdOf(plaintext, keys.idKey)
  const sealed = sealChunk(plaintext, id, keys.encryptionKey)
  const blockSealed = BLOCK_BYTES + BLOCK_OVERHEAD_BYTES
  const blockAt = (bytes: Buffer, index: number): Buffer => bytes.subarray(HEADER_BYTES + index * blockSealed, HEADER_BYTES + (index + 1) * blockSealed)

  const swapped = Buffer.concat([sealed.subarray(0, HEADER_BYTES), blockAt(sealed, 1), blockAt(sealed, 0), blockAt(sealed, 2)])
  t.exception(() => openChunk(swapped, id, keys), ChunkCorruptError, 'swapped blocks')

  const other = patterned(3 * BLOCK_BYTES, 2)
  const otherId = chunkIdOf(other, keys.idKey)
  const otherSealed = sealChunk(other, otherId, keys.encryptionKey)
  const moved = Buffer.concat([sealed.subarray(0, HEADER_BYTES), blockAt(sealed, 0), blockAt(otherSealed, 1), blockAt(sealed, 2)])
  t.exception(() => openChunk(moved, id, keys), ChunkCorruptError, 'a block from another chunk at the same index')

  t.exception(() => openChunk(sealed.subarray(0, sealed.length - blockSealed), id, keys), ChunkCorruptError, 'last block cut off')
  const shortened = Buffer.from(sealed.subarray(0, sealed.length - blockSealed))
  shortened.writeUInt32LE(2 * BLOCK_BYTES, 8) // header now agrees with the size: the blocks still refuse
  t.exception(() => openChunk(shortened, id, keys), ChunkCorruptError, 'truncated with a consistent header')
  const shortLayout = parseHeader(shortened)
  const firstSpan = blockSpan(shortLayout, 0, 1)
  t.exception(() => openBlocks(shortLayout, firstSpan, shortened.subarray(firstSpan.sealedOffset, firstSpan.sealedOffset + firstSpan.sealedBytes), id, keys.encryptionKey),
    ChunkCorruptError, 'even the first block of a truncated chunk refuses')

  const lengthEdited = Buffer.from(sealed)
  lengthEdited.writeUInt32LE(3 * BLOCK_BYTES - 1, 8)
  t.exception(() => openChunk(lengthEdited, id, keys), ChunkCorruptError, 'plaintext length edited')
  const blockSizeEdited = Buffer.from(sealed)
  blockSizeEdited.writeUInt32LE(BLOCK_BYTES / 2, 12)
  t.exception(() => openChunk(blockSizeEdited, id, keys), ChunkCorruptError, 'block size edited')

  t.exception(() => openChunk(sealed, otherId, keys), ChunkCorruptError, 'opened under another id')
  t.exception(() => openChunk(sealed, id, { ...keys, encryptionKey: randomBytes(KEY_BYTES) }), ChunkCorruptError, 'wrong encryption key')
  t.exception(() => openChunk(sealed, id, { ...keys, idKey: randomBytes(KEY_BYTES) }), ChunkCorruptError, 'id key mismatch: plaintext no longer hashes to the id')
})

test('fuzz: random and mutated sealed bytes only ever throw ChunkCorruptError', (t) => {
  const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000)
  t.comment(`seed ${seed} (SEED=${seed} replays)`)
  const random = seededRandom(seed)
  const integer = (below: number): number => Math.floor(random() * below)
  const keys = newKeys()
  const plaintext = patterned(2 * BLOCK_BYTES_MIN + 300)
  const id = chunkIdOf(plaintext, keys.idKey)
  const valid = sealChunk(plaintext, id, keys.encryptionKey, BLOCK_BYTES_MIN)
  const mutations: Array<() => Buffer> = [
    () => Buffer.from(Array.from({ length: integer(200) }, () => integer(256))),
    () => { const bytes = Buffer.from(valid); bytes[integer(bytes.length)] = integer(256); return bytes },
    () => valid.subarray(0, integer(valid.length)),
    () => Buffer.concat([valid, Buffer.alloc(1 + integer(100))]),
    () => { const bytes = Buffer.from(valid); bytes.writeUInt32LE(integer(2 ** 32), 8 + 4 * integer(2)); return bytes },
    () => { const bytes = Buffer.from(valid); bytes[4 + integer(4)] = integer(256); return bytes },
    () => { const bytes = Buffer.from(valid); for (let flips = 0; flips < 8; flips++) bytes[integer(bytes.length)]! ^= 1 << integer(8); return bytes }
  ]
  let others = 0
  let accepted = 0
  for (let round = 0; round < 3000; round++) {
    const bytes = mutations[integer(mutations.length)]!()
    try {
      const opened = openChunk(bytes, id, keys)
      if (!opened.equals(plaintext)) others++ // accepted bytes must be the real plaintext
      accepted++
    } catch (error) {
      if (!(error instanceof ChunkCorruptError)) { others++; t.comment(String(error)) }
    }
    try {
      const layout = parseHeader(bytes)
      const range = blockRange(layout, integer(layout.plaintextBytes), integer(layout.plaintextBytes) + 1)
      openBlocks(layout, range, bytes.subarray(range.sealedOffset, range.sealedOffset + range.sealedBytes), id, keys.encryptionKey)
    } catch (error) {
      if (!(error instanceof ChunkCorruptError)) { others++; t.comment(String(error)) }
    }
  }
  t.is(others, 0, 'no other error class, and nothing altered was accepted')
  t.comment(`${accepted} mutations were no-ops and opened`)
})

test('copyPlaintextRange copies across blocks and refuses ranges outside them', (t) => {
  const blocks = [Buffer.from('abcd'), Buffer.from('efgh'), Buffer.from('ij')]
  t.is(copyPlaintextRange(blocks, 3, 9).toString(), 'defghi')
  t.is(copyPlaintextRange(blocks, 0, 10).toString(), 'abcdefghij')
  t.is(copyPlaintextRange(blocks, 4, 4).length, 0)
  t.exception.all(() => copyPlaintextRange(blocks, 8, 11), RangeError)
})

test('a maximal chunk seals to the size its header predicts', (t) => {
  t.is(sealedBytesFor(4 * MiB), HEADER_BYTES + 4 * MiB + 64 * BLOCK_OVERHEAD_BYTES)
  t.is(layoutFor(4 * MiB).blockCount, 64)
})

function readRange (layout: ChunkLayout, sealed: Buffer, id: Buffer, key: Buffer | Uint8Array, offset: number, length: number): Buffer {
  const range = blockRange(layout, offset, length)
  if (range.blockCount === 0) return Buffer.alloc(0)
  const blocks = openBlocks(layout, range, sealed.subarray(range.sealedOffset, range.sealedOffset + range.sealedBytes), id, key)
  const end = Math.min(offset + length, layout.plaintextBytes)
  return copyPlaintextRange(blocks, offset - range.plaintextOffset, end - range.plaintextOffset)
}

function openFails (open: () => unknown): boolean {
  try {
    open()
    return false
  } catch (error) {
    if (error instanceof ChunkCorruptError) return true
    throw error
  }
}
