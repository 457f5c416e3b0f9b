// One admitted-or-not hyperswarm connection to another peer: the protomux channels it carries (Raft and
// health), the admission check on each channel's handshake, and the rule that any bad input — a wrong
// capability, another protocol version, a malformed or oversized frame, silence past the admission
// timeout — closes this connection with a logged reason and touches nothing else.
import c from 'compact-encoding'
import Protomux from 'protomux'
import type { MessageEncoding, ProtomuxChannel, ProtomuxMessage } from 'protomux'
import type { SwarmSocket } from 'hyperswarm'
import type { Message } from '../../metadata/raft/messages.js'
import { capability, verifyCapability } from './capability.js'
import { ChunkKind, PROTOCOLS, PROTOCOL_VERSION, WireError, chunkFrame, decodeChunkMessage, decodeHealth, decodeRaft, encodeHealth, encodeRaft, handshakeEncoding, isChunkPut, isChunkRequest } from './wire.js'
import type { ChunkRequestKind } from './wire.js'
import type { ChunkMessage, Handshake, HealthMessage } from './wire.js'

export const ADMISSION_TIMEOUT_MS = 5_000
/**
 * Chunk requests that may occupy one connection at once: whole chunks are up to 4 MiB and share the
 * stream with Raft, so few on the wire keep heartbeats from queueing behind many MiB (STACK.md §4). A
 * get occupies its slot until answered (its 4 MiB come back on the remote's stream); a put only until
 * its bytes have left — the stream drained — as it then waits for replicas to store it, not for the link.
 */
export const CHUNK_REQUESTS_IN_FLIGHT_MAX = 2

export class PeerUnavailableError extends Error {
  readonly code = 'EPEER'
}

export interface ChunkReply { kind: ChunkKind, payload: Uint8Array }

export interface ConnectionEvents {
  admitted: (connection: PeerConnection) => void
  raft: (connection: PeerConnection, message: Message) => void
  health: (connection: PeerConnection, message: HealthMessage) => void
  /** A get or put from the remote; resolves with the reply to send. */
  chunkRequest: (connection: PeerConnection, message: ChunkMessage) => Promise<ChunkReply>
  /** `refused` is true when the remote failed admission (wrong capability or version). */
  closed: (connection: PeerConnection, reason: string, refused: boolean) => void
}

type ChannelName = keyof typeof PROTOCOLS

/**
 * The handshake as protomux decodes it, with an undecodable one as null: thrown, it would make protomux
 * destroy the stream as a mere connection error, so the sender would escape the refusal a wrong
 * capability earns.
 */
const lenientHandshake: c.Encoder<Handshake | null> = {
  preencode (state, h) { handshakeEncoding.preencode(state, h!) },
  encode (state, h) { handshakeEncoding.encode(state, h!) },
  decode (state) {
    try {
      return handshakeEncoding.decode(state)
    } catch {
      return null
    }
  }
}
const ZERO_ID = new Uint8Array(32)

export class PeerConnection {
  readonly peerId: string
  readonly isInitiator: boolean
  private readonly socket: SwarmSocket
  private readonly authKey: Uint8Array
  private readonly events: ConnectionEvents
  private readonly verified = new Set<ChannelName>()
  private readonly channels: ProtomuxChannel[] = []
  private raftMessage!: ProtomuxMessage<Uint8Array>
  private healthMessage!: ProtomuxMessage<Uint8Array>
  private chunkMessage!: ProtomuxMessage<ChunkMessage>
  private readonly pending = new Map<number, { resolve: (reply: ChunkReply) => void, reject: (error: Error) => void, timer: NodeJS.Timeout }>()
  private readonly waitingForSlot: Array<() => void> = []
  /** Slots of puts whose bytes are still on their way: freed when the stream drains. */
  private readonly untilDrained: Array<() => void> = []
  private requestSequence = 0
  private inFlight = 0
  private awaitingReply = 0
  private readonly admissionTimer: NodeJS.Timeout
  admitted = false
  closed = false

  constructor (socket: SwarmSocket, authKey: Uint8Array, events: ConnectionEvents) {
    this.socket = socket
    this.peerId = socket.remotePublicKey.toString('hex')
    this.isInitiator = socket.isInitiator
    this.authKey = authKey
    this.events = events
    socket.on('error', (error: Error) => this.close(`connection error: ${error.message}`))
    socket.on('close', () => this.close('connection closed'))
    // Channels are created synchronously, before the remote's opens can arrive (protomux rejects an open
    // for a protocol it does not know yet).
    const mux = Protomux.from(socket)
    this.raftMessage = this.openChannel(mux, 'raft', c.raw, (bytes) => this.events.raft(this, decodeRaft(bytes)))
    this.healthMessage = this.openChannel(mux, 'health', c.raw, (bytes) => this.events.health(this, decodeHealth(bytes)))
    this.chunkMessage = this.openChannel(mux, 'chunks', chunkFrame, (bytes) => this.receiveChunk(decodeChunkMessage(bytes)))
    // Silence is closed but not refused: a loaded peer may just be slow; only a wrong proof is refused.
    this.admissionTimer = setTimeout(() => this.close('not admitted within the timeout'), ADMISSION_TIMEOUT_MS)
  }

  /** Chunk requests sent and not answered yet, plus those queued for a slot. */
  get outstanding (): number {
    return this.awaitingReply + this.waitingForSlot.length
  }

