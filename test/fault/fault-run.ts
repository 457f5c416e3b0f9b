// One fault run on a real cluster, shared by the crash-consistency test and the soak: the seeded PRNG,
// the model of acknowledged state, the workload writing through the mounts, the crash injector, and
// checks at quiet points (workload paused, every peer up and converged, every mount compared).
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { Rng } from '../../metadata/raft/rng.js'
import type { Cluster } from '../helpers/cluster.js'
import { checkMounts } from './checker.js'
import type { CheckReport } from './checker.js'
import { waitConverged } from './cluster-health.js'
import { CrashInjector } from './crash-injector.js'
import { EventLog } from './event-log.js'
import { AcknowledgedModel } from './model.js'
import { OperationPlanner } from './operations.js'
import type { PlannerOptions } from './operations.js'
import { Workload } from './workload.js'

const OPERATION_TIMEOUT_MS = 120_000
const CONVERGE_WAIT_MS = 120_000

export interface FaultRunOptions {
  workers: number
  planner: PlannerOptions
  /** How long a mount may take to match the model at a check before its mismatches count. */
  checkWaitMs: number
  say: (line: string) => void
}

export class FaultRun {
  readonly seed: number
  readonly rng: Rng
  readonly log = new EventLog()
  readonly model = new AcknowledgedModel()
  readonly injector: CrashInjector
  readonly workload: Workload
  private readonly cluster: Cluster
  private readonly options: FaultRunOptions

  private constructor (cluster: Cluster, seed: number, stagingDirectory: string, options: FaultRunOptions) {
    this.cluster = cluster
    this.seed = seed
    this.options = options
    this.rng = new Rng(seed)
    const planner = new OperationPlanner(this.model, this.rng, options.planner)
    this.workload = new Workload(this.model, planner, this.rng, () => this.injector.available(), this.log, {
      workers: options.workers, stagingDirectory, operationTimeoutMs: OPERATION_TIMEOUT_MS
    })
    this.injector = new CrashInjector(cluster, this.rng, this.log, options.say, () => this.workload.busyPeers())
  }

  static async create (cluster: Cluster, seed: number, options: FaultRunOptions): Promise<FaultRun> {
    const staging = path.join(cluster.base, 'staging')
    await mkdir(staging, { recursive: true })
    return new FaultRun(cluster, seed, staging, options)
  }

  /** Pauses the workload, waits until the cluster is whole, compares every mount, resumes. */
  async checkpoint (): Promise<CheckReport> {
    await this.workload.pause()
    try {
      const started = Date.now()
      const views = await waitConverged(this.cluster, CONVERGE_WAIT_MS)
      this.options.say(`converged in ${Date.now() - started} ms: leader ${views[0]!.leader.slice(0, 12)}, term ${views[0]!.term}, applied ${views[0]!.appliedIndex}`)
      return await checkMounts(this.cluster.peers, this.model, this.options.checkWaitMs)
    } finally {
      this.workload.resume()
    }
  }
}
