// The chunk service of a peer in a cluster: every chunk a mount stores here is also sent, sealed, to
// R − 1 other peers chosen by rendezvous hashing (placement.ts) and counts as written once they have it
// on disk; a chunk this peer lacks is fetched from the peers that should hold it (then any other up
// peer), verified in full and kept locally, so the next read is local. Peers only ever see sealed bytes.
import { Errno, FsError } from '../native/errno.js'
import type { ChunkRef } from '../metadata/fs/inode.js'
import type { ChunkService } from '../mount/services.js'
import { chunkIdToHex, CHUNK_ID_BYTES } from './chunks/chunk-id.js'
import { ChunkMissingError } from './chunks/chunk-store.js'
import { ChunkCorruptError } from './chunks/sealed-chunk.js'
import type { LocalChunks } from './local-chunks.js'
import { rankPeers, replicaTargets } from './placement.js'
import type { ChunkReply } from './net/connection.js'
import type { Network } from './net/network.js'
import { ChunkKind } from './net/wire.js'
import type { ChunkMessage } from './net/wire.js'

export const REPLICAS_DEFAULT = 3
// Per request and per hop of a chain: a replica that does not answer in time is skipped for the next.
const REQUEST_TIMEOUT_MS = 5_000
/** A replica keeps what a writer sent it this long before it may collect it as unreferenced. */
const UNCOMMITTED_HOLD_MS = 10 * 60_000
const EMPTY = new Uint8Array(0)

export interface ReplicationStats {
  replicasWritten: number
  underReplicatedWrites: number
  fetched: number
  fetchFailures: number
  served: number
  stored: number
  readRepairs: number
}

export class ReplicatedChunks implements ChunkService {
  private readonly local: LocalChunks
  private readonly network: Network
  private readonly replicas: number
  private readonly log: (line: string) => void
  private readonly fetching = new Map<string, Promise<void>>()
  readonly stats: ReplicationStats = { replicasWritten: 0, underReplicatedWrites: 0, fetched: 0, fetchFailures: 0, served: 0, stored: 0, readRepairs: 0 }

  private readonly holdersOf: (chunkHex: string) => string[]
  private readonly chain: boolean

  /**
   * holdersOf: the peers the metadata lists as holding a chunk (tried first when fetching).
   * chain: place copies by chain replication (else fan-out: the writer sends every copy itself).
   */
  constructor (local: LocalChunks, network: Network, options: { replicas: number, chain: boolean, holdersOf: (chunkHex: string) => string[], log: (line: string) => void }) {
    this.local = local
    this.network = network
    this.replicas = options.replicas
    this.holdersOf = options.holdersOf
    this.chain = options.chain
    this.log = options.log
    network.serveChunks(async (peerId, message) => await this.serve(peerId, message))
  }

  // ---- writing ----

  /**
   * Stores the chunk here and on R − 1 other peers; the ref names every holder, for the commit. The
   * copies leave as soon as the chunk is sealed, while the local copy is written and synced.
   */
  async put (plaintext: Buffer): Promise<ChunkRef> {
    let remote: Promise<string[]> | null = null
    const ref = await this.local.put(plaintext, (id, sealed) => {
      remote = this.replicate(id, sealed)
      remote.catch(() => {}) // awaited below; this keeps an early failure from being unhandled meanwhile
    })
    try {
      const stored = await (remote ?? this.replicate(ref.id, await this.local.store.readSealed(ref.id)))
      return { ...ref, holders: [this.network.id, ...stored] }
    } catch (error) {
      this.local.unpin([ref.id])
      throw error
    }
  }

