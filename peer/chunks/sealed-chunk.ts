// The stored (and replicated) form of a chunk: a small header, then the plaintext cut into blocks that
// are each sealed on their own with XChaCha20-Poly1305. Sealing per block is what makes random reads
// cheap: a 4 KiB read opens one 64 KiB block instead of the whole 4 MiB chunk (STACK.md §2: decrypting
// the whole chunk per miss cut random-read IOPS by 96 %). Everything here is pure: bytes in, bytes out.
//
// Layout (all integers little-endian):
//   header  magic 'SWCK' (4) | format version u8 | 3 zero bytes | plaintext bytes u32 | block bytes u32
//   block i nonce (24, random) | ciphertext of plaintext[i·B, min((i+1)·B, L)) | Poly1305 tag (16)
// Block i starts at HEADER_BYTES + i·(B + BLOCK_OVERHEAD_BYTES), so a reader that has the header can
// pread exactly the blocks it needs.
//
// Associated data of block i = chunk id | header | i u32 | block count u32. Binding the id stops a block
// from being moved into another chunk; the index stops reordering; the count and the header (which holds
// the plaintext length and block size) stop truncation, extension and any edit of the header, because
// every block then fails to open.
import { AuthenticationError, NONCE_BYTES, TAG_BYTES, openInto, randomBytes, sealInto } from '../../native/crypto.js'
import { CHUNK_ID_BYTES, assertChunkId, chunkIdMatches } from './chunk-id.js'

export const CHUNK_BYTES = 4 * 1024 * 1024 // the largest plaintext a chunk holds (the last one of a file may be shorter)
export const BLOCK_BYTES = 64 * 1024 // plaintext per sealed block: the unit of decryption on a read
export const BLOCK_BYTES_MIN = 4 * 1024 // smallest block size a reader accepts from a header
export const HEADER_BYTES = 16
export const BLOCK_OVERHEAD_BYTES = NONCE_BYTES + TAG_BYTES
export const FORMAT_VERSION = 1
export const SEALED_CHUNK_BYTES_MAX = sealedBytesFor(CHUNK_BYTES, BLOCK_BYTES_MIN)

const MAGIC = Buffer.from('SWCK', 'latin1')
const ASSOCIATED_DATA_BYTES = CHUNK_ID_BYTES + HEADER_BYTES + 8

/** Sealed bytes that cannot be trusted: torn, truncated, altered, or sealed for another id or key. */
export class ChunkCorruptError extends Error {
  readonly code = 'ECHUNKCORRUPT'
  constructor (message: string, options?: { cause: unknown }) {
    super(message, options)
    this.name = 'ChunkCorruptError'
  }
}

export interface ChunkKeys {
  readonly encryptionKey: Uint8Array
  readonly idKey: Uint8Array
}

/** What the header says, and the sizes that follow from it. Invariant: 0 < plaintextBytes ≤ CHUNK_BYTES. */
export interface ChunkLayout {
  readonly plaintextBytes: number
  readonly blockBytes: number
  readonly blockCount: number
  readonly sealedBytes: number
}

/** A run of whole blocks and where their sealed bytes lie in the stored chunk. */
export interface BlockRange {
  readonly firstBlock: number
  readonly blockCount: number
  readonly plaintextOffset: number // of the first block's first byte within the chunk
  readonly sealedOffset: number
  readonly sealedBytes: number
}

export function sealedBytesFor (plaintextBytes: number, blockBytes = BLOCK_BYTES): number {
  return HEADER_BYTES + plaintextBytes + Math.ceil(plaintextBytes / blockBytes) * BLOCK_OVERHEAD_BYTES
}

/** The layout a writer uses; bad arguments are programmer errors (RangeError). */
export function layoutFor (plaintextBytes: number, blockBytes = BLOCK_BYTES): ChunkLayout {
  if (!Number.isSafeInteger(plaintextBytes) || plaintextBytes < 1 || plaintextBytes > CHUNK_BYTES) {
    throw new RangeError(`chunk plaintext must be 1..${CHUNK_BYTES} bytes, got ${plaintextBytes}`)
  }
  if (!isValidBlockBytes(blockBytes)) throw new RangeError(`bad block size ${blockBytes}`)
  return makeLayout(plaintextBytes, blockBytes)
}

