// Proves the peer wire and the admission proof, without a network. Thousands of seeded random,
// truncated and bit-flipped inputs to decodeRaft, decodeHealth, decodeHandshake and decodeInvite throw
// WireError or InviteError and nothing else (a TypeError or RangeError inside a protomux handler would
// crash the daemon, STYLE.md §3); valid frames round-trip (heartbeats with and without the sender's room
// for chunks and capacity level, optional fields named by a flags number; unknown flags, a missing
// field or a level beyond the highest are refused); a Failed reply's reason decodes leniently;
// oversized frames are refused before any decoding; a capability verifies only for the other role of the same Noise session under the same key.
// A failing case prints its seed: SEED=n replays it.
import test from 'brittle'
import type { Test } from 'brittle'
import { EntryType, MessageType, makeMessage } from '../../../metadata/raft/messages.js'
import { KEY_BYTES, randomBytes } from '../../../native/crypto.js'
import { deriveClusterKeys } from '../../../peer/cluster-keys.js'
import { InviteError, decodeInvite, encodeInvite } from '../../../peer/invite.js'
import { capability, verifyCapability } from '../../../peer/net/capability.js'
import {
  CAPABILITY_BYTES, ChunkFailure, ChunkKind, HEALTH_FRAME_BYTES_MAX, HealthKind, PROTOCOL_VERSION, RAFT_FRAME_BYTES_MAX, WireError,
  chunkFrame, decodeChunkFailure, decodeChunkMessage, decodeHandshake, encodeChunkFailure, decodeHealth, decodeRaft, encodeChunkMessage, encodeHealth, encodeRaft, handshakeEncoding
} from '../../../peer/net/wire.js'
import type { HealthMessage } from '../../../peer/net/wire.js'
import { CAPACITY_LEVEL_MAX } from '../../../peer/capacity.js'
import c from 'compact-encoding'
import { fuzzCases } from '../../helpers/fuzz-scale.js'
import { seededRandom } from '../../helpers/seeded-random.js'

const SEED = Number(process.env.SEED ?? 20240901)
const CASES = fuzzCases(5_000)

const raftSample = makeMessage({
  type: MessageType.App,
  to: 'b'.repeat(64),
  from: 'a'.repeat(64),
  term: 9,
  logTerm: 8,
  index: 2 ** 45,
  commit: 2 ** 45 - 3,
  reject: false,
  rejectHint: 0,
  context: new Uint8Array([7, 7]),
  entries: [
    { term: 8, index: 2 ** 45 + 1, type: EntryType.Normal, data: new Uint8Array([1, 2, 3, 4]) },
    { term: 9, index: 2 ** 45 + 2, type: EntryType.Empty, data: new Uint8Array(0) }
  ],
  snapshot: null
})
const beat: HealthMessage = { kind: HealthKind.Beat, sequence: 41, term: 9, commit: 2 ** 50, applied: 2 ** 50 - 1 }
const ack: HealthMessage = { kind: HealthKind.Ack, sequence: 41, term: 9, commit: 1, applied: 0 }
const beatWithRoom: HealthMessage = { ...beat, room: 3 * 2 ** 40 }
const beatWithCapacity: HealthMessage = { ...beat, room: 2 ** 33, capacityLevel: 77 }
const chunkPut = { kind: ChunkKind.Put, requestId: 12, chunkId: randomBytes(32), payload: randomBytes(100), chain: [randomBytes(32), randomBytes(32)] }
const handshake = { version: PROTOCOL_VERSION, capability: randomBytes(CAPABILITY_BYTES) }

/** Random bytes, a truncation of `valid`, or `valid` with a few bytes or bits changed. */
function mutant (random: () => number, valid: Uint8Array, lengthMax: number): Uint8Array {
  const int = (bound: number): number => Math.floor(random() * bound)
  const kind = int(4)
  if (kind === 0) return Uint8Array.from({ length: int(lengthMax + 1) }, () => int(256))
  if (kind === 1) return valid.slice(0, int(valid.length))
  const bytes = new Uint8Array(valid) // a copy: encoders return Buffers, whose slice() is a view

  if (bytes.length === 0) return bytes
  const edits = 1 + int(4)
  for (let k = 0; k < edits; k++) {
    const at = int(bytes.length)
    if (kind === 2) bytes[at] = int(256)
    else bytes[at]! ^= 1 << int(8)
  }
  return random() < 0.2 ? Uint8Array.from([...bytes, ...Array.from({ length: 1 + int(8) }, () => int(256))]) : bytes
}