  sendRaft (message: Message): void {
    if (this.admitted && !this.closed) this.raftMessage.send(encodeRaft(message))
  }

  sendHealth (message: HealthMessage): void {
    if (this.admitted && !this.closed) this.healthMessage.send(encodeHealth(message))
  }

  /** Sends a chunk request and resolves with the reply; rejects with PeerUnavailableError on timeout or close. */
  async requestChunk (kind: ChunkRequestKind, chunkId: Uint8Array, payload: Uint8Array, timeoutMs: number, chain: Uint8Array[] = []): Promise<ChunkReply> {
    while (this.inFlight >= CHUNK_REQUESTS_IN_FLIGHT_MAX) await new Promise<void>((resolve) => this.waitingForSlot.push(resolve))
    if (this.closed || !this.admitted) throw new PeerUnavailableError(`peer ${this.peerId.slice(0, 12)} is not connected`)
    this.inFlight++
    this.awaitingReply++
    let slotHeld = true
    const freeSlot = (): void => {
      if (!slotHeld) return
      slotHeld = false
      this.inFlight--
      this.waitingForSlot.shift()?.()
    }
    try {
      const requestId = ++this.requestSequence
      return await new Promise<ChunkReply>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(requestId)
          reject(new PeerUnavailableError(`peer ${this.peerId.slice(0, 12)} did not answer a chunk request in ${timeoutMs} ms`))
        }, timeoutMs)
        this.pending.set(requestId, { resolve, reject, timer })
        const flushed = this.chunkMessage.send({ kind, requestId, chunkId, payload, chain })
        if (isChunkPut(kind)) {
          if (flushed) freeSlot()
          else this.untilDrained.push(freeSlot)
        }
      })
    } finally {
      this.awaitingReply--
      freeSlot()
    }
  }

  private receiveChunk (message: ChunkMessage): void {
    if (isChunkRequest(message.kind)) {
      this.events.chunkRequest(this, message).then((reply) => {
        if (!this.closed) this.chunkMessage.send({ kind: reply.kind, requestId: message.requestId, chunkId: ZERO_ID, payload: reply.payload })
      }, () => {
        if (!this.closed) this.chunkMessage.send({ kind: ChunkKind.Failed, requestId: message.requestId, chunkId: ZERO_ID, payload: new Uint8Array(0) })
      })
      return
    }
    const waiter = this.pending.get(message.requestId)
    if (waiter === undefined) return // answered after its timeout
    this.pending.delete(message.requestId)
    clearTimeout(waiter.timer)
    waiter.resolve({ kind: message.kind, payload: message.payload })
  }

  close (reason: string, refused = false): void {
    if (this.closed) return
    this.closed = true
    for (const [id, waiter] of this.pending) {
      clearTimeout(waiter.timer)
      waiter.reject(new PeerUnavailableError(`connection to ${this.peerId.slice(0, 12)} closed: ${reason}`))
      this.pending.delete(id)
    }
    for (const wake of this.waitingForSlot.splice(0)) wake()
    this.untilDrained.length = 0 // each frees its slot as its request is rejected above
    clearTimeout(this.admissionTimer)
    this.socket.destroy()
    this.events.closed(this, reason, refused)
  }

  /** Opens channel `name`; its messages are sent with `encoding` and arrive as raw bytes for `deliver`. */
  private openChannel<S> (mux: Protomux, name: ChannelName, encoding: MessageEncoding<S, Uint8Array>, deliver: (bytes: Uint8Array) => void): ProtomuxMessage<S> {
    const channel = mux.createChannel<Handshake | null>({
      protocol: PROTOCOLS[name],
      handshake: lenientHandshake,
      onopen: (handshake) => this.verify(name, handshake),
      onclose: () => this.close(`${name} channel closed`),
      ondrain: () => { for (const free of this.untilDrained.splice(0)) free() }
    })
    if (channel === null) throw new WireError(`${name} channel already exists on this connection`)
    const message = channel.addMessage({
      encoding,
      onmessage: (bytes: Uint8Array) => {
        // Nothing from a connection is acted on before it is fully admitted (Raft tolerates the loss).
        if (!this.admitted || this.closed) return
        try {
          deliver(bytes)
        } catch (error) {
          const what = error instanceof WireError ? 'malformed' : 'unprocessable'
          this.close(`${what} ${name} frame: ${(error as Error).message}`)
        }
      }
    })
    channel.open({ version: PROTOCOL_VERSION, capability: capability(this.authKey, this.socket.handshakeHash, this.isInitiator) })
    this.channels.push(channel)
    return message
  }

  private verify (name: ChannelName, handshake: Handshake | null): void {
    if (this.closed) return
    if (handshake === null) {
      this.close(`${name} channel sent a handshake that does not decode (not a member of this cluster)`, true)
      return
    }
    if (handshake.version !== PROTOCOL_VERSION) {
      this.close(`${name} channel speaks protocol version ${handshake.version}, this peer speaks ${PROTOCOL_VERSION}`, true)
      return
    }
    if (!verifyCapability(this.authKey, this.socket.handshakeHash, this.isInitiator, handshake.capability)) {
      this.close(`${name} channel presented a wrong capability (not a member of this cluster)`, true)
      return
    }
    this.verified.add(name)
    if (this.verified.size === Object.keys(PROTOCOLS).length && !this.admitted) {
      this.admitted = true
      clearTimeout(this.admissionTimer)
      this.events.admitted(this)
    }
  }
}
