// The filesystem's metadata as a Raft-replicated state machine: a FUSE mutation is encoded, proposed
// with a request id (a retry after a leader change never applies twice), committed by the group,
// applied to the local FsState and answered with its result. Reads are served from the local state.
// One peer is a group of one voter; more voters join through membership changes.
import c from 'compact-encoding'
import type { Logger } from '../peer/log.js'
import type { Command } from './fs/commands.js'
import { decodeCommand, encodeCommand } from './fs/commands.js'
import { decodeSnapshotSteps, snapshotPieces } from './fs/snapshot.js'
import { FsState } from './fs/state.js'
import type { ApplyResult } from './fs/state.js'
import { Errno, FsError } from '../native/errno.js'
import { RaftError } from './raft/errors.js'
import { RaftNode } from './raft/node-api.js'
import type { NodeStatus } from './raft/node-api.js'
import { Rng } from './raft/rng.js'
import type { Transport } from './raft/transport.js'
import { RaftStorage } from './raft-storage.js'

/** One tick of the Raft clock. Elections time out after 10–19 ticks (1–2 s), heartbeats every tick. */
export const TICK_MS = 100
const ELECTION_TICKS = 10
/** A proposal without a leader fails after this many ticks (10 s): the mount answers EAGAIN. */
const WAIT_TICKS_MAX = 100
const RETRY_TICKS = 10
const INFLIGHT_BYTES_MAX = 4 * 1024 * 1024
const SNAPSHOT_ENTRIES = 50_000
const SNAPSHOT_ENTRIES_MIN = 10_000 // sooner when the log since the last snapshot outweighs it (node-api.ts)
const SNAPSHOT_SLICE_MS = 5 // of encoding or decoding a snapshot at a time, between other work
const KEEP_ENTRIES = 5_000

// Raft's operating errors as the errnos a FUSE caller sees: without a quorum the cluster times out.
function asFsError (error: unknown): never {
  if (!(error instanceof RaftError)) throw error
  const unavailable = error.code === 'NO_LEADER' || error.code === 'TIMEOUT'
  throw new FsError(unavailable ? Errno.ETIMEDOUT : error.code === 'PROPOSAL_DROPPED' ? Errno.EAGAIN : Errno.EIO, error.message)
}

const resultCodec = {
  encode (result: ApplyResult): Uint8Array {
    return c.encode(c.array(c.uint), [result.errno, result.fileId ?? 0])
  },
  decode (bytes: Uint8Array): ApplyResult {
    const [errno, fileId] = c.decode(c.array(c.uint), bytes) as number[]
    return fileId === 0 ? { errno: errno! } : { errno: errno!, fileId: fileId! }
  }
}

/** A transport for a group with no other member yet: there is nobody to send to. */
const ALONE: Transport = { send () {}, onMessage () {} }

export interface ReplicatedMetadataOptions {
  directory: string
  peerId: string
  /** The peer that founds a group bootstraps it as its only voter; a joining peer starts empty. */
  founder: boolean
  rootTimeNs: bigint
  transport?: Transport
  /** Chunk ids that no file references any more, after each applied command (garbage collection). */
  onFreedChunks?: (keys: string[]) => void
  onFatal?: (error: unknown) => void
  /** Where storage trouble is reported (default: stderr). */
  logger?: Logger
  /** Called once per proposal with the seconds from propose to applied here, or to its failure (metrics). */
  onProposed?: (seconds: number) => void
  /** Called after every change of the state here: each applied command, each restored snapshot. */
  onChanged?: (state: FsState) => void
}

export class ReplicatedMetadata {
  state: FsState
  readonly node: RaftNode
  private readonly storage: RaftStorage
  private readonly timer: NodeJS.Timeout
  private snapshotSlice: NodeJS.Immediate | null = null
  private readonly peerId: string
  private requestSequence = 0
  private readonly incarnation = Date.now().toString(36)
  private readonly onProposed: (seconds: number) => void

