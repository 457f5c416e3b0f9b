// The node wrapper the filesystem talks to: the Ready loop (persist → send → apply → advance) around a
// RawNode, plus client semantics — propose(command, requestId) resolving with the applied result,
// idempotent request ids (sessions.ts), a read barrier (ReadIndex, thesis §6.4), status, and bounded
// waits that end in RaftError NO_LEADER / TIMEOUT instead of hanging. It stays pure: time is tick()
// called by the host (a timer in the daemon, the simulator's clock in tests); there is no timer here.
import { assert } from './assert.js'
import { RaftError } from './errors.js'
import { EntryType, NONE } from './messages.js'
import type { ConfChange, ConfState, Entry, Message, NodeId } from './messages.js'
import { RawNode } from './raw-node.js'
import type { RawNodeOptions, Ready } from './raw-node.js'
import { contextKey } from './read-index.js'
import type { RandomSource } from './rng.js'
import { SessionTable, decodeEnvelope, encodeEnvelope } from './sessions.js'
import { runSteps } from '../steps.js'
import type { WritableStorage } from './storage.js'
import type { Transport } from './transport.js'
import c from 'compact-encoding'

// Generic over the replicated state machine (hashicorp fsm.go's three methods). apply must be
// deterministic. snapshot yields the state's bytes in pieces (concatenated, they are what restore
// takes), produced lazily; restore decodes them a step at a time and, at its last step, replaces all
// previous state. Both let a big state be handled a little at a time between other work: no apply
// happens until the last step was taken.
export interface StateMachine {
  apply: (command: Uint8Array) => Uint8Array
  snapshot: () => Iterable<Uint8Array>
  restore: (bytes: Uint8Array) => Iterable<unknown>
}

export interface NodeOptions {
  raft: Omit<RawNodeOptions, 'storage' | 'rng' | 'applied'>
  storage: WritableStorage
  rng: RandomSource
  transport: Transport
  stateMachine: StateMachine
  waitTicksMax: number // a proposal or read barrier fails after this many ticks
  retryTicks: number // re-propose / re-request a read after this many ticks without an answer
  snapshotEntries: number // take a snapshot and compact once this many entries were applied since the last
  // ...or already once this many were, if their bytes reach the last snapshot's size: a small state is
  // snapshotted sooner, so the log kept in memory stays small, while a big one is not rewritten more
  // often than its log costs (default: snapshotEntries, the count alone).
  snapshotEntriesMin?: number
  keepEntries: number // entries kept behind a compaction so slow followers can catch up without a snapshot
  processReadyMax?: number // Ready rounds per input (bounds one call's work)
  onApply?: (entry: Entry) => void // observability (the simulator's state machine safety check)
  onFatal?: (error: unknown) => void // the storage failed: the node stops (fail-stop, never serve unsynced state)
  // A group whose only voter is this node may apply (and answer) its entries as soon as they are
  // appended, before they are durable: no other node can ever overwrite them, so the only way to lose
  // them is a crash, which loses exactly the unsynced suffix of the log — the state after restart is
  // still a prefix of the history. `durable()` waits for everything answered so far (fsync semantics,
  // like CephFS's early "unsafe" reply). Off by default; never used with more than one voter.
  applyBeforeDurableWhenAlone?: boolean
  // Snapshots are taken, and those from the leader restored, in steps the host runs (snapshotStep)
  // instead of all at once: encoding a state of many files takes long enough (~2.5 µs a file, ~13 to
  // decode) to stall a leader past its election timeout. Meanwhile committed entries wait to be
  // applied (the state must hold still while it is encoded, and is replaced whole once decoded);
  // replication, commits, heartbeats and reads of the state go on. Off: at once.
  snapshotInSteps?: boolean
  onSnapshotWork?: () => void // with snapshotInSteps: a snapshot needs snapshotStep calls now
}

export interface NodeStatus {
  id: NodeId
  term: number
  leader: NodeId
  role: string
  commit: number
  applied: number
  members: ConfState
}

