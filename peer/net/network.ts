// The peer's network: a hyperswarm node on the cluster's topic, admission of every connection
// (connection.ts), one admitted connection per peer id, Raft messages routed by destination (this is
// the Raft Transport), and heartbeats feeding the failure detector and telling each peer how much room
// for chunks the others have and their capacity level, from which every peer derives the same
// placement weights (capacity.ts). Peer ids are hex Noise public keys.
// Peers in `isRemoved` are refused before any data flows; peers that fail admission are refused for a
// while, so their redials cost nothing.
import HyperDHT from 'hyperdht'
import { udxWithSocketBuffers } from '../../native/udx.js'
import type { KeyPair } from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import type { PeerDiscovery, SwarmSocket } from 'hyperswarm'
import type { Message } from '../../metadata/raft/messages.js'
import type { Transport } from '../../metadata/raft/transport.js'
import { PeerConnection, PeerUnavailableError } from './connection.js'
import type { ChunkReply } from './connection.js'
import { FailureDetector } from './failure-detector.js'
import type { PeerState } from './failure-detector.js'
import { ChunkKind, HealthKind } from './wire.js'
import type { Beat, ChunkMessage, ChunkRequestKind, HealthMessage } from './wire.js'
import type { Logger } from '../log.js'
import { placementWeights } from '../capacity.js'
import type { WeightOf } from '../placement.js'

export const BEAT_INTERVAL_MS = 1_000
const REFUSED_FOR_MS = 60_000
/** Discovery is refreshed this often while a member is unreachable (announce and lookup can cross). */
const REFRESH_MS = 3_000

export interface Address { host: string, port: number }

export interface NetworkOptions {
  keyPair: KeyPair
  topic: Buffer
  authKey: Buffer
  /** DHT bootstrap nodes; undefined uses hyperswarm's public bootstrap. */
  bootstrap?: Address[]
  /** Address the DHT socket binds to; when given, the peer is assumed reachable there (not firewalled). */
  host?: string
  isRemoved: (peerId: string) => boolean
  /** What this peer's heartbeats tell the others. */
  localBeat: () => Omit<Beat, 'sequence'>
  logger: Logger
}

export interface RemotePeer {
  id: string
  connected: boolean
  state: PeerState
  lastHeartbeatMs: number | null
  beat: Omit<Beat, 'sequence'> | null
}

export class Network implements Transport {
  readonly id: string
  private readonly options: NetworkOptions
  private readonly dht: HyperDHT
  private readonly swarm: Hyperswarm
  private discovery: PeerDiscovery | null = null
  private readonly connections = new Map<string, PeerConnection>()
  private readonly refusedUntil = new Map<string, number>()
  private readonly detector = new FailureDetector()
  private readonly beats = new Map<string, Omit<Beat, 'sequence'>>()
  private readonly known = new Set<string>()
  private receiver: (message: Message) => void = () => {}
  private chunkServer: (peerId: string, message: ChunkMessage) => Promise<ChunkReply> = async () => ({ kind: ChunkKind.Failed, payload: new Uint8Array(0) })
  private localRoom: () => number | null = () => null
  private localCapacityLevel: () => number | null = () => null
  private sequence = 0
  private members: string[] = []
  private readonly timers: NodeJS.Timeout[] = []
  private closing = false
  /** Chunk bytes count payloads of chunk requests and replies, both ways (not framing or Raft). */
  stats = { admitted: 0, refused: 0, closedOnBadInput: 0, chunkBytesSent: 0, chunkBytesReceived: 0 }

  constructor (options: NetworkOptions) {
    this.options = options
    this.id = options.keyPair.publicKey.toString('hex')
    this.dht = new HyperDHT({
      udx: udxWithSocketBuffers(),
      keyPair: options.keyPair,
      ...(options.bootstrap !== undefined ? { bootstrap: options.bootstrap } : {}),
      ...(options.host !== undefined ? { host: options.host, firewalled: false } : {})
    })
    this.dht.on('error', (error) => options.logger.warn('network.dht_error', { error: error.message }))
    this.swarm = new Hyperswarm({
      dht: this.dht,
      keyPair: options.keyPair,
      firewall: (remotePublicKey) => this.refuses(remotePublicKey.toString('hex'))
    })
    this.swarm.on('connection', (socket) => this.accept(socket))
  }

