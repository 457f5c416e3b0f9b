// The client request table kept in the replicated state (thesis §6.3 "implementing linearizable
// semantics"): the first result of every request id is remembered, so a proposal retried after a
// leader change — which may already be in the log — is answered with that result and never applied
// twice. Eviction is first-in first-out by apply order, which is identical on every server, so the
// table stays deterministic; SESSIONS_MAX bounds memory. A retry that arrives after its id was evicted
// would apply again: callers must give up retrying long before SESSIONS_MAX newer requests commit.
import c from 'compact-encoding'
import { assert } from './assert.js'
import { DecodeError } from './messages.js'
import { runSteps } from '../steps.js'

export const SESSIONS_MAX = 100_000
export const REQUEST_ID_BYTES_MAX = 128
export const RESULT_BYTES_MAX = 1024 * 1024
const SESSIONS_PER_PIECE = 4096

// A result is kept as a one-byte string: a few dozen bytes on the JS heap, where a Uint8Array costs
// two objects and a separately allocated backing store (~300 bytes); at SESSIONS_MAX entries that was
// tens of MB on every peer.
function toStored (result: Uint8Array): string {
  return Buffer.from(result.buffer, result.byteOffset, result.byteLength).toString('latin1')
}

function fromStored (stored: string): Uint8Array {
  return new Uint8Array(Buffer.from(stored, 'latin1'))
}

export class SessionTable {
  private readonly results = new Map<string, string>()
  private recorded = 0

  constructor (readonly capacity: number = SESSIONS_MAX) {
    assert(capacity > 0, 'sessions: capacity must be positive')
  }

  get (requestId: string): Uint8Array | undefined {
    const stored = this.results.get(requestId)
    return stored === undefined ? undefined : fromStored(stored)
  }

  record (requestId: string, result: Uint8Array): void {
    assert(!this.results.has(requestId), 'sessions: a request applies once')
    this.results.set(requestId, toStored(result))
    this.recorded++
    if (this.results.size > this.capacity) {
      const oldest = this.results.keys().next().value as string
      this.results.delete(oldest)
    }
    assert(this.results.size <= this.capacity, 'sessions: over capacity')
  }

  size (): number {
    return this.results.size
  }

  encode (): Uint8Array {
    return Buffer.concat([...this.pieces()])
  }

  /**
   * encode()'s bytes in pieces of at most SESSIONS_PER_PIECE results, encoded as they are asked for (a
   * full table takes ~60 ms at once). The table must not change until the last piece is taken.
   */
  * pieces (): Generator<Uint8Array, void, undefined> {
    const recorded = this.recorded
    const entries = this.results.entries()
    let first = true
    for (;;) {
      if (this.recorded !== recorded) throw new Error('sessions: a result was recorded while the table was encoded')
      const batch: Array<[string, string]> = []
      for (let next = entries.next(); next.done !== true; next = entries.next()) {
        batch.push(next.value)
        if (batch.length === SESSIONS_PER_PIECE) break
      }
      if (batch.length === 0 && !first) return
      const state = c.state()
      if (first) c.uint.preencode(state, this.results.size)
      // Each result as c.buffer would write it (length, then the bytes), straight from its string.
      for (const [id, result] of batch) {
        c.string.preencode(state, id)
        c.uint.preencode(state, result.length)
        state.end += result.length
      }
      const buffer = Buffer.alloc(state.end)
      state.buffer = buffer
      if (first) c.uint.encode(state, this.results.size)
      for (const [id, result] of batch) {
        c.string.encode(state, id)
        c.uint.encode(state, result.length)
        state.start += buffer.write(result, state.start, 'latin1')
      }
      first = false
      yield buffer
    }
  }

  static decode (bytes: Uint8Array, capacity: number = SESSIONS_MAX): SessionTable {
    return runSteps(SessionTable.decodeSteps(bytes, capacity))
  }

  /** decode a piece at a time (a full table takes ~150 ms at once): yields every SESSIONS_PER_PIECE results. */
  static * decodeSteps (bytes: Uint8Array, capacity: number = SESSIONS_MAX): Generator<void, SessionTable, undefined> {
    const table = new SessionTable(capacity)
    try {
      const state = c.state(0, bytes.byteLength, bytes)
      const n = c.uint.decode(state)
      if (!Number.isSafeInteger(n) || n > capacity) throw new DecodeError('sessions: count out of range')
      for (let i = 0; i < n; i++) {
        const id = c.string.decode(state)
        const result = c.buffer.decode(state) ?? new Uint8Array(0)
        if (id.length > REQUEST_ID_BYTES_MAX || result.byteLength > RESULT_BYTES_MAX) throw new DecodeError('sessions: field too long')
        table.results.set(id, toStored(result))
        if (i % SESSIONS_PER_PIECE === SESSIONS_PER_PIECE - 1) yield
      }
      if (state.start !== state.end) throw new DecodeError('sessions: trailing bytes')
    } catch (err) {
      if (err instanceof DecodeError) throw err
      throw new DecodeError(`sessions: ${err instanceof Error ? err.message : 'malformed'}`)
    }
    return table
  }
}

// The data of a Normal entry written by the node wrapper: the client's request id and its command.
export interface Envelope {
  requestId: string
  command: Uint8Array
}

export function encodeEnvelope (envelope: Envelope): Uint8Array {
  assert(envelope.requestId.length > 0 && envelope.requestId.length <= REQUEST_ID_BYTES_MAX, 'envelope: bad request id')
  const state = c.state()
  c.uint.preencode(state, 1)
  c.string.preencode(state, envelope.requestId)
  c.buffer.preencode(state, envelope.command)
  state.buffer = new Uint8Array(state.end)
  c.uint.encode(state, 1)
  c.string.encode(state, envelope.requestId)
  c.buffer.encode(state, envelope.command)
  return state.buffer
}

export function decodeEnvelope (bytes: Uint8Array): Envelope {
  try {
    const state = c.state(0, bytes.byteLength, bytes)
    if (c.uint.decode(state) !== 1) throw new DecodeError('envelope: unsupported version')
    const requestId = c.string.decode(state)
    const command = c.buffer.decode(state) ?? new Uint8Array(0)
    if (requestId.length === 0 || requestId.length > REQUEST_ID_BYTES_MAX) throw new DecodeError('envelope: bad request id')
    if (state.start !== state.end) throw new DecodeError('envelope: trailing bytes')
    return { requestId, command }
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError(`envelope: ${err instanceof Error ? err.message : 'malformed'}`)
  }
}
