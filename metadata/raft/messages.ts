// Raft's records — entries, hard state, configurations, snapshots and messages — as TypeScript types
// with their compact-encoding codecs beside them (Holepunch style). Every top-level record starts with a
// version byte; decoders bound-check every field, check Number.isSafeInteger on integers (uint64 loses
// precision above 2^53), refuse unknown enum values and trailing bytes, and throw only DecodeError, so a
// hostile frame can never surface as a TypeError/RangeError (see STYLE.md §3, the protomux trap).
import c from 'compact-encoding'
import { assert } from './assert.js'

export type NodeId = string
// "No node": no vote cast, no known leader.
export const NONE: NodeId = ''

export const CODEC_VERSION = 1
export const NODE_ID_BYTES_MAX = 256
export const ENTRY_DATA_BYTES_MAX = 16 * 1024 * 1024
export const ENTRIES_PER_MESSAGE_MAX = 65536
export const MEMBERS_MAX = 1024
export const CONTEXT_BYTES_MAX = 1024
export const SNAPSHOT_CHUNK_BYTES_MAX = 16 * 1024 * 1024

export const EntryType = { Normal: 0, ConfChange: 1, Empty: 2 } as const
export type EntryType = typeof EntryType[keyof typeof EntryType]

export interface Entry {
  term: number
  index: number
  type: EntryType
  // Opaque to Raft: the filesystem encodes its own commands. For ConfChange entries, a ConfChangeEntry.
  data: Uint8Array
}

export interface HardState {
  term: number
  vote: NodeId
  commit: number
}

export interface ConfState {
  voters: NodeId[]
  learners: NodeId[]
}

export const ConfChangeType = { AddLearner: 0, Promote: 1, Remove: 2, Bootstrap: 3 } as const
export type ConfChangeType = typeof ConfChangeType[keyof typeof ConfChangeType]

export interface ConfChange {
  type: ConfChangeType
  nodeId: NodeId
}

// The data of a ConfChange entry: the change and the configuration it produces. Carrying the resulting
// configuration makes "the latest configuration in the log" readable without replaying history.
export interface ConfChangeEntry {
  change: ConfChange
  conf: ConfState
}

export interface SnapshotMetadata {
  index: number
  term: number
  conf: ConfState
}

export interface Snapshot {
  metadata: SnapshotMetadata
  data: Uint8Array
}

// One bounded piece of an InstallSnapshot transfer (thesis §5.1 "chunks"). In a MsgSnapResp it carries
// the follower's next expected offset and no data.
export interface SnapshotChunk {
  metadata: SnapshotMetadata
  offset: number
  bytesTotal: number
  data: Uint8Array
}

export const MessageType = {
  Hup: 0, // local: election timeout fired
  Beat: 1, // local: heartbeat timeout fired
  CheckQuorum: 2, // local: leader checks it heard from a quorum (thesis §6.2)
  Prop: 3, // a proposal; followers forward it to the leader
  App: 4,
  AppResp: 5,
  Vote: 6,
  VoteResp: 7,
  PreVote: 8,
  PreVoteResp: 9,
  Snap: 10, // one snapshot chunk
  SnapResp: 11, // chunk acknowledgement (next expected offset)
  Heartbeat: 12,
  HeartbeatResp: 13,
  Unreachable: 14, // local: the transport reports a peer unreachable
  TransferLeader: 15,
  TimeoutNow: 16,
  ReadIndex: 17,
  ReadIndexResp: 18
} as const
export type MessageType = typeof MessageType[keyof typeof MessageType]
const MESSAGE_TYPE_MAX = 18

export interface Message {
  type: MessageType
  to: NodeId
  from: NodeId
  term: number
  logTerm: number
  index: number
  entries: Entry[]
  commit: number
  reject: boolean
  rejectHint: number
  context: Uint8Array
  snapshot: SnapshotChunk | null
}

const EMPTY = new Uint8Array(0)

export function emptyBytes (): Uint8Array {
  return EMPTY
}

// A message with every field defaulted; callers set what the message type needs.
export function makeMessage (fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    to: NONE,
    from: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY,
    snapshot: null,
    ...fields
  }
}

export class DecodeError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'DecodeError'
  }
}

type State = ReturnType<typeof c.state>

function fail (message: string): never {
  throw new DecodeError(message)
}

function decodeCount (state: State, max: number, what: string): number {
  const n = c.uint.decode(state)
  if (!Number.isSafeInteger(n) || n > max) fail(`${what}: count out of range`)
  return n
}