/** Feeds CASES mutants of `valid` to `decode`; only `expected` may be thrown. */
function fuzz (t: Test, name: string, valid: Uint8Array, decode: (bytes: Uint8Array) => unknown, expected: new (...args: any[]) => Error): void {
  const random = seededRandom(SEED)
  let refused = 0
  let accepted = 0
  const wrong: string[] = []
  for (let i = 0; i < CASES; i++) {
    const bytes = mutant(random, valid, valid.length * 2)
    try {
      decode(bytes)
      accepted++
    } catch (error) {
      if (error instanceof expected) refused++
      else if (wrong.length < 3) wrong.push(`${(error as Error).name}: ${(error as Error).message} on ${Buffer.from(bytes).toString('hex')}`)
    }
  }
  t.comment(`${name}: ${CASES} mutants, ${refused} refused, ${accepted} decoded (seed ${SEED})`)
  t.alike(wrong, [], `${name} throws only ${expected.name}`)
  t.ok(refused > CASES / 2, `${name} refuses most mutants`)
}

test('wire: valid frames round-trip', (t) => {
  t.alike(decodeRaft(encodeRaft(raftSample)), raftSample, 'a Raft append with entries')
  const vote = makeMessage({ type: MessageType.Vote, to: 'x', from: 'y', term: 3, logTerm: 2, index: 10 })
  t.alike(decodeRaft(encodeRaft(vote)), vote, 'a Raft vote request')
  t.alike(decodeHealth(encodeHealth(beat)), beat, 'a heartbeat')
  t.alike(decodeHealth(encodeHealth(ack)), ack, 'an acknowledgement')
  t.alike(decodeHealth(encodeHealth(beatWithRoom)), beatWithRoom, 'a heartbeat telling the room for chunks')
  t.alike(decodeHealth(encodeHealth({ ...ack, room: 0 })), { ...ack, room: 0 }, 'an acknowledgement of a full peer')
  t.alike(decodeHealth(encodeHealth(beatWithCapacity)), beatWithCapacity, 'a heartbeat telling the room and the capacity level')
  t.alike(decodeHealth(encodeHealth({ ...ack, capacityLevel: 0 })), { ...ack, capacityLevel: 0 }, 'a capacity level without the room')
  t.alike(decodeHealth(encodeHealth({ ...beat, capacityLevel: CAPACITY_LEVEL_MAX })), { ...beat, capacityLevel: CAPACITY_LEVEL_MAX }, 'the highest capacity level')
  t.ok(encodeHealth(beatWithCapacity).length <= HEALTH_FRAME_BYTES_MAX, 'within the health frame limit')
  for (const reason of [ChunkFailure.Unspecified, ChunkFailure.NoSpace]) t.is(decodeChunkFailure(encodeChunkFailure(reason)), reason, `a Failed reply's reason ${reason}`)
  t.is(decodeChunkFailure(new Uint8Array(0)), ChunkFailure.Unspecified, 'an empty Failed payload: unspecified')
  t.is(decodeChunkFailure(Uint8Array.of(200)), ChunkFailure.Unspecified, 'an unknown reason: unspecified')
  t.is(decodeChunkFailure(Uint8Array.of(ChunkFailure.NoSpace, 0)), ChunkFailure.Unspecified, 'a longer payload: unspecified')
  const chunk = decodeChunkMessage(encodeChunkMessage(chunkPut))
  t.alike({ ...chunk, chunkId: Buffer.from(chunk.chunkId), payload: Buffer.from(chunk.payload), chain: chunk.chain!.map((key) => Buffer.from(key)) }, chunkPut, 'a chunk put passed along a chain')
  for (const kind of [ChunkKind.PutBuffered, ChunkKind.Sync]) t.is(decodeChunkMessage(encodeChunkMessage({ ...chunkPut, kind })).kind, kind, `chunk kind ${kind}`)
  t.exception(() => decodeChunkMessage(encodeChunkMessage({ ...chunkPut, kind: 7 as ChunkKind })), WireError, 'an unknown chunk kind')
  // The channel's frame encoding writes the same bytes in place, and hands what arrives on untouched.
  const frame = { start: 0, end: 0, buffer: null as unknown as Buffer }
  chunkFrame.preencode(frame, chunkPut)
  frame.buffer = Buffer.alloc(frame.end + 2)
  frame.start = 2
  chunkFrame.encode(frame, chunkPut)
  t.alike(frame.buffer.subarray(2), Buffer.from(encodeChunkMessage(chunkPut)), 'a chunk frame encoded in place: the same bytes')
  t.alike(Buffer.from(chunkFrame.decode(c.state(2, frame.buffer.length, frame.buffer))), frame.buffer.subarray(2), 'received: the raw bytes')
  const decoded = decodeHandshake(c.encode(handshakeEncoding, handshake))
  t.is(decoded.version, PROTOCOL_VERSION)
  t.alike(Buffer.from(decoded.capability), Buffer.from(handshake.capability), 'a handshake')
  const secret = randomBytes(KEY_BYTES)
  t.alike(decodeInvite(encodeInvite(secret)), secret, 'an invite')
  t.alike(decodeInvite(`  ${encodeInvite(secret)}\n`), secret, 'an invite with surrounding whitespace')
})

