// The only door to sodium-native: authenticated encryption, keyed hashing and randomness as plain
// functions over Buffers. Everything above this file sees these signatures, never the addon.
import { createRequire } from 'node:module'
import type * as SodiumNative from 'sodium-native'

const sodium = createRequire(import.meta.url)('sodium-native') as typeof SodiumNative

export const KEY_BYTES = 32
export const HASH_BYTES = 32
export const NONCE_BYTES = 24 // XChaCha20: random nonces are safe at any volume
export const TAG_BYTES = 16

/** A sealed message could not be opened: wrong key, wrong associated data, or altered bytes. */
export class AuthenticationError extends Error {
  readonly code = 'EAUTH'
  constructor (message = 'authentication failed') { super(message) }
}

export function randomBytes (length: number): Buffer {
  const buffer = Buffer.allocUnsafe(length)
  sodium.randombytes_buf(buffer)
  return buffer
}

/** BLAKE2b-256, keyed when `key` is given (a MAC or a key derivation), plain otherwise. */
export function hash (input: Uint8Array, key?: Uint8Array): Buffer {
  if (key !== undefined && key.length !== KEY_BYTES) throw new RangeError('hash key must be 32 bytes')
  const output = Buffer.allocUnsafe(HASH_BYTES)
  if (key === undefined) sodium.crypto_generichash(output, input)
  else sodium.crypto_generichash(output, input, key)
  return output
}

/** Derives an independent 32-byte key for `purpose` from a master secret (keyed BLAKE2b). */
export function deriveKey (secret: Uint8Array, purpose: string): Buffer {
  return hash(Buffer.from('swarmfs-key-v1:' + purpose), secret)
}

/**
 * XChaCha20-Poly1305 into `output` (length plaintext + TAG_BYTES). The associated data is
 * authenticated but not encrypted: bind it to where the ciphertext belongs, so it can't be moved.
 */
export function sealInto (output: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array, nonce: Uint8Array, key: Uint8Array): void {
  if (output.length !== plaintext.length + TAG_BYTES) throw new RangeError('seal output has the wrong length')
  if (nonce.length !== NONCE_BYTES || key.length !== KEY_BYTES) throw new RangeError('bad nonce or key length')
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(output, plaintext, associatedData, null, nonce, key)
}

/** Opens what sealInto made, into `output` (length ciphertext - TAG_BYTES); throws AuthenticationError. */
export function openInto (output: Uint8Array, ciphertext: Uint8Array, associatedData: Uint8Array, nonce: Uint8Array, key: Uint8Array): void {
  if (ciphertext.length < TAG_BYTES || output.length !== ciphertext.length - TAG_BYTES) throw new AuthenticationError('ciphertext has the wrong length')
  if (nonce.length !== NONCE_BYTES || key.length !== KEY_BYTES) throw new RangeError('bad nonce or key length')
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(output, null, ciphertext, associatedData, nonce, key)
  } catch {
    throw new AuthenticationError()
  }
}

/** Constant-time comparison, for MACs and capabilities. */
export function equalConstantTime (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sodium.sodium_memcmp(a, b)
}
