// A cluster is a 32-byte secret; separate keys for separate purposes are derived from it with keyed
// BLAKE2b, so the key that names the swarm topic can never decrypt a chunk. Key files are owner-only.
import { chmod, open, readFile, stat } from 'node:fs/promises'
import { KEY_BYTES, deriveKey, randomBytes } from '../native/crypto.js'

export interface ClusterKeys {
  topic: Buffer
  connectionAuth: Buffer
  chunkEncryption: Buffer
  chunkId: Buffer
}

export function deriveClusterKeys (secret: Uint8Array): ClusterKeys {
  if (secret.length !== KEY_BYTES) throw new Error('a cluster secret is 32 bytes')
  return {
    topic: deriveKey(secret, 'topic'),
    connectionAuth: deriveKey(secret, 'connection-auth'),
    chunkEncryption: deriveKey(secret, 'chunk-encryption'),
    chunkId: deriveKey(secret, 'chunk-id')
  }
}

/** Writes a new random secret (the cluster's, or a peer's key seed) to `file` (mode 0600); never overwrites one. */
export async function createSecret (file: string, given?: Buffer): Promise<Buffer> {
  const secret = given ?? randomBytes(KEY_BYTES)
  const handle = await open(file, 'wx', 0o600)
  try {
    await handle.writeFile(secret.toString('hex') + '\n')
    await handle.sync()
  } finally {
    await handle.close()
  }
  await chmod(file, 0o600)
  return secret
}

/** Reads the secret; refuses a key file that other users can read or write. */
export async function readSecret (file: string): Promise<Buffer> {
  const info = await stat(file)
  if ((info.mode & 0o077) !== 0) {
    throw new Error(`${file} is accessible by other users (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${file}`)
  }
  const text = (await readFile(file, 'utf8')).trim()
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file} does not hold a 32-byte key`)
  return Buffer.from(text, 'hex')
}