test('wire: random, truncated and bit-flipped frames throw WireError only', (t) => {
  fuzz(t, 'decodeRaft', encodeRaft(raftSample), decodeRaft, WireError)
  fuzz(t, 'decodeHealth (beat)', encodeHealth(beat), decodeHealth, WireError)
  fuzz(t, 'decodeHealth (ack)', encodeHealth(ack), decodeHealth, WireError)
  fuzz(t, 'decodeHealth (beat with room)', encodeHealth(beatWithRoom), decodeHealth, WireError)
  fuzz(t, 'decodeHealth (beat with room and capacity)', encodeHealth(beatWithCapacity), decodeHealth, WireError)
  fuzz(t, 'decodeChunkMessage', encodeChunkMessage(chunkPut), decodeChunkMessage, WireError)
  fuzz(t, 'decodeHandshake', c.encode(handshakeEncoding, handshake), decodeHandshake, WireError)
})

test('wire: the handshake encoding protomux decodes with throws plain Errors only', (t) => {
  // protomux decodes the channel-open handshake itself (not through decodeHandshake): whatever it
  // throws there destroys the connection, and a TypeError/RangeError would crash the process.
  const random = seededRandom(SEED + 1)
  const valid = c.encode(handshakeEncoding, handshake)
  const wrong: string[] = []
  for (let i = 0; i < CASES; i++) {
    const bytes = mutant(random, valid, 80)
    try {
      handshakeEncoding.decode(c.state(0, bytes.byteLength, bytes))
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError || !(error instanceof Error)) wrong.push(String(error))
    }
  }
  t.alike(wrong, [], 'no TypeError or RangeError')
})

test('wire: invites — random and mutated text throws InviteError only', (t) => {
  const random = seededRandom(SEED + 2)
  const valid = encodeInvite(randomBytes(KEY_BYTES))
  const alphabet = '0123456789abcdefswarmfs1 \n\u00e9\u0000ABCDEFG'
  const wrong: string[] = []
  let refused = 0
  for (let i = 0; i < CASES; i++) {
    const int = (bound: number): number => Math.floor(random() * bound)
    let text: string
    const kind = int(3)
    if (kind === 0) text = Array.from({ length: int(100) }, () => alphabet[int(alphabet.length)]).join('')
    else if (kind === 1) text = valid.slice(0, int(valid.length))
    else {
      const chars = [...valid]
      for (let k = 0; k < 1 + int(3); k++) chars[int(chars.length)] = alphabet[int(alphabet.length)]!
      text = chars.join('')
    }
    try {
      decodeInvite(text)
    } catch (error) {
      if (error instanceof InviteError) refused++
      else wrong.push(`${String(error)} on ${JSON.stringify(text)}`)
    }
  }
  t.alike(wrong.slice(0, 3), [], 'only InviteError')
  t.ok(refused > CASES / 2, `${refused} of ${CASES} refused`)
  for (const notText of [undefined, null, 42, Buffer.from(valid), {}]) {
    t.exception(() => decodeInvite(notText as unknown as string), InviteError, `${typeof notText} is refused`)
  }
  t.exception.all(() => encodeInvite(randomBytes(31)), RangeError, 'a short secret cannot be encoded (a programming error)')
})