function decodeInteger (state: State, what: string): number {
  const n = c.uint.decode(state)
  if (!Number.isSafeInteger(n)) fail(`${what}: not a safe integer`)
  return n
}

function decodeBytes (state: State, max: number, what: string): Uint8Array {
  const b = c.buffer.decode(state)
  if (b === null) return EMPTY
  if (b.byteLength > max) fail(`${what}: too long`)
  // Copy: decoded bytes must not alias a network buffer the transport may reuse.
  return b.byteLength === 0 ? EMPTY : new Uint8Array(b)
}

function decodeNodeId (state: State): NodeId {
  const bytes = decodeBytes(state, NODE_ID_BYTES_MAX, 'node id')
  let id = ''
  for (const byte of bytes) {
    // Node ids are printable ASCII (peer keys in hex or z-base32); anything else is a hostile frame.
    if (byte < 0x21 || byte > 0x7e) fail('node id: not printable ascii')
    id += String.fromCharCode(byte)
  }
  return id
}

function encodeNodeIdBytes (id: NodeId): Uint8Array {
  assert(id.length <= NODE_ID_BYTES_MAX, 'node id too long')
  const bytes = new Uint8Array(id.length)
  for (let i = 0; i < id.length; i++) {
    const code = id.charCodeAt(i)
    assert(code >= 0x21 && code <= 0x7e, `node id must be printable ascii: ${id}`)
    bytes[i] = code
  }
  return bytes
}

function checkInteger (n: number, what: string): void {
  assert(Number.isSafeInteger(n) && n >= 0, `${what} must be a non-negative safe integer`)
}

// Field codecs (unversioned; nested inside versioned records).

const nodeIdCodec = {
  preencode (state: State, id: NodeId) { c.buffer.preencode(state, encodeNodeIdBytes(id)) },
  encode (state: State, id: NodeId) { c.buffer.encode(state, encodeNodeIdBytes(id)) },
  decode: decodeNodeId
}

const nodeIdsCodec = {
  preencode (state: State, ids: NodeId[]) {
    assert(ids.length <= MEMBERS_MAX, 'too many members')
    c.uint.preencode(state, ids.length)
    for (const id of ids) nodeIdCodec.preencode(state, id)
  },
  encode (state: State, ids: NodeId[]) {
    c.uint.encode(state, ids.length)
    for (const id of ids) nodeIdCodec.encode(state, id)
  },
  decode (state: State): NodeId[] {
    const n = decodeCount(state, MEMBERS_MAX, 'members')
    const ids: NodeId[] = []
    for (let i = 0; i < n; i++) ids.push(decodeNodeId(state))
    return ids
  }
}

const confStateCodec = {
  preencode (state: State, conf: ConfState) {
    nodeIdsCodec.preencode(state, conf.voters)
    nodeIdsCodec.preencode(state, conf.learners)
  },
  encode (state: State, conf: ConfState) {
    nodeIdsCodec.encode(state, conf.voters)
    nodeIdsCodec.encode(state, conf.learners)
  },
  decode (state: State): ConfState {
    return { voters: nodeIdsCodec.decode(state), learners: nodeIdsCodec.decode(state) }
  }
}

const entryCodec = {
  preencode (state: State, e: Entry) {
    checkInteger(e.term, 'entry term')
    checkInteger(e.index, 'entry index')
    assert(e.data.byteLength <= ENTRY_DATA_BYTES_MAX, 'entry data too large')
    c.uint.preencode(state, e.term)
    c.uint.preencode(state, e.index)
    c.uint.preencode(state, e.type)
    c.buffer.preencode(state, e.data)
  },
  encode (state: State, e: Entry) {
    c.uint.encode(state, e.term)
    c.uint.encode(state, e.index)
    c.uint.encode(state, e.type)
    c.buffer.encode(state, e.data)
  },
  decode (state: State): Entry {
    const term = decodeInteger(state, 'entry term')
    const index = decodeInteger(state, 'entry index')
    const type = c.uint.decode(state)
    if (type !== EntryType.Normal && type !== EntryType.ConfChange && type !== EntryType.Empty) fail('entry type: unknown')
    const data = decodeBytes(state, ENTRY_DATA_BYTES_MAX, 'entry data')
    return { term, index, type, data }
  }
}

