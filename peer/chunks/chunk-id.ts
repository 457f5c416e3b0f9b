// A chunk's id is the keyed BLAKE2b-256 of its plaintext. Keyed, so that someone who sees ids (a
// peer's disk, the wire) without the cluster's id key cannot confirm a guess of the content; content
// addressed, so equal chunks dedupe and a reader can re-check what it got against what it asked for.
import { HASH_BYTES, equalConstantTime, hash } from '../../native/crypto.js'

export const CHUNK_ID_BYTES = HASH_BYTES
export const CHUNK_ID_HEX_CHARS = CHUNK_ID_BYTES * 2

const HEX_PATTERN = /^[0-9a-f]{64}$/

/** 32 bytes; a plain Buffer so it can go straight into associated data and codecs. */
export type ChunkId = Buffer

export function chunkIdOf (plaintext: Uint8Array, idKey: Uint8Array): ChunkId {
  return hash(plaintext, idKey)
}

/** Full verification: does `plaintext` hash to `id` under `idKey`? */
export function chunkIdMatches (id: Uint8Array, plaintext: Uint8Array, idKey: Uint8Array): boolean {
  return id.length === CHUNK_ID_BYTES && equalConstantTime(chunkIdOf(plaintext, idKey), id)
}

/** A wrong-sized id is a programmer error (the wire codec fixes the size), so it is a RangeError. */
export function assertChunkId (id: Uint8Array): void {
  if (id.length !== CHUNK_ID_BYTES) throw new RangeError(`chunk id must be ${CHUNK_ID_BYTES} bytes, got ${id.length}`)
}

/** Lowercase hex: the file name on disk and the key in caches. */
export function chunkIdToHex (id: Uint8Array): string {
  assertChunkId(id)
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
}

export function isChunkIdHex (text: string): boolean {
  return HEX_PATTERN.test(text)
}

/** Parses what chunkIdToHex made; anything else (uppercase, wrong length, temp names) is refused. */
export function chunkIdFromHex (text: string): ChunkId {
  if (!isChunkIdHex(text)) throw new RangeError('not a chunk id in hex: ' + JSON.stringify(text.slice(0, 80)))
  return Buffer.from(text, 'hex')
}