test('wire: not-bytes, oversized and trailing frames are refused with WireError', (t) => {
  t.exception(() => decodeHealth(new Uint8Array(HEALTH_FRAME_BYTES_MAX + 1)), WireError, 'a health frame over its limit')
  t.exception(() => decodeHandshake(new Uint8Array(65)), WireError, 'a handshake over its limit')
  t.exception(() => decodeRaft(new Uint8Array(RAFT_FRAME_BYTES_MAX + 1)), WireError, 'a Raft frame over its limit')
  for (const notBytes of [undefined, null, 'text', [1, 2, 3], {}]) {
    t.exception(() => decodeRaft(notBytes as unknown as Uint8Array), WireError, `decodeRaft(${JSON.stringify(notBytes)})`)
    t.exception(() => decodeHealth(notBytes as unknown as Uint8Array), WireError, `decodeHealth(${JSON.stringify(notBytes)})`)
  }
  t.exception(() => decodeHealth(new Uint8Array([...encodeHealth(beatWithRoom), 0])), WireError, 'trailing bytes after a heartbeat')
  t.exception(() => decodeHealth(new Uint8Array(0)), WireError, 'an empty health frame')
  t.exception(() => decodeRaft(new Uint8Array(0)), WireError, 'an empty Raft frame')
  t.exception(() => decodeHealth(encodeHealth({ ...beat, kind: 2 as HealthKind })), WireError, 'an unknown health kind')
  // kind 0, then a uint64 sequence of 2^64 − 1: beyond 2^53, refused instead of silently rounded.
  const unsafe = new Uint8Array([0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0])
  t.exception(() => decodeHealth(unsafe), WireError, 'an unsafe integer')
  // A beat without optional fields ends in its flags (0): set the room's flag and follow it with 2^64 − 1.
  const flagsAt = encodeHealth(beat).length - 1
  const withFlags = (flags: number, ...rest: number[]): Uint8Array => new Uint8Array([...encodeHealth(beat).subarray(0, flagsAt), flags, ...rest])
  t.exception(() => decodeHealth(withFlags(1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), WireError, 'an unsafe room')
  t.exception(() => decodeHealth(withFlags(2, 0xfd, 0x00, 0x01)), WireError, 'a capacity level beyond the highest')
  t.exception(() => decodeHealth(withFlags(4, 0)), WireError, 'an unknown optional field')
  t.exception(() => decodeHealth(withFlags(0xff, 0, 0, 0, 0, 1, 0, 0, 0)), WireError, 'flags beyond 32 bits')
  t.exception(() => decodeHealth(withFlags(3, 5)), WireError, 'a field the flags name is missing')
  t.exception(() => decodeHealth(encodeHealth(beat).subarray(0, flagsAt)), WireError, 'the flags are missing')
})

test('capability: verifies for the other role of the same session under the same key only', (t) => {
  const key = deriveClusterKeys(randomBytes(KEY_BYTES)).connectionAuth
  const otherKey = deriveClusterKeys(randomBytes(KEY_BYTES)).connectionAuth
  const session = randomBytes(64)
  const otherSession = randomBytes(64)
  for (const initiator of [true, false]) {
    const sent = capability(key, session, initiator)
    t.is(sent.length, CAPABILITY_BYTES)
    t.ok(verifyCapability(key, session, !initiator, sent), `the ${initiator ? 'responder' : 'initiator'} accepts the ${initiator ? 'initiator' : 'responder'}'s proof`)
    t.absent(verifyCapability(key, session, initiator, sent), 'a proof reflected back to its sender (same role) is refused')
    t.absent(verifyCapability(key, otherSession, !initiator, sent), 'a proof from another session is refused')
    t.absent(verifyCapability(otherKey, session, !initiator, sent), "a proof under another cluster's key is refused")
    t.absent(verifyCapability(key, session, !initiator, capability(otherKey, session, initiator)), "another cluster's proof is refused")
    t.absent(verifyCapability(key, session, !initiator, sent.subarray(0, 31)), 'a short proof is refused, not thrown on')
    t.absent(verifyCapability(key, session, !initiator, randomBytes(CAPABILITY_BYTES)), 'random bytes are refused')
  }
  t.unlike(capability(key, session, true), capability(key, session, false), 'the two roles send different proofs')
})