const snapshotMetadataCodec = {
  preencode (state: State, m: SnapshotMetadata) {
    checkInteger(m.index, 'snapshot index')
    checkInteger(m.term, 'snapshot term')
    c.uint.preencode(state, m.index)
    c.uint.preencode(state, m.term)
    confStateCodec.preencode(state, m.conf)
  },
  encode (state: State, m: SnapshotMetadata) {
    c.uint.encode(state, m.index)
    c.uint.encode(state, m.term)
    confStateCodec.encode(state, m.conf)
  },
  decode (state: State): SnapshotMetadata {
    const index = decodeInteger(state, 'snapshot index')
    const term = decodeInteger(state, 'snapshot term')
    return { index, term, conf: confStateCodec.decode(state) }
  }
}

const snapshotChunkCodec = {
  preencode (state: State, s: SnapshotChunk) {
    checkInteger(s.offset, 'chunk offset')
    checkInteger(s.bytesTotal, 'chunk total')
    snapshotMetadataCodec.preencode(state, s.metadata)
    c.uint.preencode(state, s.offset)
    c.uint.preencode(state, s.bytesTotal)
    c.buffer.preencode(state, s.data)
  },
  encode (state: State, s: SnapshotChunk) {
    snapshotMetadataCodec.encode(state, s.metadata)
    c.uint.encode(state, s.offset)
    c.uint.encode(state, s.bytesTotal)
    c.buffer.encode(state, s.data)
  },
  decode (state: State): SnapshotChunk {
    const metadata = snapshotMetadataCodec.decode(state)
    const offset = decodeInteger(state, 'chunk offset')
    const bytesTotal = decodeInteger(state, 'chunk total')
    const data = decodeBytes(state, SNAPSHOT_CHUNK_BYTES_MAX, 'chunk data')
    if (offset + data.byteLength > bytesTotal) fail('chunk: beyond total')
    return { metadata, offset, bytesTotal, data }
  }
}

const FLAG_REJECT = 1
const FLAG_SNAPSHOT = 2

const messageBodyCodec = {
  preencode (state: State, m: Message) {
    for (const n of [m.term, m.logTerm, m.index, m.commit, m.rejectHint]) checkInteger(n, 'message field')
    assert(m.entries.length <= ENTRIES_PER_MESSAGE_MAX, 'too many entries in one message')
    assert(m.context.byteLength <= CONTEXT_BYTES_MAX, 'message context too large')
    c.uint.preencode(state, m.type)
    nodeIdCodec.preencode(state, m.to)
    nodeIdCodec.preencode(state, m.from)
    for (const n of [m.term, m.logTerm, m.index, m.commit, m.rejectHint]) c.uint.preencode(state, n)
    c.uint.preencode(state, 0) // flags
    c.uint.preencode(state, m.entries.length)
    for (const e of m.entries) entryCodec.preencode(state, e)
    c.buffer.preencode(state, m.context)
    if (m.snapshot !== null) snapshotChunkCodec.preencode(state, m.snapshot)
  },
  encode (state: State, m: Message) {
    c.uint.encode(state, m.type)
    nodeIdCodec.encode(state, m.to)
    nodeIdCodec.encode(state, m.from)
    for (const n of [m.term, m.logTerm, m.index, m.commit, m.rejectHint]) c.uint.encode(state, n)
    c.uint.encode(state, (m.reject ? FLAG_REJECT : 0) | (m.snapshot !== null ? FLAG_SNAPSHOT : 0))
    c.uint.encode(state, m.entries.length)
    for (const e of m.entries) entryCodec.encode(state, e)
    c.buffer.encode(state, m.context)
    if (m.snapshot !== null) snapshotChunkCodec.encode(state, m.snapshot)
  },
  decode (state: State): Message {
    const type = c.uint.decode(state)
    if (!Number.isInteger(type) || type > MESSAGE_TYPE_MAX) fail('message type: unknown')
    const to = decodeNodeId(state)
    const from = decodeNodeId(state)
    const term = decodeInteger(state, 'term')
    const logTerm = decodeInteger(state, 'log term')
    const index = decodeInteger(state, 'index')
    const commit = decodeInteger(state, 'commit')
    const rejectHint = decodeInteger(state, 'reject hint')
    const flags = c.uint.decode(state)
    if (flags > (FLAG_REJECT | FLAG_SNAPSHOT)) fail('message flags: unknown bits')
    const count = decodeCount(state, ENTRIES_PER_MESSAGE_MAX, 'entries')
    const entries: Entry[] = []
    for (let i = 0; i < count; i++) entries.push(entryCodec.decode(state))
    const context = decodeBytes(state, CONTEXT_BYTES_MAX, 'context')
    const snapshot = (flags & FLAG_SNAPSHOT) !== 0 ? snapshotChunkCodec.decode(state) : null
    const reject = (flags & FLAG_REJECT) !== 0
    return { type: type as MessageType, to, from, term, logTerm, index, entries, commit, reject, rejectHint, context, snapshot }
  }
}