  /**
   * Places R − 1 remote copies by chain replication: the writer sends the chunk once, to the best-ranked
   * peer, which stores it while passing it on to the next (measured: fan-out made the writer send every
   * chunk R − 1 times over its own link). Copies the chain could not place are sent directly to the next
   * candidates in the ranking.
   */
  private async replicate (id: Buffer, sealed: Uint8Array): Promise<string[]> {
    const up = this.network.upPeers()
    const wanted = Math.min(this.replicas - 1, up.length)
    if (wanted === 0) return []
    const candidates = replicaTargets(id, this.network.id, up, up.length)
    const targets = candidates.slice(0, wanted)
    const stored = this.chain
      ? await this.sendAlong(targets, id, sealed)
      : (await Promise.all(targets.map(async (peer) => await this.sendAlong([peer], id, sealed)))).flat()
    let next = wanted
    const worker = async (): Promise<void> => {
      while (next < candidates.length) {
        const peer = candidates[next++]!
        if ((await this.sendAlong([peer], id, sealed)).length > 0) {
          stored.push(peer)
          return
        }
      }
    }
    await Promise.all(Array.from({ length: wanted - stored.length }, worker))
    this.stats.replicasWritten += stored.length
    if (stored.length === wanted) return stored
    this.stats.underReplicatedWrites++
    if (stored.length === 0) throw new FsError(Errno.EIO, `no peer took chunk ${chunkIdToHex(id)} (wanted ${wanted} replicas)`)
    this.log(`chunk ${chunkIdToHex(id).slice(0, 12)} has ${stored.length + 1} of ${wanted + 1} copies; repair will add the rest`)
    return stored
  }

  /**
   * Puts the chunk on chain[0], which passes it along the rest of the chain; resolves with the peers
   * that stored it. A hop that fails is skipped: the chunk goes to the one after it instead.
   */
  private async sendAlong (chain: readonly string[], id: Buffer, sealed: Uint8Array): Promise<string[]> {
    for (let i = 0; i < chain.length; i++) {
      const rest = chain.slice(i + 1)
      const reply = await this.network.requestChunk(chain[i]!, ChunkKind.Put, id, sealed, REQUEST_TIMEOUT_MS * (1 + rest.length), rest).catch(() => null)
      if (reply?.kind !== ChunkKind.Ok) continue
      const stored = storedPeers(reply.payload).filter((peer) => chain.includes(peer))
      return [...new Set(stored)]
    }
    return []
  }

  /** Copies a chunk this peer holds to `peers` (repair, rebalance); resolves with those that stored it. */
  async copyTo (id: Buffer, peers: readonly string[]): Promise<string[]> {
    if (peers.length === 0) return []
    const sealed = await this.local.store.readSealed(id)
    const results = await Promise.all(peers.map(async (peer) => await this.sendAlong([peer], id, sealed)))
    return peers.filter((_, i) => results[i]!.length > 0)
  }

  /** Verifies the local copy in full; a bad one is replaced by a verified copy from another holder. */
  async scrub (id: Buffer): Promise<{ bytes: number, repaired: boolean }> {
    try {
      await this.local.store.verify(id)
      return { bytes: (await this.local.store.layout(id)).sealedBytes, repaired: false }
    } catch (error) {
      if (error instanceof ChunkMissingError) return { bytes: 0, repaired: false } // collected meanwhile
      if (!(error instanceof ChunkCorruptError)) throw error
      this.log(`chunk ${chunkIdToHex(id).slice(0, 12)} is corrupt here (${error.message}); fetching a good copy`)
      await this.fetch(id)
      return { bytes: 0, repaired: true }
    }
  }

  unpin (ids: Buffer[]): void {
    this.local.unpin(ids)
  }

  async syncDirectories (): Promise<void> {
    await this.local.syncDirectories()
  }

  // ---- reading ----

  async read (id: Buffer, offset: number, length: number): Promise<Buffer> {
    try {
      return await this.local.read(id, offset, length)
    } catch (error) {
      if (error instanceof ChunkCorruptError) {
        this.log(`chunk ${chunkIdToHex(id).slice(0, 12)} failed verification on read (${error.message}); fetching a good copy`)
        this.stats.readRepairs++
      } else if (!(error instanceof ChunkMissingError)) {
        throw error
      }
    }
    await this.fetch(id)
    return await this.local.read(id, offset, length)
  }

