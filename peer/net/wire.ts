// What travels between peers, and the limits every decoder enforces. Each hyperswarm connection carries
// protomux channels — Raft, health and chunks — and each channel opens with the same
// handshake: the protocol version and a capability proving cluster membership (capability.ts).
// Every decoder reads exactly its input and throws WireError on anything else, so a malformed or
// oversized frame closes that one connection and nothing more.
import c from 'compact-encoding'
import { CAPACITY_LEVEL_MAX } from '../capacity.js'
import { DecodeError, messageCodec } from '../../metadata/raft/messages.js'
import type { Message } from '../../metadata/raft/messages.js'

/**
 * 2: heartbeats may carry the sender's room for chunks, and a Failed chunk reply may say why. A peer of
 * version 1 rejects such beats as malformed, so the versions refuse each other at the handshake instead.
 * 3: a heartbeat's optional fields follow a flags number, and it may carry the sender's capacity level
 * (placement weights, capacity.ts). Version 2 would misread such beats: refused at the handshake too.
 * 4: chunk requests PutBuffered and Sync (a close no longer waits for holders' disks; fsync syncs them).
 * Version 3 would close the channel on either: refused at the handshake.
 * 5: the Raft log carries metadata commands of version 4 (a commitChunks with staged attributes), which
 * a peer of version 4 cannot apply: refused at the handshake.
 */
export const PROTOCOL_VERSION = 5
export const CAPABILITY_BYTES = 32
/** Raft frames: an append batch is at most 1 MiB of entries and one entry at most 16 MiB (a huge chunk list). */
export const RAFT_FRAME_BYTES_MAX = 17 * 1024 * 1024
export const HEALTH_FRAME_BYTES_MAX = 256
/** Chunk frames carry one whole sealed chunk (4 MiB of plaintext plus headers and tags) at most. */
export const CHUNK_FRAME_BYTES_MAX = 5 * 1024 * 1024

export const PROTOCOLS = { raft: 'swarmfs/raft', health: 'swarmfs/health', chunks: 'swarmfs/chunks' } as const

export class WireError extends Error {
  readonly code = 'EWIRE'
}

export interface Handshake {
  version: number
  capability: Uint8Array
}

export const handshakeEncoding: c.Encoder<Handshake> = {
  preencode (state, h) { c.uint.preencode(state, h.version); c.fixed32.preencode(state, h.capability) },
  encode (state, h) { c.uint.encode(state, h.version); c.fixed32.encode(state, h.capability) },
  decode (state) {
    const version = c.uint.decode(state)
    const capability = c.fixed32.decode(state)
    return { version, capability }
  }
}

/** A heartbeat of the failure detector, carrying what `swarmfs status` shows about the sender. */
export interface Beat {
  sequence: number
  term: number
  commit: number
  applied: number
  /** Bytes of chunks the sender can still store (writers place copies elsewhere when it is short); absent: unknown. */
  room?: number
  /** The sender's capacity level (capacity.ts), its weight in placement; absent: unknown. */
  capacityLevel?: number
}

/** Heartbeats and their acknowledgements share one message shape: an ack echoes the sequence. */
export const HealthKind = { Beat: 0, Ack: 1 } as const
export type HealthKind = typeof HealthKind[keyof typeof HealthKind]

export interface HealthMessage extends Beat {
  kind: HealthKind
}

/** Which optional fields a health message carries, in this order after the flags. */
const HealthField = { Room: 1, CapacityLevel: 2 } as const
const HEALTH_FIELDS_ALL = HealthField.Room | HealthField.CapacityLevel

// kind, sequence, term, commit, applied, flags, then the optional fields the flags name.
const healthBody: c.Encoder<HealthMessage> = {
  preencode (state, m) {
    for (const n of healthNumbers(m)) c.uint.preencode(state, n)
  },
  encode (state, m) {
    for (const n of healthNumbers(m)) c.uint.encode(state, n)
  },
  decode (state) {
    const kind = c.uint.decode(state)
    if (kind !== HealthKind.Beat && kind !== HealthKind.Ack) throw new WireError(`unknown health message kind ${kind}`)
    const [sequence, term, commit, applied] = [0, 0, 0, 0].map(() => safe(c.uint.decode(state))) as [number, number, number, number]
    const flags = c.uint.decode(state)
    if (flags > HEALTH_FIELDS_ALL) throw new WireError(`unknown health message fields ${flags}`)
    const message: HealthMessage = { kind, sequence, term, commit, applied }
    if ((flags & HealthField.Room) !== 0) message.room = safe(c.uint.decode(state))
    if ((flags & HealthField.CapacityLevel) !== 0) {
      const level = c.uint.decode(state)
      if (level > CAPACITY_LEVEL_MAX) throw new WireError(`capacity level ${level} exceeds ${CAPACITY_LEVEL_MAX}`)
      message.capacityLevel = level
    }
    return message
  }
}

