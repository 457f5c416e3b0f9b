// The Raft state machine (etcd raft.go): every input is step(message) or tick(); every output is
// appended to msgs / msgsAfterPersist, the log's unstable part, or readStates, which raw-node.ts turns
// into a Ready. Role behaviour is a swapped function (stepFn, tickFn) rather than role checks
// scattered through the code. No I/O, no timers, no wall clock, no Math.random: time is ticks and
// randomness comes from the injected RandomSource.
import { assert } from './assert.js'
import { RaftError } from './errors.js'
import type { RaftErrorCode } from './errors.js'
import { RaftLog } from './log.js'
import { ConfigHistory, applyConfChange, isMember } from './membership.js'
import { EntryType, MessageType, NONE, confChangeEntryCodec, emptyBytes, entryBytes, makeMessage } from './messages.js'
import type { ConfState, Entry, HardState, Message, NodeId, Snapshot } from './messages.js'
import { Progress } from './progress.js'
import { committedIndex, hasQuorum, voteResult } from './quorum.js'
import { ReadIndexQueue } from './read-index.js'
import type { ReadRequest } from './read-index.js'
import type { RandomSource } from './rng.js'
import { SnapshotAssembly } from './snapshot-assembly.js'
import { CompactedError, UnavailableError } from './storage.js'
import type { Storage } from './storage.js'

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader'

export interface RaftConfig {
  id: NodeId
  storage: Storage
  rng: RandomSource
  electionTicks: number // the randomized timeout is drawn from [electionTicks, 2·electionTicks − 1]
  heartbeatTicks: number
  appendBytesMax: number // batching: bytes of entries per MsgApp (at least one entry is always sent)
  inflightCountMax: number // pipelining window per follower, in messages
  inflightBytesMax: number // … and in bytes
  uncommittedBytesMax: number // the leader drops proposals beyond this many uncommitted bytes
  committedBytesMaxPerReady: number
  snapshotChunkBytes: number // InstallSnapshot chunk size
  snapshotWindowChunks: number // chunks in flight per follower
  readPendingMax: number // ReadIndex requests parked until the leader commits in its term
  preVote: boolean
  checkQuorum: boolean
  applied: number // index the application's state machine has already applied (0: the snapshot's)
}

export const DEFAULT_CONFIG = {
  electionTicks: 10,
  heartbeatTicks: 1,
  appendBytesMax: 1024 * 1024,
  inflightCountMax: 256,
  inflightBytesMax: 32 * 1024 * 1024,
  uncommittedBytesMax: 64 * 1024 * 1024,
  committedBytesMaxPerReady: 16 * 1024 * 1024,
  snapshotChunkBytes: 256 * 1024,
  snapshotWindowChunks: 4,
  readPendingMax: 1024,
  preVote: true,
  checkQuorum: true,
  applied: 0
} as const

export interface ReadState {
  index: number
  context: Uint8Array
}

// A vote request carrying this context comes from a leadership transfer and must not be ignored by
// the lease check (thesis §3.10 and §4.2.3).
const TRANSFER_CONTEXT = new Uint8Array([0x54, 0x52]) // "TR"

// Durability-dependent replies: they state something about this server's persisted log or vote, so
// they may only leave once the Ready that produced them is durable (thesis §3.8; etcd msgsAfterAppend).
const AFTER_PERSIST: ReadonlySet<MessageType> = new Set<MessageType>([
  MessageType.AppResp, MessageType.VoteResp, MessageType.PreVoteResp, MessageType.SnapResp
])

function isTransfer (context: Uint8Array): boolean {
  return context.byteLength === 2 && context[0] === 0x54 && context[1] === 0x52
}

export class Raft {
  readonly id: NodeId
  readonly config: RaftConfig
  term = 0
  vote: NodeId = NONE
  lead: NodeId = NONE
  role: Role = 'follower'
  readonly log: RaftLog
  readonly configs: ConfigHistory
  progress = new Map<NodeId, Progress>()
  votes = new Map<NodeId, boolean>()
  msgs: Message[] = []
  msgsAfterPersist: Message[] = []
  readStates: ReadState[] = []
  electionElapsed = 0
  heartbeatElapsed = 0
  randomizedElectionTimeout = 0
  leadTransferee: NodeId = NONE
  uncommittedBytes = 0
  private readonly reads = new ReadIndexQueue()
  private pendingReads: Message[] = [] // ReadIndex requests waiting for the first commit of this term
  private readonly assembly = new SnapshotAssembly()
  private stepFn: (m: Message) => void
  private tickFn: () => void

