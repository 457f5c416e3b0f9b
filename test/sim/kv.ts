// A small key-value register machine for the simulator's client workload. Commands and results are
// tiny JSON documents (the simulator controls every input, and JSON keeps failure output readable).
import type { StateMachine } from '../../metadata/raft/node-api.js'

export type KvCommand = { op: 'put', key: string, value: string } | { op: 'get', key: string }

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeJson (value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

export function decodeJson<T> (bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T
}

export class KvStateMachine implements StateMachine {
  data = new Map<string, string>()
  applied = 0

  apply (command: Uint8Array): Uint8Array {
    const cmd = decodeJson<KvCommand>(command)
    this.applied++
    if (cmd.op === 'put') {
      this.data.set(cmd.key, cmd.value)
      return encodeJson({ ok: true })
    }
    return encodeJson({ value: this.data.get(cmd.key) ?? null })
  }

  read (key: string): string | null {
    return this.data.get(key) ?? null
  }

  /** A JSON array of [key, value] pairs, one pair a piece, read as taken: the node must not apply meanwhile. */
  * snapshot (): Generator<Uint8Array, void, undefined> {
    const applied = this.applied
    const keys = [...this.data.keys()].sort()
    yield encoder.encode('[')
    for (const [i, key] of keys.entries()) {
      if (this.applied !== applied) throw new Error('kv: a command was applied while a snapshot was taken')
      yield encoder.encode((i > 0 ? ',' : '') + JSON.stringify([key, this.data.get(key)]))
    }
    yield encoder.encode(']')
  }

  /** Decodes, then (a step later: the node must not apply meanwhile) replaces the data. */
  * restore (bytes: Uint8Array): Generator<void, void, undefined> {
    const applied = this.applied
    const pairs = decodeJson<Array<[string, string]>>(bytes)
    yield
    if (this.applied !== applied) throw new Error('kv: a command was applied while a snapshot was restored')
    this.data = new Map(pairs)
  }
}