  async start (): Promise<void> {
    await this.dht.ready()
    this.discovery = this.swarm.join(this.options.topic, { server: true, client: true })
    await this.discovery.flushed()
    this.timers.push(setInterval(() => this.beat(), BEAT_INTERVAL_MS))
    this.timers.push(setInterval(() => this.refreshDiscovery(), REFRESH_MS))
  }

  // ---- Transport ----

  send (messages: readonly Message[]): void {
    for (const message of messages) this.connections.get(message.to)?.sendRaft(message)
  }

  onMessage (handler: (message: Message) => void): void {
    this.receiver = handler
  }

  // ---- chunks ----

  /** Serves the chunk requests (gets, puts, syncs) that other peers send. */
  serveChunks (server: (peerId: string, message: ChunkMessage) => Promise<ChunkReply>): void {
    this.chunkServer = server
  }

  async requestChunk (peerId: string, kind: ChunkRequestKind, chunkId: Uint8Array, payload: Uint8Array, timeoutMs: number, chain: string[] = []): Promise<ChunkReply> {
    const connection = this.connections.get(peerId)
    if (connection === undefined) throw new PeerUnavailableError(`peer ${short(peerId)} is not connected`)
    this.stats.chunkBytesSent += payload.length
    const reply = await connection.requestChunk(kind, chunkId, payload, timeoutMs, chain.map((id) => Buffer.from(id, 'hex')))
    this.stats.chunkBytesReceived += reply.payload.length
    return reply
  }

  /** What this peer's heartbeats say about its room for chunks (bytes; null: unknown, not sent). */
  advertiseRoom (room: () => number | null): void {
    this.localRoom = room
  }

  /** The room for chunks `peerId` last advertised (this peer's own for its id), or null when unknown. */
  roomOf (peerId: string): number | null {
    if (peerId === this.id) return this.localRoom()
    return this.beats.get(peerId)?.room ?? null
  }

  /** What this peer's heartbeats say about its capacity level (capacity.ts; null: unknown, not sent). */
  advertiseCapacity (level: () => number | null): void {
    this.localCapacityLevel = level
  }

  /** The capacity level `peerId` last advertised (this peer's own for its id), or null when unknown. */
  capacityLevelOf (peerId: string): number | null {
    if (peerId === this.id) return this.localCapacityLevel()
    return this.beats.get(peerId)?.capacityLevel ?? null
  }

  /**
   * Placement weights as this peer knows them now: its own level and the last one every other peer it
   * heard from advertised (kept while that peer is away); the rest weigh the median.
   */
  placementWeights (): WeightOf {
    const levels = new Map<string, number | null>([[this.id, this.localCapacityLevel()]])
    for (const [peerId, beat] of this.beats) levels.set(peerId, beat.capacityLevel ?? null)
    return placementWeights(levels)
  }

  /** Chunk requests this peer has waiting on `peerId` (load, for choosing among replicas). */
  outstanding (peerId: string): number {
    return this.connections.get(peerId)?.outstanding ?? Infinity
  }

  // ---- membership and views ----

  /** The group's members: dialled directly (and redialled) by public key, beside topic discovery. */
  setMembers (ids: readonly string[]): void {
    for (const id of ids) {
      if (id === this.id || this.members.includes(id)) continue
      this.swarm.joinPeer(Buffer.from(id, 'hex'))
    }
    for (const id of this.members) {
      if (!ids.includes(id)) this.swarm.leavePeer(Buffer.from(id, 'hex'))
    }
    this.members = [...ids]
  }

  /** Closes the connection of a peer removed from the cluster; `isRemoved` keeps it out from now on. */
  expel (peerId: string): void {
    this.swarm.leavePeer(Buffer.from(peerId, 'hex'))
    this.connections.get(peerId)?.close('peer was removed from the cluster')
  }

  /** Admitted peers with a live connection whose heartbeats are answered. */
  upPeers (): string[] {
    return [...this.connections.keys()].filter((id) => this.detector.state(id) === 'up')
  }

  peer (id: string): RemotePeer {
    return {
      id,
      connected: this.connections.has(id),
      state: this.detector.state(id),
      lastHeartbeatMs: this.detector.lastAckMs(id),
      beat: this.beats.get(id) ?? null
    }
  }

  /** Every peer this one has admitted since it started. */
  knownPeers (): string[] {
    return [...this.known]
  }

