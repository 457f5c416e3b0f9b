// Type declarations for the native addons and untyped packages that only native/ (and codecs) use.

declare module 'sodium-native' {
  export const crypto_aead_xchacha20poly1305_ietf_KEYBYTES: number
  export const crypto_aead_xchacha20poly1305_ietf_NPUBBYTES: number
  export const crypto_aead_xchacha20poly1305_ietf_ABYTES: number
  export const crypto_generichash_BYTES: number
  export const crypto_generichash_KEYBYTES: number
  export function crypto_aead_xchacha20poly1305_ietf_encrypt (
    ciphertext: Uint8Array, message: Uint8Array, additionalData: Uint8Array | null,
    secretNonce: null, publicNonce: Uint8Array, key: Uint8Array): number
  export function crypto_aead_xchacha20poly1305_ietf_decrypt (
    message: Uint8Array, secretNonce: null, ciphertext: Uint8Array, additionalData: Uint8Array | null,
    publicNonce: Uint8Array, key: Uint8Array): number
  export function crypto_generichash (output: Uint8Array, input: Uint8Array, key?: Uint8Array): void
  export function randombytes_buf (buffer: Uint8Array): void
  export function sodium_memcmp (a: Uint8Array, b: Uint8Array): boolean
}

declare module 'node-gyp-build' {
  function load (directory: string): Record<string, unknown>
  export default load
}
