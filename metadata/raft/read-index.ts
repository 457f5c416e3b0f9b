// Pending ReadIndex requests on the leader (thesis §6.4, etcd read_only.go). A read is linearizable
// if it is served at an index ≥ the commit index the leader had when the read arrived, once the leader
// has confirmed with a round of heartbeats that it was still the leader at that moment. Requests are
// released in arrival order: a quorum acknowledging a later request's heartbeat also confirms every
// earlier one.
import { assert } from './assert.js'
import type { NodeId } from './messages.js'
import { hasQuorum } from './quorum.js'

export const READ_INDEX_PENDING_MAX = 4096

export interface ReadRequest {
  key: string // hex of the context; contexts are the caller's identifiers
  context: Uint8Array
  from: NodeId // who asked (the leader itself or a follower that forwarded it)
  index: number // the leader's commit index when the request arrived
  acks: Set<NodeId>
}

export function contextKey (context: Uint8Array): string {
  let s = ''
  for (const b of context) s += b.toString(16).padStart(2, '0')
  return s
}

export class ReadIndexQueue {
  private queue: ReadRequest[] = []

  pendingCount (): number {
    return this.queue.length
  }

  // Returns false when the request is a duplicate or the queue is full (the caller retries later).
  add (context: Uint8Array, from: NodeId, index: number, self: NodeId): boolean {
    const key = contextKey(context)
    if (this.queue.length >= READ_INDEX_PENDING_MAX) return false
    if (this.queue.some((r) => r.key === key)) return false
    this.queue.push({ key, context, from, index, acks: new Set([self]) })
    return true
  }

  lastContext (): Uint8Array | null {
    const last = this.queue[this.queue.length - 1]
    return last === undefined ? null : last.context
  }

  // A heartbeat response echoing `context` from `from`. Returns the requests now confirmed, in order.
  ack (context: Uint8Array, from: NodeId, voters: readonly NodeId[]): ReadRequest[] {
    const key = contextKey(context)
    const position = this.queue.findIndex((r) => r.key === key)
    if (position === -1) return []
    const request = this.queue[position] as ReadRequest
    request.acks.add(from)
    if (!hasQuorum(voters, (id) => request.acks.has(id))) return []
    const released = this.queue.splice(0, position + 1)
    assert(released.length === position + 1, 'read index: release count')
    return released
  }

  // Every request confirmed at once (a single-voter cluster needs no heartbeat round).
  releaseAll (): ReadRequest[] {
    return this.queue.splice(0, this.queue.length)
  }

  // Leadership changed: pending requests are dropped; their callers time out and retry.
  reset (): void {
    this.queue = []
  }
}