function healthNumbers (m: HealthMessage): number[] {
  const room = m.room === undefined ? [] : [Math.max(0, Math.floor(m.room))]
  const level = m.capacityLevel === undefined ? [] : [Math.min(CAPACITY_LEVEL_MAX, Math.max(0, Math.floor(m.capacityLevel)))]
  const flags = (room.length > 0 ? HealthField.Room : 0) | (level.length > 0 ? HealthField.CapacityLevel : 0)
  return [m.kind, m.sequence, m.term, m.commit, m.applied, flags, ...room, ...level]
}

function safe (n: number): number {
  if (!Number.isSafeInteger(n)) throw new WireError('integer out of range')
  return n
}

/** Decodes all of `bytes` with `encoding`; anything malformed, short, long or oversized is a WireError. */
export function decodeExactly<T> (encoding: c.Encoder<T>, bytes: Uint8Array, bytesMax: number, what: string): T {
  if (!(bytes instanceof Uint8Array)) throw new WireError(`${what}: not bytes`)
  if (bytes.byteLength > bytesMax) throw new WireError(`${what}: ${bytes.byteLength} bytes exceeds the limit of ${bytesMax}`)
  try {
    const state = c.state(0, bytes.byteLength, bytes)
    const value = encoding.decode(state)
    if (state.start !== state.end) throw new WireError(`${what}: trailing bytes`)
    return value
  } catch (error) {
    if (error instanceof WireError) throw error
    throw new WireError(`${what}: malformed (${(error as Error).message})`)
  }
}

export function encodeHealth (message: HealthMessage): Uint8Array {
  return c.encode(healthBody, message)
}

export function decodeHealth (bytes: Uint8Array): HealthMessage {
  return decodeExactly(healthBody, bytes, HEALTH_FRAME_BYTES_MAX, 'health message')
}

export function decodeHandshake (bytes: Uint8Array): Handshake {
  return decodeExactly(handshakeEncoding, bytes, 64, 'handshake')
}

export function encodeRaft (message: Message): Uint8Array {
  return messageCodec.encode(message)
}

export function decodeRaft (bytes: Uint8Array): Message {
  if (!(bytes instanceof Uint8Array)) throw new WireError('raft message: not bytes')
  if (bytes.byteLength > RAFT_FRAME_BYTES_MAX) throw new WireError(`raft message: ${bytes.byteLength} bytes exceeds the limit`)
  try {
    return messageCodec.decode(bytes)
  } catch (error) {
    if (error instanceof DecodeError) throw new WireError(`raft message: ${error.message}`)
    throw error
  }
}

/**
 * Chunk transfers: a request and its reply, matched by request id. Requests: Get a sealed chunk; Put
 * one, durable (synced) on the receiver before it answers; PutBuffered, stored and readable before it
 * answers, made durable by the receiver's next sync (a Sync request, or its background flush within
 * seconds); Sync, which makes every chunk put on the receiver so far durable. Replies: Ok, Missing, Failed.
 */
export const ChunkKind = { Get: 0, Put: 1, Ok: 2, Missing: 3, Failed: 4, PutBuffered: 5, Sync: 6 } as const
export type ChunkKind = typeof ChunkKind[keyof typeof ChunkKind]
export type ChunkRequestKind = typeof ChunkKind.Get | typeof ChunkKind.Put | typeof ChunkKind.PutBuffered | typeof ChunkKind.Sync

export function isChunkRequest (kind: ChunkKind): kind is ChunkRequestKind {
  return kind === ChunkKind.Get || kind === ChunkKind.Put || kind === ChunkKind.PutBuffered || kind === ChunkKind.Sync
}

