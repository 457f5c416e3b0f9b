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
const REQUEST_TIMEOUT_MS = 15_000
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

  /** holdersOf: the peers the metadata lists as holding a chunk (tried first when fetching). */
  constructor (local: LocalChunks, network: Network, options: { replicas: number, holdersOf: (chunkHex: string) => string[], log: (line: string) => void }) {
    this.local = local
    this.network = network
    this.replicas = options.replicas
    this.holdersOf = options.holdersOf
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

  /** Sends the sealed chunk to R − 1 peers, moving down the ranking past peers that fail. */
  private async replicate (id: Buffer, sealed: Uint8Array): Promise<string[]> {
    const up = this.network.upPeers()
    const wanted = Math.min(this.replicas - 1, up.length)
    if (wanted === 0) return []
    const candidates = replicaTargets(id, this.network.id, up, up.length)
    const stored: string[] = []
    let next = 0
    // One worker per wanted replica: each places one copy, on the next candidate whenever one fails.
    const worker = async (): Promise<void> => {
      while (next < candidates.length) {
        const peer = candidates[next++]!
        if (await this.send(peer, id, sealed)) {
          stored.push(peer)
          return
        }
      }
    }
    await Promise.all(Array.from({ length: wanted }, worker))
    this.stats.replicasWritten += stored.length
    if (stored.length === wanted) return stored
    this.stats.underReplicatedWrites++
    if (stored.length === 0) throw new FsError(Errno.EIO, `no peer took chunk ${chunkIdToHex(id)} (wanted ${wanted} replicas)`)
    this.log(`chunk ${chunkIdToHex(id).slice(0, 12)} has ${stored.length + 1} of ${wanted + 1} copies; repair will add the rest`)
    return stored
  }

  private async send (peer: string, id: Buffer, sealed: Uint8Array): Promise<boolean> {
    const reply = await this.network.requestChunk(peer, ChunkKind.Put, id, sealed, REQUEST_TIMEOUT_MS).catch(() => null)
    return reply?.kind === ChunkKind.Ok
  }

  /** Copies a chunk this peer holds to `peers` (repair, rebalance); resolves with those that stored it. */
  async copyTo (id: Buffer, peers: readonly string[]): Promise<string[]> {
    if (peers.length === 0) return []
    const sealed = await this.local.store.readSealed(id)
    const results = await Promise.all(peers.map(async (peer) => await this.send(peer, id, sealed)))
    return peers.filter((_, i) => results[i])
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
    try {
      this.local.hold(id, UNCOMMITTED_HOLD_MS)
      await this.local.store.putSealed(id, message.payload)
      await this.local.store.syncDirectories()
      this.stats.stored++
      return { kind: ChunkKind.Ok, payload: EMPTY }
    } catch (error) {
      this.log(`refused chunk ${chunkIdToHex(id).slice(0, 12)} from ${peerId.slice(0, 12)}: ${(error as Error).message}`)
      return { kind: ChunkKind.Failed, payload: EMPTY }
    }
  }

  async capacity (): Promise<{ totalBytes: number, freeBytes: number, availableBytes: number }> {
    return await this.local.capacity()
  }
}