/** Reads the header of sealed bytes from disk or a peer; any inconsistency is a ChunkCorruptError. */
export function parseHeader (sealed: Uint8Array): ChunkLayout {
  if (sealed.length < HEADER_BYTES) throw new ChunkCorruptError(`sealed chunk shorter than its header (${sealed.length} bytes)`)
  const header = asBuffer(sealed).subarray(0, HEADER_BYTES)
  if (!header.subarray(0, 4).equals(MAGIC)) throw new ChunkCorruptError('sealed chunk has a bad magic')
  if (header[4] !== FORMAT_VERSION) throw new ChunkCorruptError(`unknown sealed chunk format version ${String(header[4])}`)
  if (header[5] !== 0 || header[6] !== 0 || header[7] !== 0) throw new ChunkCorruptError('sealed chunk header has non-zero reserved bytes')
  const plaintextBytes = header.readUInt32LE(8)
  const blockBytes = header.readUInt32LE(12)
  if (plaintextBytes < 1 || plaintextBytes > CHUNK_BYTES) throw new ChunkCorruptError(`sealed chunk claims ${plaintextBytes} plaintext bytes`)
  if (!isValidBlockBytes(blockBytes)) throw new ChunkCorruptError(`sealed chunk claims a block size of ${blockBytes}`)
  return makeLayout(plaintextBytes, blockBytes)
}

export function encodeHeader (layout: ChunkLayout): Buffer {
  const header = Buffer.alloc(HEADER_BYTES)
  MAGIC.copy(header, 0)
  header[4] = FORMAT_VERSION
  header.writeUInt32LE(layout.plaintextBytes, 8)
  header.writeUInt32LE(layout.blockBytes, 12)
  return header
}

/** Seals `plaintext` (1..CHUNK_BYTES) under `id`; each block gets a fresh random nonce. */
export function sealChunk (plaintext: Uint8Array, id: Uint8Array, encryptionKey: Uint8Array, blockBytes = BLOCK_BYTES): Buffer {
  assertChunkId(id)
  const layout = layoutFor(plaintext.length, blockBytes)
  const sealed = Buffer.allocUnsafe(layout.sealedBytes)
  const header = encodeHeader(layout)
  header.copy(sealed, 0)
  const associatedData = Buffer.allocUnsafe(ASSOCIATED_DATA_BYTES)
  for (let index = 0; index < layout.blockCount; index++) {
    const plainStart = index * layout.blockBytes
    const plainBlock = plaintext.subarray(plainStart, plainStart + blockPlaintextBytes(layout, index))
    const sealedStart = blockSealedOffset(layout, index)
    const nonce = sealed.subarray(sealedStart, sealedStart + NONCE_BYTES)
    randomBytes(NONCE_BYTES).copy(nonce)
    const output = sealed.subarray(sealedStart + NONCE_BYTES, sealedStart + NONCE_BYTES + plainBlock.length + TAG_BYTES)
    sealInto(output, plainBlock, fillAssociatedData(associatedData, id, header, index, layout.blockCount), nonce, encryptionKey)
  }
  return sealed
}

/**
 * The whole blocks covering plaintext bytes [offset, offset + length), clamped to the chunk's end like
 * pread: a range that starts at or past the end gives zero blocks. Negative or fractional arguments are
 * programmer errors (RangeError).
 */
export function blockRange (layout: ChunkLayout, offset: number, length: number): BlockRange {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`bad chunk range offset=${offset} length=${length}`)
  }
  const end = Math.min(offset + length, layout.plaintextBytes)
  if (offset >= end) return blockSpan(layout, 0, 0)
  const firstBlock = Math.floor(offset / layout.blockBytes)
  const lastBlock = Math.floor((end - 1) / layout.blockBytes)
  return blockSpan(layout, firstBlock, lastBlock - firstBlock + 1)
}