type Callback<T> = (err: RaftError | null, value: T | null) => void

interface ProposalWaiter {
  data: Uint8Array
  callbacks: Array<Callback<Uint8Array>>
  deadlineTick: number
  proposedTick: number // -1: not placed yet
}

interface ReadWaiter {
  context: Uint8Array
  callback: Callback<number>
  deadlineTick: number
  requestedTick: number
  index: number // -1 until the leader answered
}

const PROCESS_READY_MAX = 64

// A snapshot from the leader being decoded; the state machine replaces its state at its last step,
// which returns the session table to use from then on.
interface RestoreInProgress {
  index: number
  steps: Generator<unknown, SessionTable, undefined>
}

interface SnapshotInProgress {
  index: number // the state's index when it began: what the snapshot covers
  conf: ConfState
  parts: Array<Iterator<Uint8Array>> // the sessions' pieces, then the state machine's
  taken: Uint8Array[][] // the pieces taken so far, by part
  part: number // the part being taken
}

export class RaftNode {
  readonly raw: RawNode
  private readonly options: NodeOptions
  private sessions = new SessionTable()
  private readonly proposals = new Map<string, ProposalWaiter>()
  private readonly reads = new Map<string, ReadWaiter>()
  private now = 0
  private readSequence = 0
  private readonly incarnation: number
  private snapshotIndex: number
  private snapshotBytes: number // of the last snapshot's data
  private logBytesSinceSnapshot = 0 // data of the entries applied since it
  private stopped = false
  private handling = false // a Ready is being handled (its writes may be in flight): no new Ready until advance
  // Term and vote as last made durable: messages may leave before a Ready is durable only if it keeps them.
  private durableTerm: number
  private durableVote: NodeId
  // The highest entry index reflected in the state machine: applied on commit or, alone, on append.
  private stateIndex: number
  private readonly durableWaiters: Array<{ index: number, resolve: () => void, reject: (error: RaftError) => void }> = []
  private snapshotting: SnapshotInProgress | null = null
  private restoring: RestoreInProgress | null = null
  // Committed entries that arrived while a snapshot was being taken or restored, in order, applied once it is done.
  private deferred: Entry[] = []

  constructor (options: NodeOptions) {
    this.options = options
    const snapshot = options.storage.snapshot()
    // On start, the state machine is the snapshot; the log after it is re-applied by Raft.
    // At once: nothing is served before the node exists.
    if (snapshot.metadata.index > 0) this.sessions = runSteps(this.restoreSteps(snapshot.data))
    this.snapshotIndex = snapshot.metadata.index
    this.snapshotBytes = snapshot.data.byteLength
    this.stateIndex = snapshot.metadata.index
    this.raw = new RawNode({ ...options.raft, storage: options.storage, rng: options.rng, applied: snapshot.metadata.index })
    this.durableTerm = this.raw.raft.term
    this.durableVote = this.raw.raft.vote
    // Read contexts must not collide with those of an earlier incarnation still queued at the leader.
    this.incarnation = options.rng.nextInt(0x100000000)
    options.transport.onMessage((m) => this.receive(m))
  }

  // ---- inputs ----

  tick (): void {
    if (this.stopped) return
    this.now++
    this.raw.tick()
    this.retryAndExpire()
    this.process()
  }

  receive (m: Message): void {
    if (this.stopped) return
    this.raw.step(m)
    this.process()
  }

