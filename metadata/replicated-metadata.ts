// The filesystem's metadata as a Raft-replicated state machine: a FUSE mutation is encoded, proposed
// with a request id (a retry after a leader change never applies twice), committed by the group,
// applied to the local FsState and answered with its result. Reads are served from the local state.
// One peer is a group of one voter; more voters join through membership changes.
import c from 'compact-encoding'
import type { Command } from './fs/commands.js'
import { decodeCommand, encodeCommand } from './fs/commands.js'
import { decodeSnapshot, encodeSnapshot } from './fs/snapshot.js'
import { FsState } from './fs/state.js'
import type { ApplyResult } from './fs/state.js'
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
const SNAPSHOT_ENTRIES = 50_000
const KEEP_ENTRIES = 5_000

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
  rootTimeNs: bigint
  transport?: Transport
  /** Chunk ids that no file references any more, after each applied command (garbage collection). */
  onFreedChunks?: (keys: string[]) => void
  onFatal?: (error: unknown) => void
}

export class ReplicatedMetadata {
  state: FsState
  readonly node: RaftNode
  private readonly storage: RaftStorage
  private readonly timer: NodeJS.Timeout
  private readonly peerId: string
  private requestSequence = 0
  private readonly incarnation = Date.now().toString(36)

  private constructor (options: ReplicatedMetadataOptions, storage: RaftStorage) {
    this.peerId = options.peerId
    this.storage = storage
    this.state = new FsState(options.rootTimeNs)
    const onFreedChunks = options.onFreedChunks ?? (() => {})
    this.node = new RaftNode({
      raft: { id: options.peerId, electionTicks: ELECTION_TICKS, heartbeatTicks: 1 },
      storage,
      rng: new Rng(Math.floor(Math.random() * 0x100000000)),
      transport: options.transport ?? ALONE,
      stateMachine: {
        apply: (bytes) => {
          const result = this.state.apply(decodeCommand(bytes))
          const freed = this.state.takeFreedChunks()
          if (freed.length > 0) onFreedChunks(freed)
          return resultCodec.encode(result)
        },
        snapshot: () => encodeSnapshot(this.state),
        restore: (bytes) => { this.state = bytes.length === 0 ? new FsState(options.rootTimeNs) : decodeSnapshot(bytes) }
      },
      waitTicksMax: WAIT_TICKS_MAX,
      retryTicks: RETRY_TICKS,
      snapshotEntries: SNAPSHOT_ENTRIES,
      keepEntries: KEEP_ENTRIES,
      onFatal: options.onFatal ?? ((error) => { console.error('swarmfs: metadata storage failed:', error) }),
      // Alone, a create need not wait for an fsync: it is answered once applied and made durable by the
      // next group commit; fsync(2) waits for it (see sync()). With more voters, every answer waits for
      // the quorum.
      applyBeforeDurableWhenAlone: true
    })
    this.timer = setInterval(() => this.node.tick(), TICK_MS)
  }

  /** Opens (or bootstraps, as a group of one) the replicated metadata of this peer. */
  static async open (options: ReplicatedMetadataOptions): Promise<ReplicatedMetadata> {
    const storage = await RaftStorage.open(options.directory, [options.peerId])
    const metadata = new ReplicatedMetadata(options, storage)
    if (storage.initialState().confState.voters.length <= 1) metadata.node.raw.campaign() // alone: lead at once
    metadata.node.process()
    await metadata.waitForLeader()
    return metadata
  }

  async propose (command: Command): Promise<ApplyResult> {
    const requestId = `${this.peerId}/${this.incarnation}/${++this.requestSequence}`
    return resultCodec.decode(await this.node.propose(encodeCommand(command), requestId))
  }

  /** Resolves once every change applied here so far is committed (durable on a quorum, or on disk alone). */
  async sync (): Promise<void> {
    await this.node.durable()
  }

  status (): NodeStatus & { storage: ReturnType<RaftStorage['stats']> } {
    return { ...this.node.status(), storage: this.storage.stats() }
  }

  async close (): Promise<void> {
    clearInterval(this.timer)
    this.node.stop()
    await this.storage.close()
  }

  /** Resolves once a leader is known and every entry committed before now is applied here (ReadIndex). */
  private async waitForLeader (): Promise<void> {
    await this.node.readBarrier()
  }
}
