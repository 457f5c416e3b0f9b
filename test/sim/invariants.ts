// Raft's safety properties (paper Fig. 3), checked by the simulator after every step:
//  - election safety: at most one leader per term;
//  - log matching: two entries with the same index and term hold the same data;
//  - leader completeness: a new leader's log holds every entry already committed;
//  - state machine safety: no two servers apply different entries at one index, and each server
//    applies in increasing index order;
// plus every node's own checkInvariants(). Violations throw, with the seed printed by the test.
import type { Entry, NodeId } from '../../metadata/raft/messages.js'
import type { RaftNode } from '../../metadata/raft/node-api.js'
import type { SimNode } from './cluster.js'

export class InvariantViolation extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'InvariantViolation'
  }
}

interface Recorded {
  term: number
  data: Uint8Array
}

const LOG_MATCH_SCAN_MAX = 32

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

export class Invariants {
  readonly leaders = new Map<number, NodeId>()
  readonly committed = new Map<number, Recorded>()
  private readonly byIndexTerm = new Map<string, Uint8Array>()
  private readonly commitSeen = new Map<NodeId, number>()
  private readonly lastApplied = new Map<NodeId, number>()
  maxCommitted = 0

  private fail (message: string): never {
    throw new InvariantViolation(message)
  }

  private recordCommitted (where: string, e: Entry): void {
    const known = this.committed.get(e.index)
    if (known === undefined) {
      this.committed.set(e.index, { term: e.term, data: e.data })
      if (e.index > this.maxCommitted) this.maxCommitted = e.index
      return
    }
    if (known.term !== e.term || !sameBytes(known.data, e.data)) {
      this.fail(`state machine safety: ${where} has entry ${e.index}@${e.term}, but ${e.index}@${known.term} was committed`)
    }
  }

  onApply (id: NodeId, e: Entry): void {
    const last = this.lastApplied.get(id) ?? 0
    if (e.index <= last) this.fail(`${id} applied ${e.index} after ${last}`)
    this.lastApplied.set(id, e.index)
    this.recordCommitted(`${id} (apply)`, e)
  }

  onCrash (id: NodeId): void {
    this.lastApplied.set(id, 0)
    this.commitSeen.set(id, 0)
  }

  check (nodes: Iterable<SimNode>): void {
    for (const sim of nodes) {
      if (sim.node !== null) this.checkNode(sim.id, sim.node)
    }
  }

  private checkNode (id: NodeId, node: RaftNode): void {
    node.raw.checkInvariants()
    const raft = node.raw.raft
    if (raft.role === 'leader') this.checkLeader(id, node)
    const log = raft.log
    const from = Math.max(this.commitSeen.get(id) ?? 0, log.firstIndex() - 1)
    if (log.committed > from) {
      for (const e of log.slice(from + 1, log.committed + 1, Number.MAX_SAFE_INTEGER)) this.recordCommitted(`${id} (commit)`, e)
      this.commitSeen.set(id, log.committed)
    }
    const scanFrom = Math.max(log.firstIndex(), log.lastIndex() - LOG_MATCH_SCAN_MAX + 1)
    for (const e of log.slice(scanFrom, log.lastIndex() + 1, Number.MAX_SAFE_INTEGER)) {
      const key = `${e.index}@${e.term}`
      const data = this.byIndexTerm.get(key)
      if (data === undefined) this.byIndexTerm.set(key, e.data)
      else if (!sameBytes(data, e.data)) this.fail(`log matching: ${id} holds a different entry ${key}`)
    }
  }

  private checkLeader (id: NodeId, node: RaftNode): void {
    const raft = node.raw.raft
    const known = this.leaders.get(raft.term)
    if (known === id) return
    if (known !== undefined) this.fail(`election safety: ${known} and ${id} both lead term ${raft.term}`)
    this.leaders.set(raft.term, id)
    // Leader completeness (paper §5.4): every committed entry is in the new leader's log.
    const log = raft.log
    if (log.lastIndex() < this.maxCommitted) this.fail(`leader completeness: ${id} (term ${raft.term}) ends at ${log.lastIndex()} < committed ${this.maxCommitted}`)
    for (const [index, rec] of this.committed) {
      if (index < log.firstIndex()) continue
      if (log.termOrZero(index) !== rec.term) this.fail(`leader completeness: ${id} (term ${raft.term}) lacks committed entry ${index}@${rec.term}`)
    }
  }
}
