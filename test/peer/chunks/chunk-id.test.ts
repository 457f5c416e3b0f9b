// Proves chunk ids are the keyed BLAKE2b-256 of the plaintext (key-dependent, content-dependent, 32
// bytes) and that the hex form used for file names round-trips and refuses anything else.
import test from 'brittle'
import { KEY_BYTES, randomBytes } from '../../../native/crypto.js'
import { CHUNK_ID_BYTES, chunkIdFromHex, chunkIdMatches, chunkIdOf, chunkIdToHex, isChunkIdHex } from '../../../peer/chunks/chunk-id.js'

test('ids are 32-byte keyed hashes of the plaintext', (t) => {
  const key = randomBytes(KEY_BYTES)
  const id = chunkIdOf(Buffer.from('hello'), key)
  t.is(id.length, CHUNK_ID_BYTES)
  t.alike(chunkIdOf(Buffer.from('hello'), key), id, 'deterministic')
  t.unlike(chunkIdOf(Buffer.from('hellp'), key), id, 'content-dependent')
  t.unlike(chunkIdOf(Buffer.from('hello'), randomBytes(KEY_BYTES)), id, 'key-dependent')
  t.ok(chunkIdMatches(id, Buffer.from('hello'), key))
  t.absent(chunkIdMatches(id, Buffer.from('hellp'), key))
  t.absent(chunkIdMatches(id.subarray(0, 31), Buffer.from('hello'), key))
})

test('hex round trip; anything but 64 lowercase hex digits is refused', (t) => {
  const id = randomBytes(CHUNK_ID_BYTES)
  const hex = chunkIdToHex(id)
  t.ok(isChunkIdHex(hex))
  t.alike(chunkIdFromHex(hex), id)
  t.alike(chunkIdToHex(new Uint8Array(id)), hex, 'plain Uint8Array ids work too')
  for (const bad of ['', hex.slice(1), hex + '0', hex.toUpperCase(), hex.slice(0, 63) + 'g', hex + '.tmp']) {
    t.absent(isChunkIdHex(bad), JSON.stringify(bad.slice(0, 10)))
    t.exception.all(() => chunkIdFromHex(bad), RangeError)
  }
  t.exception.all(() => chunkIdToHex(Buffer.alloc(31)), RangeError)
})
