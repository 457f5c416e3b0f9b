// Proves the crypto door works as the chunk and admission code expect: seal/open round trips, any
// altered byte or wrong associated data is refused, keyed hashes depend on the key.
import test from 'brittle'
import { AuthenticationError, KEY_BYTES, NONCE_BYTES, TAG_BYTES, deriveKey, hash, openInto, randomBytes, sealInto } from '../../native/crypto.js'

test('seal and open round trip; tampering is refused', (t) => {
  const key = randomBytes(KEY_BYTES)
  const nonce = randomBytes(NONCE_BYTES)
  const plaintext = Buffer.from('hello swarmfs')
  const associated = Buffer.from('chunk-1')
  const sealed = Buffer.alloc(plaintext.length + TAG_BYTES)
  sealInto(sealed, plaintext, associated, nonce, key)
  const opened = Buffer.alloc(plaintext.length)
  openInto(opened, sealed, associated, nonce, key)
  t.alike(opened, plaintext)
  sealed[3]! ^= 1
  t.exception(() => openInto(opened, sealed, associated, nonce, key), AuthenticationError)
  sealed[3]! ^= 1
  t.exception(() => openInto(opened, sealed, Buffer.from('chunk-2'), nonce, key), AuthenticationError)
})

test('keyed hashes and derived keys depend on the key and purpose', (t) => {
  const secret = randomBytes(KEY_BYTES)
  t.unlike(hash(Buffer.from('x'), secret), hash(Buffer.from('x'), randomBytes(KEY_BYTES)))
  t.unlike(deriveKey(secret, 'topic'), deriveKey(secret, 'chunk-encryption'))
  t.is(deriveKey(secret, 'topic').length, 32)
})