const hardStateBodyCodec = {
  preencode (state: State, h: HardState) {
    checkInteger(h.term, 'hard state term')
    checkInteger(h.commit, 'hard state commit')
    c.uint.preencode(state, h.term)
    nodeIdCodec.preencode(state, h.vote)
    c.uint.preencode(state, h.commit)
  },
  encode (state: State, h: HardState) {
    c.uint.encode(state, h.term)
    nodeIdCodec.encode(state, h.vote)
    c.uint.encode(state, h.commit)
  },
  decode (state: State): HardState {
    return { term: decodeInteger(state, 'term'), vote: decodeNodeId(state), commit: decodeInteger(state, 'commit') }
  }
}

const confChangeEntryBodyCodec = {
  preencode (state: State, e: ConfChangeEntry) {
    c.uint.preencode(state, e.change.type)
    nodeIdCodec.preencode(state, e.change.nodeId)
    confStateCodec.preencode(state, e.conf)
  },
  encode (state: State, e: ConfChangeEntry) {
    c.uint.encode(state, e.change.type)
    nodeIdCodec.encode(state, e.change.nodeId)
    confStateCodec.encode(state, e.conf)
  },
  decode (state: State): ConfChangeEntry {
    const type = c.uint.decode(state)
    if (type > ConfChangeType.Bootstrap) fail('conf change type: unknown')
    const nodeId = decodeNodeId(state)
    return { change: { type: type as ConfChangeType, nodeId }, conf: confStateCodec.decode(state) }
  }
}

const snapshotBodyCodec = {
  preencode (state: State, s: Snapshot) {
    snapshotMetadataCodec.preencode(state, s.metadata)
    c.buffer.preencode(state, s.data)
  },
  encode (state: State, s: Snapshot) {
    snapshotMetadataCodec.encode(state, s.metadata)
    c.buffer.encode(state, s.data)
  },
  decode (state: State): Snapshot {
    const metadata = snapshotMetadataCodec.decode(state)
    return { metadata, data: decodeBytes(state, Number.MAX_SAFE_INTEGER, 'snapshot data') }
  }
}

interface BodyCodec<T> {
  preencode: (state: State, value: T) => void
  encode: (state: State, value: T) => void
  decode: (state: State) => T
}

export interface Codec<T> {
  encode: (value: T) => Uint8Array
  decode: (bytes: Uint8Array) => T
}

// Wraps a body codec with the version byte and the "whole input, nothing more" rule, and converts every
// failure while decoding into DecodeError.
function versioned<T> (name: string, body: BodyCodec<T>): Codec<T> {
  return {
    encode (value: T): Uint8Array {
      const state = c.state()
      c.uint.preencode(state, CODEC_VERSION)
      body.preencode(state, value)
      state.buffer = new Uint8Array(state.end)
      c.uint.encode(state, CODEC_VERSION)
      body.encode(state, value)
      assert(state.start === state.end, `${name}: encoded length mismatch`)
      return state.buffer
    },
    decode (bytes: Uint8Array): T {
      if (!(bytes instanceof Uint8Array)) fail(`${name}: not bytes`)
      try {
        const state = c.state(0, bytes.byteLength, bytes)
        const version = c.uint.decode(state)
        if (version !== CODEC_VERSION) fail(`${name}: unsupported version ${version}`)
        const value = body.decode(state)
        if (state.start !== state.end) fail(`${name}: trailing bytes`)
        return value
      } catch (err) {
        if (err instanceof DecodeError) throw err
        throw new DecodeError(`${name}: ${err instanceof Error ? err.message : 'malformed'}`)
      }
    }
  }
}

export const messageCodec = versioned('message', messageBodyCodec)
export const hardStateCodec = versioned('hard state', hardStateBodyCodec)
export const entryRecordCodec = versioned('entry', entryCodec)
export const confChangeEntryCodec = versioned('conf change', confChangeEntryBodyCodec)
export const snapshotCodec = versioned('snapshot', snapshotBodyCodec)

// Entries' size as the batching limits count it: the payload plus a small fixed overhead, so that a
// stream of empty entries is bounded too.
export function entryBytes (e: Entry): number {
  return e.data.byteLength + 16
}

export function isEmptyHardState (h: HardState): boolean {
  return h.term === 0 && h.vote === NONE && h.commit === 0
}

export function hardStateEqual (a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

export function emptySnapshot (): Snapshot {
  return { metadata: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: EMPTY }
}