  async close (): Promise<void> {
    this.closing = true
    for (const timer of this.timers) clearInterval(timer)
    for (const connection of this.connections.values()) connection.close('shutting down')
    await this.swarm.destroy()
    await this.dht.destroy()
  }

  // ---- connections ----

  private refuses (peerId: string): boolean {
    if (this.closing || peerId === this.id) return true
    if (this.options.isRemoved(peerId)) return true
    return (this.refusedUntil.get(peerId) ?? 0) > Date.now()
  }

  private accept (socket: SwarmSocket): void {
    const peerId = socket.remotePublicKey.toString('hex')
    socket.on('error', () => {}) // reported by the connection; this keeps an early error from being unhandled
    if (this.refuses(peerId)) {
      socket.destroy()
      return
    }
    // The connection registers itself through its events.
    new PeerConnection(socket, this.options.authKey, {
      admitted: (connection) => this.admitted(connection),
      raft: (_connection, message) => { if (message.from === peerId) this.receiver(message) },
      health: (connection, message) => this.health(connection, message),
      chunkRequest: async (_connection, message) => {
        this.stats.chunkBytesReceived += message.payload.length
        const reply = await this.chunkServer(peerId, message)
        this.stats.chunkBytesSent += reply.payload.length
        return reply
      },
      closed: (connection, reason, refused) => this.closed(connection, reason, refused)
    })
  }

  private admitted (connection: PeerConnection): void {
    const previous = this.connections.get(connection.peerId)
    this.connections.set(connection.peerId, connection)
    previous?.close('replaced by a newer connection')
    this.known.add(connection.peerId)
    this.detector.connected(connection.peerId)
    this.stats.admitted++
    this.options.logger.info('network.peer_connected', { peer: short(connection.peerId) })
  }

  private closed (connection: PeerConnection, reason: string, refused: boolean): void {
    if (refused) {
      this.refusedUntil.set(connection.peerId, Date.now() + REFUSED_FOR_MS)
      this.stats.refused++
    }
    if (reason.startsWith('malformed') || reason.startsWith('unprocessable')) this.stats.closedOnBadInput++
    if (this.connections.get(connection.peerId) !== connection) {
      if (refused || !connection.admitted) this.options.logger.warn('network.connection_refused', { peer: short(connection.peerId), reason })
      return
    }
    this.connections.delete(connection.peerId)
    this.detector.disconnected(connection.peerId)
    if (!this.closing) this.options.logger.info('network.peer_disconnected', { peer: short(connection.peerId), reason })
  }

  // ---- heartbeats ----

  private beat (): void {
    const now = Date.now()
    this.detector.expire(now)
    // Refusals expire here, or every key that ever failed admission would stay in the map for good.
    for (const [peerId, until] of this.refusedUntil) if (until <= now) this.refusedUntil.delete(peerId)
    const local = this.localBeat()
    for (const connection of this.connections.values()) {
      const sequence = ++this.sequence
      this.detector.sent(connection.peerId, sequence, now)
      connection.sendHealth({ kind: HealthKind.Beat, sequence, ...local })
    }
  }

  private health (connection: PeerConnection, message: HealthMessage): void {
    const { kind, sequence, ...beat } = message
    this.beats.set(connection.peerId, beat)
    if (kind === HealthKind.Beat) connection.sendHealth({ kind: HealthKind.Ack, sequence, ...this.localBeat() })
    else this.detector.acked(connection.peerId, sequence, Date.now())
  }

  private localBeat (): Omit<Beat, 'sequence'> {
    const room = this.localRoom()
    const capacityLevel = this.localCapacityLevel()
    return { ...this.options.localBeat(), ...(room !== null ? { room } : {}), ...(capacityLevel !== null ? { capacityLevel } : {}) }
  }

  private refreshDiscovery (): void {
    const missing = this.members.some((id) => id !== this.id && !this.connections.has(id))
    // A peer that is no member yet knows no one to miss, but its first lookup may have crossed the
    // leader's announce: it keeps looking until it is admitted, or it could wait forever.
    const joining = !this.members.includes(this.id)
    if (this.discovery === null || (!missing && !joining && this.connections.size > 0)) return
    this.discovery.refresh({ client: true, server: true }).catch((error: Error) => this.options.logger.warn('network.discovery_refresh_failed', { error: error.message }))
  }
}

export function short (peerId: string): string {
  return peerId.slice(0, 12)
}