export function isChunkPut (kind: ChunkKind): boolean {
  return kind === ChunkKind.Put || kind === ChunkKind.PutBuffered
}

/** Why a request failed, in the payload of a Failed reply (one byte; empty or unknown: unspecified). */
export const ChunkFailure = { Unspecified: 0, NoSpace: 1 } as const
export type ChunkFailure = typeof ChunkFailure[keyof typeof ChunkFailure]

export function encodeChunkFailure (reason: ChunkFailure): Uint8Array {
  return reason === ChunkFailure.Unspecified ? new Uint8Array(0) : Uint8Array.of(reason)
}

export function decodeChunkFailure (payload: Uint8Array): ChunkFailure {
  return payload.length === 1 && payload[0] === ChunkFailure.NoSpace ? ChunkFailure.NoSpace : ChunkFailure.Unspecified
}

/** Peers a put is passed on to after the receiver (chain replication), at most. */
export const CHAIN_PEERS_MAX = 8

export interface ChunkMessage {
  kind: ChunkKind
  requestId: number
  chunkId: Uint8Array // 32 bytes; zeros in replies
  // A put: the sealed chunk. An Ok reply to a get: the sealed chunk; to a put: the 32-byte keys of the
  // peers that stored it (the receiver first, unless it refused and only peers down the chain stored
  // it). A Failed reply: its reason (encodeChunkFailure). Empty otherwise.
  payload: Uint8Array
  /** A put only: the public keys (32 bytes each) of the peers the receiver passes the chunk on to. */
  chain?: Uint8Array[]
}

const chainEncoding: c.Encoder<Uint8Array[]> = {
  preencode (state, keys) { c.uint.preencode(state, keys.length); for (const key of keys) c.fixed32.preencode(state, key) },
  encode (state, keys) { c.uint.encode(state, keys.length); for (const key of keys) c.fixed32.encode(state, key) },
  decode (state) {
    const length = c.uint.decode(state)
    if (length > CHAIN_PEERS_MAX) throw new WireError(`a chain of ${length} peers exceeds the limit of ${CHAIN_PEERS_MAX}`)
    return Array.from({ length }, () => c.fixed32.decode(state))
  }
}

const chunkBody: c.Encoder<ChunkMessage> = {
  preencode (state, m) {
    c.uint.preencode(state, m.kind)
    c.uint.preencode(state, m.requestId)
    c.fixed32.preencode(state, m.chunkId)
    c.buffer.preencode(state, m.payload)
    chainEncoding.preencode(state, m.chain ?? [])
  },
  encode (state, m) {
    c.uint.encode(state, m.kind)
    c.uint.encode(state, m.requestId)
    c.fixed32.encode(state, m.chunkId)
    c.buffer.encode(state, m.payload)
    chainEncoding.encode(state, m.chain ?? [])
  },
  decode (state) {
    const kind = c.uint.decode(state)
    if (kind > ChunkKind.Sync) throw new WireError(`unknown chunk message kind ${kind}`)
    const requestId = safe(c.uint.decode(state))
    const chunkId = c.fixed32.decode(state)
    const payload = c.buffer.decode(state) ?? new Uint8Array(0)
    const chain = chainEncoding.decode(state)
    return { kind: kind as ChunkKind, requestId, chunkId, payload, chain }
  }
}

export function encodeChunkMessage (message: ChunkMessage): Uint8Array {
  return c.encode(chunkBody, message)
}

/**
 * The chunk channel's frames. A message is encoded straight into the frame protomux takes from the
 * encrypted stream, so a 4 MiB payload is copied once on its way out, not first into a buffer of its
 * own (each such buffer also brought V8's next full collection closer). What arrives stays raw bytes,
 * for decodeChunkMessage to bound and check where a bad frame closes only its connection.
 */
export const chunkFrame = {
  preencode: chunkBody.preencode,
  encode: chunkBody.encode,
  decode: (state: c.State): Uint8Array => c.raw.decode(state)
}

export function decodeChunkMessage (bytes: Uint8Array): ChunkMessage {
  return decodeExactly(chunkBody, bytes, CHUNK_FRAME_BYTES_MAX, 'chunk message')
}