  // Resolves with the result of the first application of requestId, wherever and whenever it happened.
  propose (command: Uint8Array, requestId: string): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.proposeCallback(command, requestId, (err, result) => (err !== null ? reject(err) : resolve(result as Uint8Array)))
    })
  }

  proposeCallback (command: Uint8Array, requestId: string, callback: Callback<Uint8Array>): void {
    if (this.stopped) return callback(new RaftError('STOPPED', 'node stopped'), null)
    const known = this.sessions.get(requestId)
    if (known !== undefined) return callback(null, known)
    const waiting = this.proposals.get(requestId)
    if (waiting !== undefined) {
      waiting.callbacks.push(callback)
      return
    }
    const waiter: ProposalWaiter = { data: encodeEnvelope({ requestId, command }), callbacks: [callback], deadlineTick: this.now + this.options.waitTicksMax, proposedTick: -1 }
    this.proposals.set(requestId, waiter)
    this.place(waiter)
    this.process()
  }

  // Resolves with an index such that every write completed before the call is applied locally.
  readBarrier (): Promise<number> {
    return new Promise((resolve, reject) => {
      this.readBarrierCallback((err, index) => (err !== null ? reject(err) : resolve(index as number)))
    })
  }

  readBarrierCallback (callback: Callback<number>): void {
    if (this.stopped) return callback(new RaftError('STOPPED', 'node stopped'), null)
    const context = new Uint8Array(12)
    const view = new DataView(context.buffer)
    view.setUint32(0, this.incarnation)
    view.setFloat64(4, ++this.readSequence)
    const waiter: ReadWaiter = { context, callback, deadlineTick: this.now + this.options.waitTicksMax, requestedTick: -1, index: -1 }
    this.reads.set(contextKey(context), waiter)
    this.requestRead(waiter)
    this.process()
  }

  proposeConfChange (change: ConfChange): void {
    this.raw.proposeConfChange(change)
    this.process()
  }

  transferLeader (target: NodeId): void {
    this.raw.transferLeader(target)
    this.process()
  }

  status (): NodeStatus {
    const s = this.raw.status()
    return { id: s.id, term: s.term, leader: s.lead, role: s.role, commit: s.commit, applied: s.applied, members: s.conf }
  }

  // Fails every waiter; the node ignores further input.
  // Resolves once every entry reflected in the state machine so far is committed (durable).
  durable (): Promise<void> {
    if (this.stopped) return Promise.reject(new RaftError('STOPPED', 'node stopped'))
    const index = this.stateIndex
    if (this.raw.raft.log.applied >= index) return Promise.resolve()
    return new Promise((resolve, reject) => this.durableWaiters.push({ index, resolve, reject }))
  }

  stop (): void {
    this.snapshotting = null
    this.restoring = null
    this.deferred.length = 0
    for (const waiter of this.durableWaiters.splice(0)) waiter.reject(new RaftError('STOPPED', 'node stopped'))
    this.stopped = true
    for (const [id, w] of this.proposals) this.finishProposal(id, w, new RaftError('STOPPED', 'node stopped'), null)
    for (const [key, r] of this.reads) this.finishRead(key, r, new RaftError('STOPPED', 'node stopped'), null)
  }

  pendingCount (): number {
    return this.proposals.size + this.reads.size
  }

  // ---- waiting, retrying ----

  private place (waiter: ProposalWaiter): void {
    try {
      const before = this.raw.raft.log.lastIndex()
      this.raw.propose(waiter.data)
      waiter.proposedTick = this.now
      this.applyIfAlone(before, waiter.data)
    } catch (err) {
      // NO_LEADER / PROPOSAL_DROPPED: retried on a later tick, within the deadline.
      if (!(err instanceof RaftError)) throw err
    }
  }

  // Alone, a proposal the leader just appended right after everything the state reflects is applied
  // at once: its place in the log is final (see applyBeforeDurableWhenAlone), and waiting for the next
  // Ready would put every answer behind the fsync of the previous one.
  private applyIfAlone (before: number, data: Uint8Array): void {
    const raft = this.raw.raft
    const index = raft.log.lastIndex()
    if (!this.isAlone() || index !== before + 1 || this.stateIndex !== before) return
    this.applyEntry({ index, term: raft.term, type: EntryType.Normal, data })
  }

  private isAlone (): boolean {
    if (this.options.applyBeforeDurableWhenAlone !== true) return false
    const raft = this.raw.raft
    const voters = raft.conf().voters
    // Not so far ahead of the last snapshot that the log would grow without bound (snapshots wait for commits).
    return raft.role === 'leader' && voters.length === 1 && voters[0] === raft.id &&
      raft.log.applied - this.snapshotIndex < 2 * this.options.snapshotEntries
  }

  private requestRead (waiter: ReadWaiter): void {
    try {
      this.raw.readIndex(waiter.context)
      waiter.requestedTick = this.now
    } catch (err) {
      if (!(err instanceof RaftError)) throw err
    }
  }

  private failureCode (): 'NO_LEADER' | 'TIMEOUT' {
    return this.raw.raft.lead === NONE ? 'NO_LEADER' : 'TIMEOUT'
  }

  private retryAndExpire (): void {
    for (const [id, w] of this.proposals) {
      if (this.now >= w.deadlineTick) {
        this.finishProposal(id, w, new RaftError(this.failureCode(), `request ${id} not applied in time`), null)
      } else if (w.proposedTick < 0 || this.now - w.proposedTick >= this.options.retryTicks) {
        // Safe to repeat: the session table applies a request id once (thesis §6.3).
        this.place(w)
      }
    }
    for (const [key, r] of this.reads) {
      if (this.now >= r.deadlineTick) {
        this.finishRead(key, r, new RaftError(this.failureCode(), 'read barrier not confirmed in time'), null)
      } else if (r.index < 0 && (r.requestedTick < 0 || this.now - r.requestedTick >= this.options.retryTicks)) {
        this.requestRead(r)
      }
    }
  }

  private finishProposal (id: string, w: ProposalWaiter, err: RaftError | null, result: Uint8Array | null): void {
    this.proposals.delete(id)
    for (const callback of w.callbacks) callback(err, result)
  }

  private finishRead (key: string, r: ReadWaiter, err: RaftError | null, index: number | null): void {
    this.reads.delete(key)
    r.callback(err, index)
  }

  // ---- the Ready loop ----

  process (): void {
    const rounds = this.options.processReadyMax ?? PROCESS_READY_MAX
    for (let i = 0; i < rounds && !this.stopped && !this.handling && this.raw.hasReady(); i++) this.handleReady(this.raw.ready())
  }

  private handleReady (rd: Ready): void {
    const { storage, transport } = this.options
    this.handling = true
    // `messages` may leave before this Ready is durable (thesis §10.2.1) — unless the Ready changes term
    // or vote: a vote request, or a new leader's first appends, rest on our own vote, and if they left
    // before it was durable a crash could let us vote again in that term (two leaders in one term).
    const keepsVote = rd.hardState === null || (rd.hardState.term === this.durableTerm && rd.hardState.vote === this.durableVote)
    if (keepsVote && rd.messages.length > 0) transport.send(rd.messages)
    if (rd.snapshot !== null) storage.applySnapshot(rd.snapshot)
    if (rd.entries.length > 0) storage.append(rd.entries)
    if (rd.hardState !== null) storage.setHardState(rd.hardState)
    const synced = rd.mustSync ? storage.sync() : undefined
    if (synced === undefined) {
      this.finishReady(rd, keepsVote, 0)
      return
    }
    // Durable later: nothing of this Ready that depends on it happens before (thesis §3.8). Committed
    // entries that were durable here before this Ready (every earlier Ready was synced) are applied at
    // once: waiting would add a whole fsync to every commit's latency. Those after the first new entry
    // (a follower may learn a commit covering entries of this very Ready) and a snapshot wait.
    let appliedEarly = 0
    if (rd.snapshot === null) {
      const firstNew = rd.entries[0]?.index ?? Infinity
      for (const e of rd.committedEntries) {
        if (e.index >= firstNew) break
        this.applyEntry(e)
        appliedEarly++
      }
      if (this.mayApplyBeforeDurable(rd)) for (const e of rd.entries) this.applyEntry(e) // skips those applied at propose
    }
    synced.then(() => {
      if (this.stopped) return
      this.finishReady(rd, keepsVote, appliedEarly)
      this.process()
    }, (error: unknown) => {
      this.handling = false
      this.options.onFatal?.(error)
      this.stop()
    })
  }

  private finishReady (rd: Ready, messagesSent: boolean, appliedEarly: number): void {
    const { transport } = this.options
    if (rd.hardState !== null) {
      this.durableTerm = rd.hardState.term
      this.durableVote = rd.hardState.vote
    }
    if (!messagesSent && rd.messages.length > 0) transport.send(rd.messages)
    if (rd.messagesAfterPersist.length > 0) transport.send(rd.messagesAfterPersist)
    if (rd.snapshot !== null) {
      // The leader's snapshot supersedes one being taken or restored here, and the entries it covers.
      const { index } = rd.snapshot.metadata
      this.snapshotting = null
      this.deferred = this.deferred.filter((e) => e.index > index)
      this.restoring = { index, steps: this.restoreSteps(rd.snapshot.data) }
      this.snapshotIndex = index
      this.snapshotBytes = rd.snapshot.data.byteLength
      this.logBytesSinceSnapshot = 0
      if (this.options.snapshotInSteps === true) this.options.onSnapshotWork?.()
      else this.snapshotStep(Infinity)
    }
    for (let i = appliedEarly; i < rd.committedEntries.length; i++) this.applyEntry(rd.committedEntries[i]!)
    for (const rs of rd.readStates) {
      const waiter = this.reads.get(contextKey(rs.context))
      if (waiter !== undefined) waiter.index = rs.index
    }
    this.raw.advance(rd)
    this.handling = false
    this.releaseDurableWaiters()
    this.releaseReads()
    this.maybeCompact()
  }

  // Alone (the only voter, leading), with nothing between the state and these entries.
  private mayApplyBeforeDurable (rd: Ready): boolean {
    return rd.entries.length > 0 && this.isAlone() && rd.entries[0]!.index <= this.stateIndex + 1 &&
      rd.entries.every((e) => e.type !== EntryType.ConfChange)
  }

  private applyEntry (e: Entry): void {
    if (this.snapshotting !== null || this.restoring !== null) {
      // The state holds still while a snapshot of it is taken or restored: the entry waits, once
      // (alone, an entry applied at append comes again at commit).
      if (e.index > (this.deferred[this.deferred.length - 1]?.index ?? this.stateIndex)) this.deferred.push(e)
      return
    }
    this.options.onApply?.(e)
    if (e.index <= this.stateIndex) return // already applied when it was appended (alone)
    this.stateIndex = e.index
    this.logBytesSinceSnapshot += e.data.byteLength
    if (e.type !== EntryType.Normal) return // no-ops and configuration entries act inside Raft
    const { requestId, command } = decodeEnvelope(e.data)
    let result = this.sessions.get(requestId)
    if (result === undefined) {
      result = this.options.stateMachine.apply(command)
      this.sessions.record(requestId, result)
    }
    const waiter = this.proposals.get(requestId)
    if (waiter !== undefined) this.finishProposal(requestId, waiter, null, result)
  }

  // A read is answered once the state reflects its index (not merely Raft's applied index: entries
  // wait while a snapshot is taken).
  private releaseReads (): void {
    for (const [key, r] of this.reads) {
      if (r.index >= 0 && this.stateIndex >= r.index) this.finishRead(key, r, null, r.index)
    }
  }

  // fsync(2) semantics: durable() waiters go once everything they saw is committed.
  private releaseDurableWaiters (): void {
    const applied = this.raw.raft.log.applied
    while (this.durableWaiters.length > 0 && this.durableWaiters[0]!.index <= applied) this.durableWaiters.shift()!.resolve()
  }

  private maybeCompact (): void {
    if (this.snapshotting !== null || this.restoring !== null) return
    const applied = this.raw.raft.log.applied
    const since = applied - this.snapshotIndex
    const { snapshotEntries, snapshotEntriesMin = snapshotEntries } = this.options
    if (since < snapshotEntries && !(since >= snapshotEntriesMin && this.logBytesSinceSnapshot >= this.snapshotBytes)) return
    if (this.stateIndex !== applied) return // the state machine holds entries not yet committed: wait
    const parts = [this.sessions.pieces(), this.options.stateMachine.snapshot()[Symbol.iterator]()]
    this.snapshotting = { index: applied, conf: this.raw.raft.configs.at(applied), parts, taken: parts.map(() => []), part: 0 }
    if (this.options.snapshotInSteps === true) this.options.onSnapshotWork?.()
    else this.snapshotStep(Infinity)
  }

  /** Whether a snapshot is being taken or restored (see snapshotInSteps): the host should go on calling snapshotStep. */
  snapshotPending (): boolean {
    return this.snapshotting !== null || this.restoring !== null
  }

  /**
   * Takes up to `pieces` more steps of the snapshot being restored or taken. At the last step of a
   * restore the state is replaced; at the last of a snapshot it is stored and the log behind it
   * compacted; then the entries that waited are applied. Returns whether more steps are needed.
   */
  snapshotStep (pieces = 1): boolean {
    if (this.stopped) return false
    const restore = this.restoring
    if (restore !== null) {
      for (let i = 0; i < pieces; i++) {
        const next = restore.steps.next()
        if (next.done === true) {
          this.restoring = null
          this.sessions = next.value
          this.stateIndex = restore.index
          this.applyDeferred()
          return this.snapshotPending()
        }
      }
      return true
    }
    const snapshot = this.snapshotting
    if (snapshot === null) return false
    for (let i = 0; i < pieces; i++) {
      const next = snapshot.parts[snapshot.part]!.next()
      if (next.done !== true) snapshot.taken[snapshot.part]!.push(next.value)
      else if (++snapshot.part === snapshot.parts.length) {
        this.finishSnapshot(snapshot)
        return false
      }
    }
    return true
  }

  // Paper §7: store the snapshot and drop the log behind it, keeping a tail for slow followers.
  private finishSnapshot (snapshot: SnapshotInProgress): void {
    this.snapshotting = null
    const { storage } = this.options
    const data = encodeReplicatedState(snapshot.taken)
    storage.createSnapshot(snapshot.index, snapshot.conf, data)
    this.snapshotIndex = snapshot.index
    this.snapshotBytes = data.byteLength
    this.logBytesSinceSnapshot = 0
    const compactTo = snapshot.index - this.options.keepEntries
    if (compactTo > storage.firstIndex()) {
      storage.compact(compactTo)
      this.raw.onCompacted(compactTo)
    }
    this.applyDeferred()
  }

  private applyDeferred (): void {
    for (const e of this.deferred.splice(0)) this.applyEntry(e)
    this.releaseReads()
    this.maybeCompact()
  }

  // ---- the replicated state: sessions + the state machine ----

  private * restoreSteps (bytes: Uint8Array): Generator<unknown, SessionTable, undefined> {
    const state = c.state(0, bytes.byteLength, bytes)
    const sessions = c.buffer.decode(state) ?? new Uint8Array(0)
    const machine = c.buffer.decode(state) ?? new Uint8Array(0)
    assert(state.start === state.end, 'node: snapshot has trailing bytes')
    const table = yield * SessionTable.decodeSteps(sessions)
    yield * this.options.stateMachine.restore(machine)
    return table
  }
}

/** The parts (sessions, state machine), each given as its pieces, as one buffer of length-prefixed parts. */
function encodeReplicatedState (parts: ReadonlyArray<readonly Uint8Array[]>): Uint8Array {
  const sizes = parts.map((pieces) => pieces.reduce((sum, piece) => sum + piece.byteLength, 0))
  const state = c.state()
  for (const size of sizes) {
    c.uint.preencode(state, size)
    state.end += size
  }
  const buffer = new Uint8Array(state.end)
  state.buffer = buffer
  parts.forEach((pieces, part) => {
    c.uint.encode(state, sizes[part]!)
    for (const piece of pieces) {
      buffer.set(piece, state.start)
      state.start += piece.byteLength
    }
  })
  return buffer
}
