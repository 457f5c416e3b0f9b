// The workload: a few workers, each repeatedly planning an operation against the model, running it on
// the mount of a random available peer, and recording the outcome — acknowledged (exit 0: fsync and
// close, or the metadata call, returned success) or failed (maybe applied). Workers run concurrently on
// disjoint paths (see path-locks.ts).
import { rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Rng } from '../../metadata/raft/rng.js'
import type { ClusterPeer } from '../helpers/cluster.js'
import type { EventLog } from './event-log.js'
import type { AcknowledgedModel } from './model.js'
import { NOT_ON_MOUNT_EXIT, onMount } from './mount-shell.js'
import { OPERATION_KINDS } from './operations.js'
import type { Operation, OperationKind, OperationPlanner } from './operations.js'
import { PathLocks } from './path-locks.js'

const IDLE_MS = 50
const DATA_KINDS: readonly OperationKind[] = ['create', 'overwrite', 'append']

export interface WorkloadOptions {
  workers: number
  /** A local directory (not on any mount) for the bytes a write copies in. */
  stagingDirectory: string
  /** A command running longer is killed and counts as failed. */
  operationTimeoutMs: number
}

export interface KindCounts { acknowledged: number, failed: number }

export class Workload {
  readonly counts = new Map<OperationKind, KindCounts>(OPERATION_KINDS.map((kind) => [kind, { acknowledged: 0, failed: 0 }]))
  /** Commands that found no mount under them (the peer had just died): they never ran. */
  notRun = 0
  acknowledgedDataBytes = 0
  private readonly model: AcknowledgedModel
  private readonly planner: OperationPlanner
  private readonly rng: Rng
  private readonly available: () => ClusterPeer[]
  private readonly log: EventLog
  private readonly options: WorkloadOptions
  private readonly locks = new PathLocks()
  private workers: Array<Promise<void>> = []
  /** What broke a worker (a bug here, not a filesystem failure): stop() reports it. */
  private broken: unknown = null
  private running = false
  private paused = false
  private inFlight = 0
  /** Operations running per peer: the crash injector likes to hit a peer mid-write. */
  private readonly operationsOn = new Map<ClusterPeer, number>()

  constructor (model: AcknowledgedModel, planner: OperationPlanner, rng: Rng, available: () => ClusterPeer[], log: EventLog, options: WorkloadOptions) {
    this.model = model
    this.planner = planner
    this.rng = rng
    this.available = available
    this.log = log
    this.options = options
  }

  get acknowledged (): number {
    return [...this.counts.values()].reduce((sum, counts) => sum + counts.acknowledged, 0)
  }

  get failed (): number {
    return [...this.counts.values()].reduce((sum, counts) => sum + counts.failed, 0)
  }

  /** Acknowledged creates, overwrites and appends. */
  get acknowledgedWrites (): number {
    return DATA_KINDS.reduce((sum, kind) => sum + this.counts.get(kind)!.acknowledged, 0)
  }

  start (): void {
    this.running = true
    this.workers = Array.from({ length: this.options.workers }, async (_, index) => {
      await this.work(index).catch((error: unknown) => {
        this.broken ??= error
        this.running = false
      })
    })
  }

  /** Peers with an operation running on their mount now. */
  busyPeers (): ClusterPeer[] {
    return [...this.operationsOn].filter(([, count]) => count > 0).map(([peer]) => peer)
  }

  /** Stops issuing operations and resolves once none is running (a quiet point for a check). */
  async pause (): Promise<void> {
    this.paused = true
    while (this.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, IDLE_MS))
  }

  resume (): void {
    this.paused = false
  }

  /** Stops the workers; throws what broke one of them, if anything did. */
  async stop (): Promise<void> {
    this.running = false
    await Promise.all(this.workers)
    if (this.broken !== null) throw this.broken
  }

  /** "create 12/0 overwrite 5/1 …": acknowledged/failed per kind that ran. */
  summary (): string {
    return [...this.counts].filter(([, counts]) => counts.acknowledged + counts.failed > 0)
      .map(([kind, counts]) => `${kind} ${counts.acknowledged}/${counts.failed}`).join(' ')
  }

  private async work (worker: number): Promise<void> {
    let sequence = 0
    while (this.running) {
      const peers = this.available()
      // Between the checks and inFlight++ nothing awaits, so pause() can't miss an operation.
      const operation = this.paused || peers.length === 0 ? null : this.planner.plan(this.locks)
      if (operation === null) {
        await new Promise((resolve) => setTimeout(resolve, IDLE_MS))
        continue
      }
      const peer = peers[this.rng.nextInt(peers.length)]!
      this.inFlight++
      this.operationsOn.set(peer, (this.operationsOn.get(peer) ?? 0) + 1)
      try {
        await this.perform(peer, operation, `w${worker}-${++sequence}`)
      } finally {
        this.locks.release(operation.locks)
        this.operationsOn.set(peer, this.operationsOn.get(peer)! - 1)
        this.inFlight--
      }
    }
  }

  private async perform (peer: ClusterPeer, operation: Operation, tag: string): Promise<void> {
    const source = path.join(this.options.stagingDirectory, `${tag}.bin`)
    if (operation.source !== undefined) await writeFile(source, operation.source)
    const started = Date.now()
    const result = await onMount(peer, operation.command(source), this.options.operationTimeoutMs)
    const what = `${operation.summary} on ${peer.name}`
    const counts = this.counts.get(operation.kind)!
    if (result.code === 0) {
      this.model.acknowledge(operation.after, what)
      counts.acknowledged++
      if (operation.source !== undefined) this.acknowledgedDataBytes += operation.source.length
    } else if (result.code === NOT_ON_MOUNT_EXIT) {
      this.notRun++
    } else {
      this.model.maybe(operation.after, operation.partial, what)
      counts.failed++
      this.log.add(`failed after ${Date.now() - started} ms: ${what}: exit ${result.code}: ${result.stderr.trim().split('\n').slice(0, 3).join(' | ')}`)
    }
    if (operation.source !== undefined) await rm(source, { force: true })
  }
}