/** The blocks [firstBlock, firstBlock + blockCount) as a BlockRange. */
export function blockSpan (layout: ChunkLayout, firstBlock: number, blockCount: number): BlockRange {
  if (!Number.isSafeInteger(firstBlock) || !Number.isSafeInteger(blockCount) || firstBlock < 0 || blockCount < 0 ||
      firstBlock + blockCount > layout.blockCount) {
    throw new RangeError(`blocks [${firstBlock}, +${blockCount}) outside a chunk of ${layout.blockCount} blocks`)
  }
  const sealedOffset = blockCount === 0 ? HEADER_BYTES : blockSealedOffset(layout, firstBlock)
  const sealedEnd = blockCount === 0 ? HEADER_BYTES : blockSealedOffset(layout, firstBlock + blockCount - 1) + blockSealedBytes(layout, firstBlock + blockCount - 1)
  return { firstBlock, blockCount, plaintextOffset: firstBlock * layout.blockBytes, sealedOffset, sealedBytes: sealedEnd - sealedOffset }
}

/** Memory for one block's plaintext: a Buffer of exactly `bytes` bytes whose contents may be anything. */
export type BlockAllocator = (bytes: number) => Buffer

// Slow = unpooled: a small last block must not pin an 8 KiB pool slab while a cache holds it.
const allocateBlock: BlockAllocator = (bytes) => Buffer.allocUnsafeSlow(bytes)

/**
 * Opens the blocks of `range` from exactly their sealed bytes (as pread from the stored chunk) and
 * returns one plaintext Buffer per block. Authenticates every block; any failure is a ChunkCorruptError.
 */
export function openBlocks (layout: ChunkLayout, range: BlockRange, sealedBlocks: Uint8Array, id: Uint8Array, encryptionKey: Uint8Array, allocate = allocateBlock): Buffer[] {
  assertChunkId(id)
  if (sealedBlocks.length !== range.sealedBytes) {
    throw new ChunkCorruptError(`expected ${range.sealedBytes} sealed bytes for blocks ${range.firstBlock}+${range.blockCount}, got ${sealedBlocks.length}`)
  }
  const header = encodeHeader(layout)
  const associatedData = Buffer.allocUnsafe(ASSOCIATED_DATA_BYTES)
  const blocks: Buffer[] = []
  for (let index = range.firstBlock; index < range.firstBlock + range.blockCount; index++) {
    const start = blockSealedOffset(layout, index) - range.sealedOffset
    const plaintext = allocate(blockPlaintextBytes(layout, index))
    openBlockInto(plaintext, sealedBlocks.subarray(start, start + blockSealedBytes(layout, index)),
      fillAssociatedData(associatedData, id, header, index, layout.blockCount), encryptionKey, index)
    blocks.push(plaintext)
  }
  return blocks
}

/**
 * Full verification, for repair and scrub: parses, opens every block, and re-checks that the keyed hash
 * of the whole plaintext is `id`. Returns the plaintext; any failure is a ChunkCorruptError.
 */
export function openChunk (sealed: Uint8Array, id: Uint8Array, keys: ChunkKeys): Buffer {
  assertChunkId(id)
  const layout = parseHeader(sealed)
  if (sealed.length !== layout.sealedBytes) throw new ChunkCorruptError(`sealed chunk is ${sealed.length} bytes, its header says ${layout.sealedBytes}`)
  const header = encodeHeader(layout)
  const associatedData = Buffer.allocUnsafe(ASSOCIATED_DATA_BYTES)
  const plaintext = Buffer.allocUnsafe(layout.plaintextBytes)
  for (let index = 0; index < layout.blockCount; index++) {
    const start = blockSealedOffset(layout, index)
    const output = plaintext.subarray(index * layout.blockBytes, index * layout.blockBytes + blockPlaintextBytes(layout, index))
    openBlockInto(output, sealed.subarray(start, start + blockSealedBytes(layout, index)),
      fillAssociatedData(associatedData, id, header, index, layout.blockCount), keys.encryptionKey, index)
  }
  if (!chunkIdMatches(id, plaintext, keys.idKey)) throw new ChunkCorruptError('chunk plaintext does not hash to its id')
  return plaintext
}

