// A simulated swarmfs metadata group: RaftNodes over SimNetwork and MemoryStorage, a simulated clock
// with per-node tick skew, crashes that lose unsynced writes (including a crash in the middle of a
// Ready, between its writes and its fsync), restarts, and membership changes. Everything is driven by
// one seeded Rng, so a seed replays exactly.
import { MemoryStorage } from '../../metadata/raft/memory-storage.js'
import { RaftNode } from '../../metadata/raft/node-api.js'
import { Rng } from '../../metadata/raft/rng.js'
import type { Entry, NodeId } from '../../metadata/raft/messages.js'
import { KvStateMachine } from './kv.js'
import { SimNetwork } from './network.js'
import { Invariants } from './invariants.js'

export const ELECTION_TICKS = 10
export const TICK_UNITS = 10 // simulated time units per tick on an unskewed clock

export class SimCrash extends Error {
  constructor () {
    super('simulated crash before fsync')
    this.name = 'SimCrash'
  }
}

// MemoryStorage whose next sync() can be armed to crash the process instead.
export class SimStorage extends MemoryStorage {
  crashOnNextSync = false

  override sync (): void {
    if (this.crashOnNextSync) {
      this.crashOnNextSync = false
      throw new SimCrash()
    }
    super.sync()
  }
}

export interface SimNode {
  id: NodeId
  storage: SimStorage
  machine: KvStateMachine
  node: RaftNode | null // null while crashed
  tickPeriod: number // skewed clock: simulated units per tick
  nextTickAt: number
  removed: boolean // removed from the configuration (kept running, as a real removed server might be)
  restarts: number
}

export interface ClusterOptions {
  seed: number
  voters: number
  snapshotEntries: number
}

export class SimCluster {
  readonly rng: Rng
  now = 0
  readonly network: SimNetwork
  readonly nodes = new Map<NodeId, SimNode>()
  readonly invariants: Invariants
  private nextId: number
  crashes = 0
  // Nodes that received input since the last invariant check (the others cannot have changed).
  readonly dirty = new Set<SimNode>()

  constructor (readonly options: ClusterOptions) {
    this.rng = new Rng(options.seed)
    this.network = new SimNetwork(this.rng, () => this.now)
    this.invariants = new Invariants()
    const ids = Array.from({ length: options.voters }, (_, i) => `n${i + 1}`)
    this.nextId = options.voters + 1
    for (const id of ids) this.addNode(id, SimStorage.bootstrap(ids))
  }

  private addNode (id: NodeId, storage: SimStorage): SimNode {
    // Clock skew: each node's tick period differs by up to ±20%.
    const tickPeriod = TICK_UNITS - 2 + this.rng.nextInt(5)
    const sim: SimNode = { id, storage, machine: new KvStateMachine(), node: null, tickPeriod, nextTickAt: this.now + this.rng.nextInt(tickPeriod) + 1, removed: false, restarts: 0 }
    this.nodes.set(id, sim)
    this.start(sim)
    return sim
  }

  private start (sim: SimNode): void {
    sim.machine = new KvStateMachine()
    const seed = this.rng.nextInt(0x100000000)
    sim.node = new RaftNode({
      raft: { id: sim.id, electionTicks: ELECTION_TICKS, heartbeatTicks: 1, appendBytesMax: 512, inflightCountMax: 4, inflightBytesMax: 4096, snapshotChunkBytes: 64, snapshotWindowChunks: 2 },
      storage: sim.storage,
      rng: new Rng(seed),
      transport: this.network.endpoint(sim.id),
      stateMachine: sim.machine,
      waitTicksMax: ELECTION_TICKS * 6,
      retryTicks: ELECTION_TICKS,
      snapshotEntries: this.options.snapshotEntries,
      keepEntries: 4,
      snapshotInSteps: true,
      onApply: (e: Entry) => this.invariants.onApply(sim.id, e)
    })
    // Deliveries go through guard() so a crash armed for this node's fsync is caught here.
    this.network.endpoint(sim.id).onMessage((m) => this.guard(sim, (n) => n.receive(m)))
  }

  // Runs fn against a node; a SimCrash inside it (armed fsync crash) takes the node down.
  guard (sim: SimNode, fn: (node: RaftNode) => void): void {
    const node = sim.node
    if (node === null) return
    this.dirty.add(sim)
    try {
      fn(node)
    } catch (err) {
      if (!(err instanceof SimCrash)) throw err
      this.crash(sim)
    }
  }

  crash (sim: SimNode): void {
    if (sim.node === null) return
    sim.node.stop()
    sim.node = null
    this.network.detach(sim.id)
    sim.storage.crash()
    this.invariants.onCrash(sim.id)
    this.crashes++
  }

  restart (sim: SimNode): void {
    if (sim.node !== null) return
    sim.restarts++
    sim.storage.crashOnNextSync = false
    this.start(sim)
    sim.nextTickAt = this.now + 1
  }

  // Adds a brand-new node (ids are never reused) with empty storage; it learns everything from the
  // leader once a leader adds it as a learner.
  spawnNode (): SimNode {
    const id = `n${this.nextId++}`
    return this.addNode(id, new SimStorage())
  }

  live (): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.node !== null)
  }

  leader (): SimNode | null {
    let best: SimNode | null = null
    for (const sim of this.live()) {
      const raft = (sim.node as RaftNode).raw.raft
      if (raft.role !== 'leader') continue
      if (best === null || raft.term > (best.node as RaftNode).raw.raft.term) best = sim
    }
    return best
  }

  // One unit of simulated time: deliver due messages, tick nodes whose clock fires, take a step or two
  // of snapshots being taken or restored (so each spans several units, with messages and ticks in between), check
  // invariants.
  step (): void {
    this.now++
    this.network.deliverDue()
    for (const sim of this.nodes.values()) {
      if (sim.node?.snapshotPending() === true) this.guard(sim, (node) => node.snapshotStep(1 + this.rng.nextInt(2)))
    }
    for (const sim of this.nodes.values()) {
      if (sim.node === null || this.now < sim.nextTickAt) continue
      sim.nextTickAt += sim.tickPeriod
      this.guard(sim, (node) => node.tick())
    }
    this.invariants.check(this.dirty)
    this.dirty.clear()
  }
}