  constructor (config: RaftConfig) {
    assert(config.id !== NONE, 'raft: id must not be empty')
    assert(config.heartbeatTicks > 0 && config.electionTicks > config.heartbeatTicks, 'raft: election ticks must exceed heartbeat ticks')
    assert(config.snapshotChunkBytes > 0 && config.snapshotWindowChunks > 0, 'raft: snapshot chunking must be positive')
    this.id = config.id
    this.config = config
    this.log = new RaftLog(config.storage)
    const initial = config.storage.initialState()
    this.configs = new ConfigHistory(initial.confState, config.storage.snapshot().metadata.index)
    this.replayConfigs(config.storage)
    this.loadHardState(initial.hardState)
    if (config.applied > 0) this.log.appliedTo(config.applied)
    this.stepFn = this.stepFollower
    this.tickFn = this.tickElection
    this.becomeFollower(this.term, NONE)
  }

  // Configurations after the snapshot live in the log: replay them on start (thesis §4.1).
  private replayConfigs (storage: Storage): void {
    // Entries kept behind the snapshot are already reflected in the snapshot's configuration.
    const first = Math.max(storage.firstIndex(), storage.snapshot().metadata.index + 1)
    const last = storage.lastIndex()
    if (last < first) return
    this.configs.onWritten(storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER))
  }

  private loadHardState (hs: HardState): void {
    if (hs.term === 0 && hs.vote === NONE && hs.commit === 0) return
    assert(hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(), `raft: hard state commit ${hs.commit} out of range`)
    this.log.committed = hs.commit
    this.term = hs.term
    this.vote = hs.vote
  }

  conf (): ConfState {
    return this.configs.current()
  }

  promotable (): boolean {
    return this.conf().voters.includes(this.id)
  }

  hardState (): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed }
  }

  // ---- sending ----

  private send (m: Message): void {
    if (m.from === NONE) m.from = this.id
    const carriesOwnTerm = m.type === MessageType.Vote || m.type === MessageType.VoteResp || m.type === MessageType.PreVote || m.type === MessageType.PreVoteResp
    if (carriesOwnTerm) {
      // Vote traffic states its term explicitly (a pre-vote uses term + 1 without bumping ours).
      assert(m.term !== 0, `raft: ${m.type} must carry a term`)
    } else if (m.type === MessageType.Prop || m.type === MessageType.ReadIndex) {
      m.term = 0 // forwarded requests are handled as local input by the leader (etcd)
    } else {
      assert(m.term === 0, 'raft: term is set by send()')
      m.term = this.term
    }
    if (AFTER_PERSIST.has(m.type)) this.msgsAfterPersist.push(m)
    else this.msgs.push(m)
  }

  // ---- role transitions ----

  private reset (term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = NONE
    }
    this.lead = NONE
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.randomizedElectionTimeout = this.config.electionTicks + this.config.rng.nextInt(this.config.electionTicks)
    this.leadTransferee = NONE
    this.votes.clear()
    this.progress.clear()
    this.reads.reset()
    this.pendingReads = []
    this.uncommittedBytes = 0
  }

  becomeFollower (term: number, lead: NodeId): void {
    this.reset(term)
    this.lead = lead
    this.role = 'follower'
    this.stepFn = this.stepFollower
    this.tickFn = this.tickElection
  }

  private becomePreCandidate (): void {
    assert(this.role !== 'leader', 'raft: leader cannot become pre-candidate')
    // Pre-vote (thesis §9.6) changes neither term nor vote: a partitioned server that rejoins cannot
    // disrupt the cluster with an inflated term.
    this.stepFn = this.stepCandidate
    this.tickFn = this.tickElection
    this.votes.clear()
    this.lead = NONE
    this.role = 'preCandidate'
  }

  private becomeCandidate (): void {
    assert(this.role !== 'leader', 'raft: leader cannot become candidate')
    this.reset(this.term + 1)
    this.vote = this.id
    this.role = 'candidate'
    this.stepFn = this.stepCandidate
    this.tickFn = this.tickElection
  }

  private becomeLeader (): void {
    assert(this.role === 'candidate', 'raft: only a candidate becomes leader')
    this.reset(this.term)
    this.lead = this.id
    this.role = 'leader'
    this.stepFn = this.stepLeader
    this.tickFn = this.tickHeartbeat
    this.rebuildProgress()
    // Paper §5.4.2 / §8: a no-op entry of the new term lets the leader commit (and learn the commit
    // index) without waiting for a client.
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Empty, data: emptyBytes() }])
  }

  private rebuildProgress (): void {
    const conf = this.conf()
    const next = this.log.lastIndex() + 1
    for (const id of [...conf.voters, ...conf.learners]) {
      const pr = new Progress(next, conf.learners.includes(id), this.config.inflightCountMax, this.config.inflightBytesMax)
      // Our own log is ours: what has been persisted (advance) counts towards commitment.
      if (id === this.id) {
        pr.match = this.persistedIndex()
        pr.next = Math.max(next, pr.match + 1)
      }
      this.progress.set(id, pr)
    }
  }

  private persistedIndex (): number {
    return Math.min(this.log.unstable.offset - 1, this.log.lastIndex())
  }

  // ---- elections ----

  private hup (transfer: boolean): void {
    if (this.role === 'leader') return
    if (!this.promotable()) return
    if (this.config.preVote && !transfer) this.campaign('preElection', false)
    else this.campaign('election', transfer)
  }

  private campaign (kind: 'preElection' | 'election', transfer: boolean): void {
    let voteType: MessageType
    let term: number
    if (kind === 'preElection') {
      this.becomePreCandidate()
      voteType = MessageType.PreVote
      term = this.term + 1
    } else {
      this.becomeCandidate()
      voteType = MessageType.Vote
      term = this.term
    }
    const voters = this.conf().voters
    this.votes.set(this.id, true)
    if (voteResult(voters, this.votes) === 'won') {
      if (kind === 'preElection') this.campaign('election', transfer)
      else this.becomeLeader()
      return
    }
    for (const id of voters) {
      if (id === this.id) continue
      const context = transfer ? TRANSFER_CONTEXT : emptyBytes()
      this.send(makeMessage({ type: voteType, to: id, term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), context }))
    }
  }

  private onVoteRequest (m: Message): void {
    const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp
    // Paper §5.2: one vote per term, first come first served; §5.4.1: only for an up-to-date log.
    const canVote = this.vote === m.from || (this.vote === NONE && this.lead === NONE) || (m.type === MessageType.PreVote && m.term > this.term)
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      this.send(makeMessage({ type: respType, to: m.from, term: m.term }))
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0
        this.vote = m.from
      }
    } else {
      this.send(makeMessage({ type: respType, to: m.from, term: this.term, reject: true }))
    }
  }

  private onVoteResponse (m: Message): void {
    if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject)
    const result = voteResult(this.conf().voters, this.votes)
    if (result === 'won') {
      if (this.role === 'preCandidate') {
        this.campaign('election', false)
      } else {
        this.becomeLeader()
        this.bcastAppend()
      }
    } else if (result === 'lost') {
      this.becomeFollower(this.term, NONE)
    }
  }

  // ---- step ----

  step (m: Message): void {
    if (m.term === 0) {
      // Local input (ticks' messages, proposals, forwarded proposals and reads).
    } else if (m.term > this.term) {
      if (!this.onHigherTerm(m)) return
    } else if (m.term < this.term) {
      this.onLowerTerm(m)
      return
    }
    switch (m.type) {
      case MessageType.Hup: this.hup(false); break
      case MessageType.Vote:
      case MessageType.PreVote: this.onVoteRequest(m); break
      default: this.stepFn(m)
    }
  }

  // Returns false if the message must be ignored.
  private onHigherTerm (m: Message): boolean {
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      // Thesis §4.2.3: a server that heard from a leader within the minimum election timeout ignores
      // vote requests, so a removed or partitioned server cannot depose a healthy leader.
      const inLease = this.config.checkQuorum && this.lead !== NONE && this.electionElapsed < this.config.electionTicks
      if (inLease && !isTransfer(m.context)) return false
    }
    if (m.type === MessageType.PreVote) return true // a pre-vote never changes our term
    if (m.type === MessageType.PreVoteResp && !m.reject) return true // the term is bumped when we campaign
    const fromLeader = m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap
    this.becomeFollower(m.term, fromLeader ? m.from : NONE)
    return true
  }

  private onLowerTerm (m: Message): void {
    if ((this.config.checkQuorum || this.config.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
      // A stale leader (e.g. after a partition healed) learns the new term from this reply and steps
      // down; without it, with pre-vote, the cluster could stay split (etcd raft.go).
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from }))
    } else if (m.type === MessageType.PreVote) {
      this.send(makeMessage({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }))
    }
  }

  private drop (m: Message, code: RaftErrorCode, why: string): void {
    // Only local callers learn about a dropped request; forwarded ones time out at their origin.
    if (m.from === this.id || m.from === NONE) throw new RaftError(code, why)
  }

  private stepFollower = (m: Message): void => {
    switch (m.type) {
      case MessageType.Prop:
      case MessageType.TransferLeader:
      case MessageType.ReadIndex:
        if (this.lead === NONE) return this.drop(m, 'NO_LEADER', 'no leader to forward to')
        this.send({ ...m, to: this.lead })
        return
      case MessageType.App:
      case MessageType.Heartbeat:
      case MessageType.Snap:
        this.electionElapsed = 0
        this.lead = m.from
        this.onLeaderMessage(m)
        return
      case MessageType.TimeoutNow:
        this.hup(true) // thesis §3.10: start an election at once, bypassing pre-vote
        return
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context })
    }
  }

  private stepCandidate = (m: Message): void => {
    const responseType = this.role === 'preCandidate' ? MessageType.PreVoteResp : MessageType.VoteResp
    switch (m.type) {
      case MessageType.Prop:
      case MessageType.ReadIndex:
      case MessageType.TransferLeader:
        return this.drop(m, 'NO_LEADER', 'election in progress')
      case MessageType.App:
      case MessageType.Heartbeat:
      case MessageType.Snap:
        // Paper §5.2: a leader of our term exists; return to follower.
        this.becomeFollower(m.term, m.from)
        this.onLeaderMessage(m)
        return
      default:
        if (m.type === responseType) this.onVoteResponse(m)
    }
  }

  private onLeaderMessage (m: Message): void {
    if (m.type === MessageType.App) this.handleAppend(m)
    else if (m.type === MessageType.Heartbeat) this.handleHeartbeat(m)
    else this.handleSnapshotChunk(m)
  }

  private stepLeader = (m: Message): void => {
    switch (m.type) {
      case MessageType.Beat: return this.bcastHeartbeat(null)
      case MessageType.CheckQuorum: return this.checkQuorum()
      case MessageType.Prop: return this.handleProposal(m)
      case MessageType.ReadIndex: return this.handleReadIndex(m)
      case MessageType.TransferLeader: return this.handleTransferLeader(m)
    }
    const pr = this.progress.get(m.from)
    if (pr === undefined) return
    pr.recentActive = true
    switch (m.type) {
      case MessageType.AppResp: return this.handleAppendResponse(m, pr)
      case MessageType.HeartbeatResp: return this.handleHeartbeatResponse(m, pr)
      case MessageType.SnapResp: return this.handleSnapshotResponse(m, pr)
      case MessageType.Unreachable:
        if (pr.state === 'replicate') pr.becomeProbe()
    }
  }

  // ---- ticks ----

  tick (): void {
    this.tickFn()
  }

  private tickElection = (): void => {
    this.electionElapsed++
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0
      this.step(makeMessage({ type: MessageType.Hup, from: this.id }))
    }
  }

  private tickHeartbeat = (): void => {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0
      if (this.config.checkQuorum) this.step(makeMessage({ type: MessageType.CheckQuorum, from: this.id }))
      // A transfer that did not finish within an election timeout is abandoned (thesis §3.10).
      if (this.role === 'leader') this.leadTransferee = NONE
    }
    if (this.role !== 'leader') return
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0
      this.step(makeMessage({ type: MessageType.Beat, from: this.id }))
    }
  }

  // Thesis §6.2: a leader that has not heard from a quorum within an election timeout steps down, so
  // clients stop waiting on a leader that cannot commit.
  private checkQuorum (): void {
    const active = hasQuorum(this.conf().voters, (id) => id === this.id || this.progress.get(id)?.recentActive === true)
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false
    if (!active) this.becomeFollower(this.term, NONE)
  }

  // ---- leader: proposals and replication ----

  private handleProposal (m: Message): void {
    assert(m.entries.length > 0, 'raft: empty proposal')
    if (this.leadTransferee !== NONE) return this.drop(m, 'PROPOSAL_DROPPED', 'leadership transfer in progress')
    const bytes = m.entries.reduce((sum, e) => sum + entryBytes(e), 0)
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.config.uncommittedBytesMax) {
      return this.drop(m, 'PROPOSAL_DROPPED', 'too many uncommitted bytes')
    }
    const entries: Entry[] = []
    for (const e of m.entries) {
      if (e.type !== EntryType.ConfChange) {
        entries.push({ term: 0, index: 0, type: e.type, data: e.data })
        continue
      }
      const resolved = this.resolveConfChange(e, entries)
      if (typeof resolved === 'string') return this.drop(m, resolved === 'pending' ? 'CONF_CHANGE_PENDING' : 'INVALID_CONF_CHANGE', resolved)
      entries.push(resolved)
    }
    this.appendEntries(entries)
    this.bcastAppend()
  }

  // Thesis §4.1 rules; the entry is rewritten to carry the configuration it produces.
  private resolveConfChange (e: Entry, batch: Entry[]): Entry | string {
    if (this.configs.currentIndex() > this.log.committed || batch.some((b) => b.type === EntryType.ConfChange)) return 'pending'
    if (this.log.termOrZero(this.log.committed) !== this.term) return 'pending'
    const change = confChangeEntryCodec.decode(e.data).change
    if (change.nodeId === this.id && change.type === 2) return 'the leader cannot remove itself; transfer leadership first'
    let conf: ConfState
    try {
      conf = applyConfChange(this.conf(), change)
    } catch (err) {
      if (err instanceof RaftError) return err.message
      throw err
    }
    return { term: 0, index: 0, type: EntryType.ConfChange, data: confChangeEntryCodec.encode({ change, conf }) }
  }

  private appendEntries (entries: Entry[]): void {
    let index = this.log.lastIndex()
    for (const e of entries) {
      e.term = this.term
      e.index = ++index
      this.uncommittedBytes += entryBytes(e)
    }
    this.log.append(entries)
    if (this.configs.onWritten(entries)) this.onConfigChanged()
    // Our own match moves only when the application reports the entries durable (advance()).
  }

  bcastAppend (): void {
    for (const id of this.progress.keys()) {
      if (id !== this.id) this.sendAppendLoop(id, true)
    }
  }

  // Pipelining: keep sending while the window allows and there is something to send; bounded by the
  // window size (each send either fills it or pauses probing). Only the first message may be empty
  // (it carries the commit index or probes); an empty append is never sent in reply to an empty ack,
  // which would ping-pong forever.
  private sendAppendLoop (to: NodeId, sendIfEmpty: boolean): void {
    for (let i = 0; i <= this.config.inflightCountMax; i++) {
      if (!this.maybeSendAppend(to, sendIfEmpty && i === 0)) return
    }
  }

  // Sends one MsgApp (or starts a snapshot) to `to`; returns whether something was sent.
  private maybeSendAppend (to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to)
    if (pr === undefined || pr.isPaused()) return false
    let prevTerm: number
    let entries: Entry[]
    try {
      prevTerm = this.log.term(pr.next - 1)
      entries = this.log.entriesFrom(pr.next, this.config.appendBytesMax)
    } catch (err) {
      if (err instanceof CompactedError) return this.startSnapshot(to, pr)
      throw err
    }
    if (entries.length === 0 && !sendIfEmpty) return false
    this.send(makeMessage({ type: MessageType.App, to, index: pr.next - 1, logTerm: prevTerm, entries, commit: this.log.committed }))
    const last = entries[entries.length - 1]
    if (pr.state === 'replicate' && last !== undefined) {
      pr.optimisticUpdate(last.index)
      pr.inflights.add(last.index, entries.reduce((sum, e) => sum + entryBytes(e), 0))
    } else if (pr.state === 'probe') {
      pr.probeSent = true
    }
    return true
  }

  private handleAppendResponse (m: Message, pr: Progress): void {
    if (m.reject) {
      // Fast backoff (paper §5.3 end; thesis §3.5): jump over the follower's whole conflicting term.
      let nextProbe = m.rejectHint
      if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe()
        this.sendAppendLoop(m.from, true)
      }
      return
    }
    const wasPaused = pr.isPaused()
    if (!pr.maybeUpdate(m.index) && !(pr.state === 'probe' && pr.match === m.index)) return
    if (pr.state === 'probe') {
      pr.becomeReplicate()
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe()
      pr.becomeReplicate()
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index)
    }
    if (this.maybeCommit()) this.bcastAppend()
    else this.sendAppendLoop(m.from, wasPaused)
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from)
  }

  // Paper §5.3/§5.4.2: advance commit to what a majority stores, but only by counting replicas of an
  // entry from the current term (figure 8).
  maybeCommit (): boolean {
    const index = committedIndex(this.conf().voters, (id) => this.progress.get(id)?.match ?? 0)
    if (!this.log.maybeCommit(index, this.term)) return false
    this.releasePendingReads()
    return true
  }

  // The application persisted entries up to (index, term) (called from advance()).
  onPersisted (index: number, term: number): void {
    if (this.role !== 'leader' || !this.log.matchTerm(index, term)) return
    const self = this.progress.get(this.id)
    if (self === undefined) return
    if (self.maybeUpdate(index) && this.maybeCommit()) this.bcastAppend()
  }

  reduceUncommittedBytes (entries: readonly Entry[]): void {
    if (this.role !== 'leader') return
    for (const e of entries) this.uncommittedBytes -= entryBytes(e)
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0
  }

  // ---- leader: snapshots in chunks ----

  private startSnapshot (to: NodeId, pr: Progress): boolean {
    const snapshot = this.log.snapshot()
    if (snapshot.metadata.index === 0) return false // nothing to send yet (storage not compacted)
    pr.becomeSnapshot(snapshot.metadata.index, snapshot.metadata.term, snapshot.data.byteLength)
    this.sendSnapshotChunks(to, pr)
    return true
  }

  private sendSnapshotChunks (to: NodeId, pr: Progress): void {
    const snapshot = this.log.snapshot()
    const transfer = pr.transfer
    assert(transfer !== null, 'raft: snapshot chunks without a transfer')
    if (snapshot.metadata.index !== transfer.index) {
      // Storage took a newer snapshot meanwhile: start over with it.
      pr.becomeSnapshot(snapshot.metadata.index, snapshot.metadata.term, snapshot.data.byteLength)
      return this.sendSnapshotChunks(to, pr)
    }
    const window = this.config.snapshotChunkBytes * this.config.snapshotWindowChunks
    for (let sent = 0; !transfer.finalSent && transfer.offsetSent - transfer.offsetAcked < window && sent < this.config.snapshotWindowChunks; sent++) {
      const end = Math.min(transfer.offsetSent + this.config.snapshotChunkBytes, transfer.bytesTotal)
      const chunk = { metadata: snapshot.metadata, offset: transfer.offsetSent, bytesTotal: transfer.bytesTotal, data: snapshot.data.subarray(transfer.offsetSent, end) }
      this.send(makeMessage({ type: MessageType.Snap, to, snapshot: chunk }))
      transfer.offsetSent = end
      if (end === transfer.bytesTotal) transfer.finalSent = true
    }
  }

  private handleSnapshotResponse (m: Message, pr: Progress): void {
    const transfer = pr.transfer
    if (transfer === null || m.snapshot === null || m.snapshot.metadata.index !== transfer.index) return
    const offset = Math.min(m.snapshot.offset, transfer.bytesTotal)
    if (m.reject) {
      transfer.offsetAcked = offset
      transfer.offsetSent = offset
      transfer.finalSent = false
    } else {
      transfer.offsetAcked = Math.max(transfer.offsetAcked, offset)
      transfer.offsetSent = Math.max(transfer.offsetSent, offset)
    }
    this.sendSnapshotChunks(m.from, pr)
  }

  // ---- leader: heartbeats, reads, transfer ----

  private bcastHeartbeat (context: Uint8Array | null): void {
    const ctx = context ?? this.reads.lastContext() ?? emptyBytes()
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue
      // Paper Fig. 2: the follower may only commit what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed)
      this.send(makeMessage({ type: MessageType.Heartbeat, to: id, commit, context: ctx }))
      if (context === null) this.resumeStalledSnapshot(id, pr)
    }
  }

  // A chunk or its acknowledgement was lost: rewind to the acknowledged offset, once per heartbeat.
  private resumeStalledSnapshot (to: NodeId, pr: Progress): void {
    const transfer = pr.transfer
    if (transfer === null) return
    if (transfer.offsetAcked === transfer.ackedAtLastBeat) {
      transfer.offsetSent = transfer.offsetAcked
      transfer.finalSent = false
      this.sendSnapshotChunks(to, pr)
    }
    transfer.ackedAtLastBeat = pr.transfer?.offsetAcked ?? -1
  }

  private handleHeartbeatResponse (m: Message, pr: Progress): void {
    pr.probeSent = false
    // Appends in a full window may all have been lost: free one slot so a retransmission can go out
    // and, if the follower's log has a gap, draw the rejection that moves it back to probe (etcd).
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst()
    if (pr.match < this.log.lastIndex() || pr.state === 'probe') this.sendAppendLoop(m.from, true)
    if (m.context.byteLength === 0) return
    for (const request of this.reads.ack(m.context, m.from, this.conf().voters)) this.respondRead(request)
  }

  private committedInCurrentTerm (): boolean {
    return this.log.termOrZero(this.log.committed) === this.term
  }

  // Thesis §6.4: record the commit index, confirm leadership with a heartbeat round, then answer.
  private handleReadIndex (m: Message): void {
    const voters = this.conf().voters
    if (voters.length === 1 && voters[0] === this.id) {
      this.respondRead({ key: '', context: m.context, from: m.from, index: this.log.committed, acks: new Set() })
      return
    }
    if (!this.committedInCurrentTerm()) {
      // Until the no-op of this term commits, our commit index may lag the true one (§6.4 step 1).
      if (this.pendingReads.length >= this.config.readPendingMax) return this.drop(m, 'PROPOSAL_DROPPED', 'too many pending reads')
      this.pendingReads.push(m)
      return
    }
    if (!this.reads.add(m.context, m.from, this.log.committed, this.id)) return
    this.bcastHeartbeat(m.context)
  }

  private releasePendingReads (): void {
    if (this.pendingReads.length === 0 || !this.committedInCurrentTerm()) return
    const pending = this.pendingReads
    this.pendingReads = []
    for (const m of pending) this.handleReadIndex(m)
  }

  private respondRead (request: ReadRequest): void {
    if (request.from === this.id || request.from === NONE) {
      this.readStates.push({ index: request.index, context: request.context })
    } else {
      this.send(makeMessage({ type: MessageType.ReadIndexResp, to: request.from, index: request.index, context: request.context }))
    }
  }

  // Thesis §3.10: bring the target up to date, then tell it to campaign at once (TimeoutNow). The
  // message's `from` names the transferee (etcd convention).
  private handleTransferLeader (m: Message): void {
    const target = m.from
    const pr = this.progress.get(target)
    if (pr === undefined || pr.isLearner || target === this.id) return
    if (this.leadTransferee === target) return
    this.leadTransferee = target
    this.electionElapsed = 0 // the transfer must finish within one election timeout
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target)
    else this.sendAppendLoop(target, true)
  }

  private sendTimeoutNow (to: NodeId): void {
    this.send(makeMessage({ type: MessageType.TimeoutNow, to }))
  }

  // ---- follower: the receiving side ----

  private handleAppend (m: Message): void {
    if (m.index < this.log.committed) {
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: this.log.committed }))
      return
    }
    const result = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries)
    if (result !== null) {
      if (this.configs.onWritten(result.written)) this.onConfigChanged()
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: result.lastNewIndex }))
      return
    }
    // Paper §5.3: reject, with a hint so the leader skips a whole conflicting term per round trip.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm)
    this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }))
  }

  private handleHeartbeat (m: Message): void {
    this.log.commitTo(m.commit)
    this.send(makeMessage({ type: MessageType.HeartbeatResp, to: m.from, context: m.context }))
  }

  private handleSnapshotChunk (m: Message): void {
    const chunk = m.snapshot
    if (chunk === null) return
    if (chunk.metadata.index <= this.log.committed) {
      // Already covered: tell the leader where we are so it resumes appends.
      this.assembly.reset()
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: this.log.committed }))
      return
    }
    const outcome = this.assembly.add(chunk)
    if (outcome.kind !== 'complete') {
      const ack = { metadata: chunk.metadata, offset: outcome.offset, bytesTotal: chunk.bytesTotal, data: emptyBytes() }
      this.send(makeMessage({ type: MessageType.SnapResp, to: m.from, snapshot: ack, reject: outcome.kind === 'gap' }))
      return
    }
    const index = this.restore(outcome.snapshot) ? this.log.lastIndex() : this.log.committed
    this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index }))
  }

  // Paper §7: install a snapshot unless our log already contains its last entry.
  private restore (snapshot: Snapshot): boolean {
    const { index, term } = snapshot.metadata
    if (index <= this.log.committed) return false
    if (this.log.matchTerm(index, term)) {
      this.log.commitTo(index)
      return false
    }
    this.log.restore(snapshot)
    this.configs.reset(snapshot.metadata.conf, index)
    this.onConfigChanged()
    return true
  }

  // ---- membership ----

  // Thesis §4.1: the latest configuration in the log is in force as soon as it is written.
  private onConfigChanged (): void {
    if (this.role !== 'leader') return
    const conf = this.conf()
    const next = this.log.lastIndex() + 1
    for (const id of [...conf.voters, ...conf.learners]) {
      const isLearner = conf.learners.includes(id)
      const existing = this.progress.get(id)
      if (existing !== undefined) existing.isLearner = isLearner
      else this.progress.set(id, new Progress(next, isLearner, this.config.inflightCountMax, this.config.inflightBytesMax))
    }
    for (const id of [...this.progress.keys()]) if (!isMember(conf, id)) this.progress.delete(id)
    if (this.leadTransferee !== NONE && !conf.voters.includes(this.leadTransferee)) this.leadTransferee = NONE
    assert(conf.voters.includes(this.id), 'raft: the leader must stay a voter')
    // A removal can shrink the majority, so commit may move.
    if (this.maybeCommit()) this.bcastAppend()
  }

  // Log compaction by the application (after it took a snapshot) also trims the config history.
  onCompacted (index: number): void {
    this.configs.compactTo(index)
  }

  // ---- invariants (called by the simulator after every step) ----

  checkInvariants (): void {
    this.log.checkInvariants()
    this.configs.checkInvariants()
    assert(this.role !== 'leader' || (this.lead === this.id && this.vote === this.id), 'raft: a leader voted for itself and leads')
    assert(this.role !== 'candidate' || this.vote === this.id, 'raft: a candidate votes for itself')
    assert(this.log.lastTerm() <= this.term, 'raft: log term beyond current term')
    if (this.role === 'leader') {
      const conf = this.conf()
      assert(this.progress.size === conf.voters.length + conf.learners.length, 'raft: progress tracks exactly the members')
      for (const [id, pr] of this.progress) {
        pr.checkInvariants()
        assert(isMember(conf, id), `raft: progress for non-member ${id}`)
        assert(pr.match <= this.log.lastIndex(), `raft: ${id} matches beyond our log`)
      }
    } else {
      assert(this.progress.size === 0, 'raft: only the leader tracks progress')
    }
  }
}

export { UnavailableError }
