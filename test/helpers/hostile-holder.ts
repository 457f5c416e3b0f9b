// A cluster member in everything but honesty: an Impostor holding the cluster's real key (so the peers
// admit it), announced on the topic, answering heartbeats (so it counts as up and writers send it
// copies), keeping every chunk put to it and answering Ok, and answering gets with the lie chosen in
// `lie`: a copy forged with the cluster's own chunk key (authentic blocks, wrong plaintext), another
// chunk's genuine copy, the right copy with one ciphertext byte flipped, a truncated copy, random bytes
// of the right length, or no answer at all. It counts the gets it receives per chunk.
import { randomBytes } from '../../native/crypto.js'
import type { ClusterKeys } from '../../peer/cluster-keys.js'
import { parseHeader, sealChunk } from '../../peer/chunks/sealed-chunk.js'
import { ChunkKind, HealthKind, decodeChunkMessage, decodeHealth, encodeChunkMessage, encodeHealth, isChunkPut } from '../../peer/net/wire.js'
import type { ChunkMessage } from '../../peer/net/wire.js'
import { Impostor } from './impostor.js'
import type { ChannelName, ImpostorConnection } from './impostor.js'

export const LIES = ['forged', 'other-chunk', 'flipped', 'truncated', 'garbage', 'silent'] as const
export type Lie = typeof LIES[number] | 'honest'

/** Room it advertises: plenty, so writers never pass it over. */
const ADVERTISED_ROOM = 1024 ** 4
const ZERO_ID = new Uint8Array(32)

export class HostileHolder {
  lie: Lie = 'honest'
  private readonly impostor: Impostor
  private readonly keys: ClusterKeys
  private readonly stored = new Map<string, Uint8Array>() // chunk id (hex) → sealed copy
  private readonly gets = new Map<string, number>()

  private constructor (impostor: Impostor, keys: ClusterKeys) {
    this.impostor = impostor
    this.keys = keys
  }

  static async start (bootstrap: string, keys: ClusterKeys): Promise<HostileHolder> {
    let holder: HostileHolder | null = null
    const impostor = await Impostor.create({
      bootstrap,
      authKey: keys.connectionAuth,
      onFrame: (connection, channel, bytes) => holder?.receive(connection, channel, bytes)
    })
    holder = new HostileHolder(impostor, keys)
    await impostor.announce(keys.topic)
    return holder
  }

  get id (): string {
    return this.impostor.id
  }

  /** Gets received for the chunk (hex id). */
  getsFor (chunkHex: string): number {
    return this.gets.get(chunkHex) ?? 0
  }

  /** Chunks it was given by writers (hex ids). */
  holds (chunkHex: string): boolean {
    return this.stored.has(chunkHex)
  }

  async close (): Promise<void> {
    await this.impostor.close()
  }

  private receive (connection: ImpostorConnection, channel: ChannelName, bytes: Uint8Array): void {
    if (channel === 'health') {
      const beat = decodeHealth(bytes)
      if (beat.kind === HealthKind.Beat) connection.send('health', encodeHealth({ kind: HealthKind.Ack, sequence: beat.sequence, term: 0, commit: 0, applied: 0, room: ADVERTISED_ROOM }))
    } else if (channel === 'chunks') {
      const request = decodeChunkMessage(bytes)
      const reply = isChunkPut(request.kind) ? this.put(request) : request.kind === ChunkKind.Get ? this.get(request) : request.kind === ChunkKind.Sync ? { kind: ChunkKind.Ok, payload: new Uint8Array(0) } : null
      if (reply !== null) connection.send('chunks', encodeChunkMessage({ requestId: request.requestId, chunkId: ZERO_ID, ...reply }))
    }
  }

  /** Keeps the copy and claims it (without passing it down the chain). */
  private put (request: ChunkMessage): Pick<ChunkMessage, 'kind' | 'payload'> {
    this.stored.set(Buffer.from(request.chunkId).toString('hex'), request.payload)
    return { kind: ChunkKind.Ok, payload: Buffer.from(this.id, 'hex') }
  }

  private get (request: ChunkMessage): Pick<ChunkMessage, 'kind' | 'payload'> | null {
    const hex = Buffer.from(request.chunkId).toString('hex')
    this.gets.set(hex, this.getsFor(hex) + 1)
    const copy = this.stored.get(hex)
    if (copy === undefined) return { kind: ChunkKind.Missing, payload: new Uint8Array(0) }
    const ok = (payload: Uint8Array): Pick<ChunkMessage, 'kind' | 'payload'> => ({ kind: ChunkKind.Ok, payload })
    switch (this.lie) {
      case 'honest': return ok(copy)
      case 'silent': return null
      case 'forged': {
        // Sealed with the cluster's chunk key under the requested id: every block authenticates.
        return ok(sealChunk(randomBytes(parseHeader(copy).plaintextBytes), request.chunkId, this.keys.chunkEncryption))
      }
      case 'other-chunk': {
        const other = [...this.stored].find(([id]) => id !== hex)
        return ok(other?.[1] ?? randomBytes(copy.length))
      }
      case 'flipped': {
        const flipped = Buffer.from(copy)
        flipped[Math.floor(flipped.length / 2)]! ^= 0x01
        return ok(flipped)
      }
      case 'truncated': return ok(copy.subarray(0, Math.floor(copy.length / 2)))
      case 'garbage': return ok(randomBytes(copy.length))
    }
  }
}
