// The synchronous public façade of the core (etcd rawnode.go). Construct from a config, a Storage and
// a seeded RandomSource; feed it step(message) and tick(); drain ready(), persist/send/apply, then
// advance(ready). See ready.ts for the contract.
import { assert } from './assert.js'
import { RaftError } from './errors.js'
import { Raft, DEFAULT_CONFIG } from './raft.js'
import type { RaftConfig, ReadState, Role } from './raft.js'
import { mustSync } from './ready.js'
import type { Ready } from './ready.js'
import { EntryType, MessageType, NONE, confChangeEntryCodec, hardStateEqual, makeMessage } from './messages.js'
import type { ConfChange, ConfState, HardState, Message, NodeId } from './messages.js'
import type { ProgressState } from './progress.js'

export type RawNodeOptions = Pick<RaftConfig, 'id' | 'storage' | 'rng'> & Partial<Omit<RaftConfig, 'id' | 'storage' | 'rng'>>

export interface ProgressStatus {
  match: number
  next: number
  state: ProgressState
  isLearner: boolean
}

export interface Status {
  id: NodeId
  term: number
  vote: NodeId
  lead: NodeId
  role: Role
  commit: number
  applied: number
  firstIndex: number
  lastIndex: number
  conf: ConfState
  leadTransferee: NodeId
  progress: Map<NodeId, ProgressStatus> // leader only; empty elsewhere
}

const LOCAL_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([MessageType.Hup, MessageType.Beat, MessageType.CheckQuorum, MessageType.Unreachable])

export class RawNode {
  readonly raft: Raft
  private previousHardState: HardState
  private pending: Ready | null = null

  constructor (options: RawNodeOptions) {
    this.raft = new Raft({ ...DEFAULT_CONFIG, ...options })
    this.previousHardState = this.raft.hardState()
  }

  tick (): void {
    this.raft.tick()
  }

  // Campaign now (tests, bootstrap of a single node).
  campaign (): void {
    this.raft.step(makeMessage({ type: MessageType.Hup, from: this.raft.id }))
  }

  // A message from a peer. Local-only types from the network are refused (they would let a peer
  // trigger our election or check-quorum).
  step (m: Message): void {
    if (LOCAL_TYPES.has(m.type)) return
    if (m.to !== this.raft.id) return
    // Only forwarded requests travel without a term; anything else without one is malformed.
    if (m.term === 0 && m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex) return
    // A forwarded request is one our leader accepts from a follower; the leader's own local
    // proposals carry from = our id, which a peer must not impersonate.
    if (m.from === this.raft.id) return
    this.raft.step(m)
  }

  // Throws RaftError NO_LEADER / PROPOSAL_DROPPED when the proposal cannot be placed now.
  propose (data: Uint8Array): void {
    this.raft.step(makeMessage({ type: MessageType.Prop, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }))
  }

  // Only on the leader (it validates against the latest configuration; thesis §4.1 allows one
  // uncommitted change at a time). Throws NOT_LEADER, CONF_CHANGE_PENDING or INVALID_CONF_CHANGE.
  proposeConfChange (change: ConfChange): void {
    if (this.raft.role !== 'leader') throw new RaftError('NOT_LEADER', `not the leader (leader is '${this.raft.lead}')`)
    const data = confChangeEntryCodec.encode({ change, conf: { voters: [], learners: [] } })
    this.raft.step(makeMessage({ type: MessageType.Prop, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data }] }))
  }

  transferLeader (target: NodeId): void {
    this.raft.step(makeMessage({ type: MessageType.TransferLeader, from: target }))
  }

  // Requests a linearizable read point; the answer arrives as a ReadState with this context in a later
  // Ready. Contexts must be unique among pending reads.
  readIndex (context: Uint8Array): void {
    this.raft.step(makeMessage({ type: MessageType.ReadIndex, from: this.raft.id, context }))
  }

  reportUnreachable (id: NodeId): void {
    this.raft.step(makeMessage({ type: MessageType.Unreachable, from: id }))
  }

  hasReady (): boolean {
    const r = this.raft
    return !hardStateEqual(r.hardState(), this.previousHardState) || r.log.unstable.entries.length > 0 ||
      r.log.unstable.snapshot !== null || r.log.hasNextCommittedEntries() || r.msgs.length > 0 ||
      r.msgsAfterPersist.length > 0 || r.readStates.length > 0
  }

  ready (): Ready {
    assert(this.pending === null, 'raw node: advance() the previous Ready first')
    const r = this.raft
    const hs = r.hardState()
    const changed = !hardStateEqual(hs, this.previousHardState)
    const entries = r.log.unstable.entries.slice()
    const snapshot = r.log.unstable.snapshot
    const rd: Ready = {
      hardState: changed ? hs : null,
      softState: { lead: r.lead, role: r.role },
      entries,
      snapshot,
      committedEntries: r.log.nextCommittedEntries(r.config.committedBytesMaxPerReady),
      messages: r.msgs,
      messagesAfterPersist: r.msgsAfterPersist,
      readStates: r.readStates,
      mustSync: mustSync(hs, this.previousHardState, entries.length, snapshot !== null)
    }
    r.msgs = []
    r.msgsAfterPersist = []
    r.readStates = []
    this.previousHardState = hs
    this.pending = rd
    return rd
  }

  // The Ready was persisted, sent and applied.
  advance (rd: Ready): void {
    assert(this.pending === rd, 'raw node: advance() must get the last Ready')
    this.pending = null
    const r = this.raft
    if (rd.snapshot !== null) r.log.unstable.stableSnapshotTo(rd.snapshot.metadata.index)
    const last = rd.entries[rd.entries.length - 1]
    if (last !== undefined) {
      r.log.unstable.stableTo(last.index, last.term)
      r.onPersisted(last.index, last.term)
    }
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1]
    if (lastApplied !== undefined) {
      r.log.appliedTo(lastApplied.index)
      r.reduceUncommittedBytes(rd.committedEntries)
    }
  }

  // The application compacted its storage up to index (after storage.createSnapshot + compact).
  onCompacted (index: number): void {
    this.raft.onCompacted(index)
  }

  status (): Status {
    const r = this.raft
    const progress = new Map<NodeId, ProgressStatus>()
    for (const [id, pr] of r.progress) progress.set(id, { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner })
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      role: r.role,
      commit: r.log.committed,
      applied: r.log.applied,
      firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(),
      conf: r.conf(),
      leadTransferee: r.leadTransferee,
      progress
    }
  }

  checkInvariants (): void {
    this.raft.checkInvariants()
  }
}

export type { ReadState, Ready }
export { NONE }
