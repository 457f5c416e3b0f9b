// Deterministic simulation of the Raft metadata group (TigerBeetle's VOPR idea). Proves, per seed:
// safety after every simulated step (invariants.ts) under partitions, loss, duplication, reordering,
// crash-restarts that lose unsynced writes (also mid-Ready, between write and fsync), clock skew,
// membership changes, leader transfers and snapshot installs; that the client history is linearizable
// (linearizability.ts); and liveness — once faults heal, a leader is elected and a new proposal commits
// on every live voter within a bounded number of election timeouts of simulated time.
// Method: one seeded Rng drives everything, so a failing seed replays exactly:
//   SEED=<n> npm test              (one seed, with a per-step trace of the last steps on failure)
//   SWARMFS_SIM_SEEDS=20000 npm test   (more seeds; default 2,000 split over 3, 5 and 7 peers)
//   SWARMFS_SIM_FIRST_SEED=100000      (start elsewhere in seed space)
import test from 'brittle'
import { RaftError } from '../../metadata/raft/errors.js'
import { ConfChangeType } from '../../metadata/raft/messages.js'
import type { ConfChange } from '../../metadata/raft/messages.js'
import { CALM } from './network.js'
import { ELECTION_TICKS, SimCluster, TICK_UNITS } from './cluster.js'
import type { SimNode } from './cluster.js'
import { Workload, describeNode } from './workload.js'
import { checkLinearizable, registerModel } from './linearizability.js'
import { encodeJson } from './kv.js'

const SEEDS_TOTAL = Number(process.env.SWARMFS_SIM_SEEDS ?? 2000)
const FIRST_SEED = Number(process.env.SWARMFS_SIM_FIRST_SEED ?? 0)
const ONE_SEED = process.env.SEED === undefined ? null : Number(process.env.SEED)
const CHAOS_UNITS = 1500
const ELECTION_UNITS = ELECTION_TICKS * (TICK_UNITS + 2) * 2 // the longest randomized timeout on the slowest clock
const LIVENESS_TIMEOUTS_MAX = 12 // heal → leader elected and a fresh write applied on every live voter
const LIVENESS_UNITS_MAX = LIVENESS_TIMEOUTS_MAX * ELECTION_UNITS

interface SeedReport {
  seed: number
  ops: number
  crashes: number
  livenessUnits: number
  snapshotsSent: boolean
  snapshotChunks: number
}

function chaosFaults (cluster: SimCluster): void {
  const rng = cluster.rng
  cluster.network.faults = {
    dropRate: rng.nextFloat() * 0.1,
    duplicateRate: rng.nextFloat() * 0.05,
    delayRate: rng.nextFloat() * 0.05,
    latencyMin: 1,
    latencyMax: 1 + rng.nextInt(6),
    delayMax: ELECTION_UNITS
  }
}

function randomPartition (cluster: SimCluster): void {
  const ids = [...cluster.nodes.keys()]
  const a: string[] = []
  const b: string[] = []
  for (const id of ids) (cluster.rng.chance(0.5) ? a : b).push(id)
  cluster.network.partition([a, b])
}

function membershipChange (cluster: SimCluster): void {
  const leader = cluster.leader()
  if (leader === null || leader.node === null) return
  const conf = leader.node.status().members
  const rng = cluster.rng
  let change: ConfChange
  if (conf.learners.length > 0 && rng.chance(0.7)) {
    change = { type: ConfChangeType.Promote, nodeId: rng.pick(conf.learners) }
  } else if (conf.voters.length > 3 && rng.chance(0.5)) {
    const candidates = conf.voters.filter((id) => id !== leader.id)
    change = { type: ConfChangeType.Remove, nodeId: rng.pick(candidates) }
  } else if (cluster.nodes.size < 10) {
    change = { type: ConfChangeType.AddLearner, nodeId: cluster.spawnNode().id }
  } else {
    return
  }
  cluster.guard(leader, (node) => {
    try {
      node.proposeConfChange(change)
    } catch (err) {
      if (!(err instanceof RaftError)) throw err
    }
  })
}

function transferLeader (cluster: SimCluster): void {
  const leader = cluster.leader()
  if (leader === null || leader.node === null) return
  const voters = leader.node.status().members.voters.filter((id) => id !== leader.id)
  if (voters.length === 0) return
  const target = cluster.rng.pick(voters)
  cluster.guard(leader, (node) => node.transferLeader(target))
}

function chaosStep (cluster: SimCluster): void {
  const rng = cluster.rng
  const nodes = [...cluster.nodes.values()]
  if (rng.chance(0.002)) randomPartition(cluster)
  if (rng.chance(0.003)) cluster.network.heal()
  if (rng.chance(0.001)) chaosFaults(cluster)
  if (rng.chance(0.0015)) {
    const live = cluster.live()
    if (live.length > 0) cluster.crash(rng.pick(live))
  }
  if (rng.chance(0.001)) {
    const live = cluster.live()
    if (live.length > 0) rng.pick(live).storage.crashOnNextSync = true // crash between write and fsync
  }
  if (rng.chance(0.004)) {
    const down = nodes.filter((n) => n.node === null)
    if (down.length > 0) cluster.restart(rng.pick(down))
  }
  if (rng.chance(0.003)) membershipChange(cluster)
  if (rng.chance(0.001)) transferLeader(cluster)
}