/** The plaintext of a whole chunk cut into its blocks, each a copy with memory of its own (for a cache). */
export function splitBlocks (plaintext: Uint8Array, layout: ChunkLayout, allocate = allocateBlock): Buffer[] {
  return Array.from({ length: layout.blockCount }, (_, index) => {
    const start = index * layout.blockBytes
    const block = allocate(blockPlaintextBytes(layout, index))
    block.set(plaintext.subarray(start, start + block.length))
    return block
  })
}

/**
 * Copies bytes [start, end) of the concatenation of consecutive plaintext `blocks` into a new Buffer.
 * Always a copy: callers must never get a view of a block that a cache may hold.
 */
export function copyPlaintextRange (blocks: readonly Buffer[], start: number, end: number): Buffer {
  const output = Buffer.allocUnsafe(Math.max(end - start, 0))
  copyPlaintextRangeInto(blocks, start, end, output)
  return output
}

/** As copyPlaintextRange, into the start of `target` (at least end − start bytes), without allocating. */
export function copyPlaintextRangeInto (blocks: readonly Buffer[], start: number, end: number, target: Buffer): void {
  const length = Math.max(end - start, 0)
  if (target.length < length) throw new RangeError(`a target of ${target.length} bytes cannot take ${length}`)
  let blockStart = 0
  let written = 0
  for (const block of blocks) {
    const from = Math.max(start - blockStart, 0)
    const to = Math.min(end - blockStart, block.length)
    if (from < to) written += block.copy(target, written, from, to)
    blockStart += block.length
  }
  if (written !== length) throw new RangeError(`range [${start}, ${end}) is outside ${blockStart} bytes of blocks`)
}

export function blockPlaintextBytes (layout: ChunkLayout, index: number): number {
  return Math.min(layout.blockBytes, layout.plaintextBytes - index * layout.blockBytes)
}

function blockSealedBytes (layout: ChunkLayout, index: number): number {
  return blockPlaintextBytes(layout, index) + BLOCK_OVERHEAD_BYTES
}

function blockSealedOffset (layout: ChunkLayout, index: number): number {
  return HEADER_BYTES + index * (layout.blockBytes + BLOCK_OVERHEAD_BYTES)
}

function openBlockInto (output: Buffer, sealedBlock: Uint8Array, associatedData: Uint8Array, key: Uint8Array, index: number): void {
  try {
    openInto(output, sealedBlock.subarray(NONCE_BYTES), associatedData, sealedBlock.subarray(0, NONCE_BYTES), key)
  } catch (error) {
    if (error instanceof AuthenticationError) throw new ChunkCorruptError(`block ${index} failed authentication`, { cause: error })
    throw error
  }
}

function fillAssociatedData (output: Buffer, id: Uint8Array, header: Buffer, index: number, blockCount: number): Buffer {
  output.set(id, 0)
  header.copy(output, CHUNK_ID_BYTES)
  output.writeUInt32LE(index, CHUNK_ID_BYTES + HEADER_BYTES)
  output.writeUInt32LE(blockCount, CHUNK_ID_BYTES + HEADER_BYTES + 4)
  return output
}

function makeLayout (plaintextBytes: number, blockBytes: number): ChunkLayout {
  return {
    plaintextBytes,
    blockBytes,
    blockCount: Math.ceil(plaintextBytes / blockBytes),
    sealedBytes: sealedBytesFor(plaintextBytes, blockBytes)
  }
}

function isValidBlockBytes (blockBytes: number): boolean {
  // A power of two in range keeps the block count ≤ CHUNK_BYTES / BLOCK_BYTES_MIN (1024 blocks).
  return Number.isSafeInteger(blockBytes) && blockBytes >= BLOCK_BYTES_MIN && blockBytes <= CHUNK_BYTES &&
    (blockBytes & (blockBytes - 1)) === 0
}

function asBuffer (bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