  prefetch (id: Buffer, offset: number, length: number): void {
    this.local.store.has(id).then(async (present) => {
      if (!present) await this.fetch(id)
      this.local.prefetch(id, offset, length)
    }).catch(() => {}) // a failed read-ahead is retried by the real read
  }

  /** Brings a chunk this peer lacks from the peers ranked for it; concurrent readers share one fetch. */
  private async fetch (id: Buffer): Promise<void> {
    const key = chunkIdToHex(id)
    const running = this.fetching.get(key)
    if (running !== undefined) return await running
    const fetch = this.fetchOnce(id).finally(() => this.fetching.delete(key))
    this.fetching.set(key, fetch)
    await fetch
  }

  private async fetchOnce (id: Buffer): Promise<void> {
    const up = this.network.upPeers()
    const listed = this.holdersOf(chunkIdToHex(id)).filter((peer) => up.includes(peer))
    const others = rankPeers(id, up.filter((peer) => !listed.includes(peer)))
    // Recorded holders first, the least busy of them first (fewest chunk requests outstanding from here).
    const byLoad = listed.slice().sort((a, b) => this.network.outstanding(a) - this.network.outstanding(b))
    for (const peer of [...byLoad, ...others]) {
      const reply = await this.network.requestChunk(peer, ChunkKind.Get, id, EMPTY, REQUEST_TIMEOUT_MS).catch(() => null)
      if (reply?.kind !== ChunkKind.Ok) continue
      try {
        // Verified in full before it is written. A copy this peer is not listed for only serves reads:
        // no fdatasync (a crash costs a refetch); one it should hold (a scrub repair) is made durable.
        const durable = listed.length === 0 || this.holdersOf(chunkIdToHex(id)).includes(this.network.id)
        await this.local.store.putSealed(id, reply.payload, { durable })
        this.stats.fetched++
        return
      } catch (error) {
        this.log(`peer ${peer.slice(0, 12)} sent a bad copy of chunk ${chunkIdToHex(id).slice(0, 12)}: ${(error as Error).message}`)
      }
    }
    this.stats.fetchFailures++
    throw new FsError(Errno.EIO, `no reachable peer holds chunk ${chunkIdToHex(id)}`)
  }

  // ---- serving other peers ----

  private async serve (peerId: string, message: ChunkMessage): Promise<ChunkReply> {
    if (message.chunkId.length !== CHUNK_ID_BYTES) return { kind: ChunkKind.Failed, payload: EMPTY }
    const id = Buffer.from(message.chunkId)
    if (message.kind === ChunkKind.Get) {
      try {
        const sealed = await this.local.store.readSealed(id)
        this.stats.served++
        return { kind: ChunkKind.Ok, payload: sealed }
      } catch {
        return { kind: ChunkKind.Missing, payload: EMPTY }
      }
    }
    // A put: store it here while passing it down the chain; answer with everyone who stored it.
    const chain = (message.chain ?? []).map((key) => Buffer.from(key).toString('hex'))
    const downstream = this.sendAlong(chain, id, message.payload)
    try {
      this.local.hold(id, UNCOMMITTED_HOLD_MS)
      await this.local.store.putSealed(id, message.payload)
      await this.local.store.syncDirectories()
      this.stats.stored++
    } catch (error) {
      this.log(`refused chunk ${chunkIdToHex(id).slice(0, 12)} from ${peerId.slice(0, 12)}: ${(error as Error).message}`)
      await downstream
      return { kind: ChunkKind.Failed, payload: EMPTY }
    }
    return { kind: ChunkKind.Ok, payload: Buffer.concat([this.network.id, ...await downstream].map((peer) => Buffer.from(peer, 'hex'))) }
  }

  async capacity (): Promise<{ totalBytes: number, freeBytes: number, availableBytes: number }> {
    return await this.local.capacity()
  }
}

/** The peers named in a put's Ok reply: 32-byte public keys, back to back. */
function storedPeers (payload: Uint8Array): string[] {
  const peers: string[] = []
  for (let offset = 0; offset + 32 <= payload.length; offset += 32) peers.push(Buffer.from(payload.subarray(offset, offset + 32)).toString('hex'))
  return peers
}