// After healing: a leader must exist and a fresh write, proposed through it, must be applied on every
// live voter of its configuration.
function awaitLiveness (cluster: SimCluster, workload: Workload): number {
  const start = cluster.now
  let probe = 0
  let applied = false
  let pending = false
  while (cluster.now - start < LIVENESS_UNITS_MAX) {
    cluster.step()
    workload.step(false)
    const leader = cluster.leader()
    if (leader === null || leader.node === null) continue
    if (!pending && !applied) {
      pending = true
      const requestId = `liveness-${++probe}`
      cluster.guard(leader, (node) => node.proposeCallback(encodeJson({ op: 'put', key: 'liveness', value: requestId }), requestId, (err) => {
        pending = false
        applied = err === null
      }))
    }
    if (applied && allVotersCaughtUp(cluster, leader) && workload.idle()) return cluster.now - start
  }
  const leader = cluster.leader()
  const conf = leader?.node?.status().members
  throw new Error(`liveness (probe applied=${applied}, pending=${pending}, idle=${workload.idle()}, conf=${JSON.stringify(conf)}, transferee=${leader?.node?.raw.raft.leadTransferee}, progress=${JSON.stringify([...(leader?.node?.raw.raft.progress ?? new Map()).entries()].map(([id, p]) => [id, p.state, p.match, p.next, p.transfer]))}, snap=${leader?.storage.snapshot().metadata.index}): no leader committing within ${LIVENESS_TIMEOUTS_MAX} election timeouts after healing (${[...cluster.nodes.keys()].map((id) => describeNode(id, cluster)).join(' ')})`)
}

function allVotersCaughtUp (cluster: SimCluster, leader: SimNode): boolean {
  const node = leader.node
  if (node === null) return false
  const status = node.raw.status()
  return status.conf.voters.every((id) => {
    const sim = cluster.nodes.get(id)
    return sim !== undefined && sim.node !== null && sim.node.raw.raft.log.applied >= status.commit
  })
}

export function runSeed (seed: number): SeedReport {
  const voters = [3, 5, 7][seed % 3] as number
  const cluster = new SimCluster({ seed, voters, snapshotEntries: 8 + snapshotIntervalFor(seed) })
  const workload = new Workload(cluster, 3, 0.02)
  chaosFaults(cluster)
  for (let i = 0; i < CHAOS_UNITS; i++) {
    chaosStep(cluster)
    workload.step(true)
    cluster.step()
  }
  // Heal everything: network calm and whole, every crashed node restarted.
  cluster.network.heal()
  cluster.network.faults = CALM
  for (const sim of cluster.nodes.values()) {
    sim.storage.crashOnNextSync = false
    cluster.restart(sim)
  }
  const livenessUnits = awaitLiveness(cluster, workload)
  const result = checkLinearizable(registerModel, workload.history)
  if (result.ok === false) throw new Error(`linearizability violated on key ${result.partition}: ${JSON.stringify(result.operations)}`)
  if (result.ok === 'unknown') throw new Error(`linearizability check exceeded its search budget on key ${result.partition}`)
  const snapshotsSent = [...cluster.nodes.values()].some((n) => n.storage.snapshot().metadata.index > 0)
  return { seed, ops: workload.history.length, crashes: cluster.crashes, livenessUnits, snapshotsSent, snapshotChunks: cluster.network.snapshotChunksDelivered }
}

// The snapshot interval varies with the seed (without touching the cluster's Rng stream).
function snapshotIntervalFor (seed: number): number {
  return (seed * 7) % 13
}

function runSeeds (t: import('brittle').Test, seeds: number[]): void {
  const started = process.hrtime.bigint()
  let ops = 0
  let crashes = 0
  let livenessMax = 0
  let withSnapshots = 0
  let installs = 0
  for (const seed of seeds) {
    let report: SeedReport
    try {
      report = runSeed(seed)
    } catch (err) {
      t.fail(`seed ${seed} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n  replay: SEED=${seed} npm test`)
      return
    }
    ops += report.ops
    crashes += report.crashes
    livenessMax = Math.max(livenessMax, report.livenessUnits)
    if (report.snapshotsSent) withSnapshots++
    if (report.snapshotChunks > 0) installs++
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.pass(`${seeds.length} seeds: ${ops} client ops, ${crashes} crashes, ${withSnapshots} seeds compacted, ${installs} seeds sent snapshot chunks, liveness ≤ ${(livenessMax / ELECTION_UNITS).toFixed(2)} election timeouts, ${ms.toFixed(0)} ms`)
}

if (ONE_SEED !== null) {
  test(`simulation seed ${ONE_SEED}`, (t) => runSeeds(t, [ONE_SEED]))
} else {
  for (const peers of [3, 5, 7]) {
    const seeds: number[] = []
    for (let s = FIRST_SEED; s < FIRST_SEED + SEEDS_TOTAL; s++) if ([3, 5, 7][s % 3] === peers) seeds.push(s)
    test(`simulation with ${peers} peers`, { timeout: 600_000 }, (t) => runSeeds(t, seeds))
  }
}
