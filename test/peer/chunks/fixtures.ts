// Shared test fixtures: keys, deterministic plaintexts, a seeded PRNG, and temp stores removed in teardown.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'brittle'
import { KEY_BYTES, randomBytes } from '../../../native/crypto.js'
import { ChunkStore, type ChunkStoreOptions } from '../../../peer/chunks/chunk-store.js'
import type { ChunkKeys } from '../../../peer/chunks/sealed-chunk.js'

export const KiB = 1024
export const MiB = 1024 * KiB

export function newKeys (): ChunkKeys {
  return { encryptionKey: randomBytes(KEY_BYTES), idKey: randomBytes(KEY_BYTES) }
}

export { seededRandom } from '../../helpers/seeded-random.js'

/** Plaintext whose every byte depends on its position and a tag, so misplaced bytes are visible. */
export function patterned (length: number, tag = 1): Buffer {
  const bytes = Buffer.allocUnsafe(length)
  for (let index = 0; index < length; index++) bytes[index] = (index * 31 + (index >>> 8) * 7 + tag * 101) & 0xff
  return bytes
}

export async function tempDir (t: Test, prefix = 'swarmfs-chunks-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** A fresh store in a temp dir; closed and removed in teardown. */
export async function tempStore (t: Test, options: Partial<ChunkStoreOptions> = {}): Promise<{ store: ChunkStore, dir: string, keys: ChunkKeys }> {
  const dir = await tempDir(t)
  const fresh = newKeys()
  const keys = { encryptionKey: options.encryptionKey ?? fresh.encryptionKey, idKey: options.idKey ?? fresh.idKey }
  const store = await ChunkStore.open(dir, { ...options, ...keys })
  t.teardown(async () => { await store.close() }, { order: -1 })
  return { store, dir, keys }
}

/** Byte equality as one assertion; brittle's alike walks big Buffers element by element (seconds per 4 MiB). */
export function sameBytes (t: Test, actual: Uint8Array, expected: Uint8Array, message?: string): void {
  t.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected), message)
}