  private constructor (options: ReplicatedMetadataOptions, storage: RaftStorage) {
    this.peerId = options.peerId
    this.storage = storage
    this.onProposed = options.onProposed ?? (() => {})
    this.state = new FsState(options.rootTimeNs)
    const onFreedChunks = options.onFreedChunks ?? (() => {})
    const onChanged = options.onChanged ?? (() => {})
    this.node = new RaftNode({
      // Appends in flight per follower are bounded in bytes so heartbeats never queue behind many MiB.
      raft: { id: options.peerId, electionTicks: ELECTION_TICKS, heartbeatTicks: 1, inflightBytesMax: INFLIGHT_BYTES_MAX },
      storage,
      rng: new Rng(Math.floor(Math.random() * 0x100000000)),
      transport: options.transport ?? ALONE,
      stateMachine: {
        apply: (bytes) => {
          const result = this.state.apply(decodeCommand(bytes))
          const freed = this.state.takeFreedChunks()
          if (freed.length > 0) onFreedChunks(freed)
          onChanged(this.state)
          return resultCodec.encode(result)
        },
        snapshot: () => snapshotPieces(this.state),
        restore: (bytes) => this.restoreSteps(bytes, options.rootTimeNs, onChanged)
      },
      waitTicksMax: WAIT_TICKS_MAX,
      retryTicks: RETRY_TICKS,
      snapshotEntries: SNAPSHOT_ENTRIES,
      snapshotEntriesMin: SNAPSHOT_ENTRIES_MIN,
      keepEntries: KEEP_ENTRIES,
      onFatal: options.onFatal ?? ((error) => {
        if (options.logger !== undefined) options.logger.error('metadata.storage_failed', { error: error instanceof Error ? error : String(error) })
        else console.error('swarmfs: metadata storage failed:', error)
      }),
      // Alone, a create need not wait for an fsync: it is answered once applied and made durable by the
      // next group commit; fsync(2) waits for it (see sync()). With more voters, every answer waits for
      // the quorum.
      applyBeforeDurableWhenAlone: true,
      snapshotInSteps: true,
      onSnapshotWork: () => { this.workOnSnapshot() }
    })
    this.timer = setInterval(() => this.node.tick(), TICK_MS)
  }

  /** Decodes a snapshot a step at a time (restore); the state is replaced, whole, at the last step. */
  private * restoreSteps (bytes: Uint8Array, rootTimeNs: bigint, onChanged: (state: FsState) => void): Generator<void, void, undefined> {
    this.state = bytes.length === 0 ? new FsState(rootTimeNs) : yield * decodeSnapshotSteps(bytes)
    onChanged(this.state)
  }

  // A snapshot is encoded or decoded in slices of SNAPSHOT_SLICE_MS, each after the I/O that waited
  // (setImmediate): FUSE, Raft messages and heartbeats are served in between, so a state of a million
  // files (~2.5 s to encode, ~13 s to decode) never stalls the mount or costs the leadership.
  private workOnSnapshot (): void {
    if (this.snapshotSlice !== null) return
    const slice = (): void => {
      this.snapshotSlice = null
      const until = performance.now() + SNAPSHOT_SLICE_MS
      while (this.node.snapshotStep()) {
        if (performance.now() >= until) {
          this.snapshotSlice = setImmediate(slice)
          return
        }
      }
    }
    this.snapshotSlice = setImmediate(slice)
  }

  /**
   * Opens the replicated metadata of this peer: a founder bootstraps a group of one and leads at once;
   * a joining peer waits (see caughtUp) until the leader has added it and sent it the state.
   */
  static async open (options: ReplicatedMetadataOptions): Promise<ReplicatedMetadata> {
    const storage = await RaftStorage.open(options.directory, options.founder ? [options.peerId] : [], options.logger)
    const metadata = new ReplicatedMetadata(options, storage)
    const { voters } = storage.initialState().confState
    if (voters.length === 1 && voters[0] === options.peerId) metadata.node.raw.campaign() // alone: lead at once
    metadata.node.process()
    return metadata
  }

  /** Resolves once a leader is known and every entry committed before the call is applied here. */
  async caughtUp (): Promise<void> {
    await this.node.readBarrier()
  }

  /** Whether this peer is a member (voter or learner) of the group as it knows it. */
  isMember (): boolean {
    const { voters, learners } = this.node.status().members
    return voters.includes(this.peerId) || learners.includes(this.peerId)
  }

  /** Replicates `command`; a group that can't commit it within the bound fails with ETIMEDOUT. */
  async propose (command: Command): Promise<ApplyResult> {
    // Unique among peers by a 64-bit prefix of the peer's key and the start time: every log entry and
    // every remembered session carries it, so it is kept short.
    const requestId = `${this.peerId.slice(0, 16)}/${this.incarnation}/${++this.requestSequence}`
    const started = process.hrtime.bigint()
    try {
      return resultCodec.decode(await this.node.propose(encodeCommand(command), requestId).catch(asFsError))
    } finally {
      this.onProposed(Number(process.hrtime.bigint() - started) / 1e9)
    }
  }

  /** Resolves once every change applied here so far is committed (durable on a quorum, or on disk alone). */
  async sync (): Promise<void> {
    await this.node.durable().catch(asFsError)
  }

  /**
   * Close-to-open: resolves once every change committed anywhere before the call is applied here. In a
   * partition without a quorum it gives up after the bound and the local state (possibly stale) is used.
   */
  async refresh (): Promise<void> {
    await this.node.readBarrier().catch((error: unknown) => {
      if (!(error instanceof RaftError) || error.code === 'STOPPED') throw asFsError(error)
    })
  }

  status (): NodeStatus & { storage: ReturnType<RaftStorage['stats']> } {
    return { ...this.node.status(), storage: this.storage.stats() }
  }

  async close (): Promise<void> {
    clearInterval(this.timer)
    if (this.snapshotSlice !== null) clearImmediate(this.snapshotSlice)
    this.node.stop()
    await this.storage.close()
  }
}
