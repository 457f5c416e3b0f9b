// Raft commit throughput on a real disk: 3 voters in this process, each a RaftNode over its own
// RaftStorage (fdatasync'd WAL) in its own temp directory, joined by an in-memory transport that
// delivers asynchronously and never loses a message. Measures committed proposals per second and the
// p50/p99 commit latency with 1, 16 and 256 concurrent proposers, each printed against the disk's raw
// fdatasync rate measured first in the same directory: group commit (one fdatasync per Ready, one
// Ready per batch of proposals) must make throughput far exceed that rate.
//   SWARMFS_BENCH_RAFT_SECONDS (default 4): how long each concurrency level runs;
//   SWARMFS_BENCH_RAFT_PROPOSERS (default 1,16,256): the concurrency levels.
import { mkdtemp, open, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { RaftNode } from '../../metadata/raft/node-api.js'
import type { StateMachine } from '../../metadata/raft/node-api.js'
import type { Message, NodeId } from '../../metadata/raft/messages.js'
import { Rng } from '../../metadata/raft/rng.js'
import type { Transport } from '../../metadata/raft/transport.js'
import { RaftStorage } from '../../metadata/raft-storage.js'

const IDS = ['n1', 'n2', 'n3']
const TICK_MS = 100
const COMMAND_BYTES = 100
const CONCURRENCY = (process.env.SWARMFS_BENCH_RAFT_PROPOSERS ?? '1,16,256').split(',').map(Number)

/** Sequential 4 KiB write + fdatasync for `seconds`: the disk's durable-write rate (per second). */
export async function measureFsyncRate (directory: string, seconds: number): Promise<number> {
  const file = path.join(directory, 'fsync-probe.bin')
  const handle = await open(file, 'w')
  const block = Buffer.alloc(4096, 0x5a)
  let count = 0
  const start = performance.now()
  try {
    while (performance.now() - start < seconds * 1000) {
      await handle.write(block, 0, block.length, count * block.length)
      await handle.datasync()
      count++
    }
  } finally {
    await handle.close()
    await rm(file, { force: true })
  }
  return count / ((performance.now() - start) / 1000)
}

/**
 * Delivers every message on a later turn of the event loop, in send order, none lost. Messages to one
 * node that arrive in the same turn are handed over back to back (like a socket read of several frames).
 */
class Hub {
  private readonly handlers = new Map<NodeId, (m: Message) => void>()
  private queue: Message[] = []
  private scheduled = false
  delivered = 0

  endpoint (id: NodeId): Transport {
    return {
      send: (messages) => {
        for (const m of messages) this.queue.push(m)
        if (!this.scheduled && this.queue.length > 0) {
          this.scheduled = true
          setImmediate(() => this.flush())
        }
      },
      onMessage: (handler) => { this.handlers.set(id, handler) }
    }
  }

  private flush (): void {
    this.scheduled = false
    const batch = this.queue
    this.queue = []
    for (const m of batch) {
      this.delivered++
      this.handlers.get(m.to)?.(m)
    }
  }
}

/** A tiny deterministic machine: counts commands and remembers the last one's length. */
class CounterMachine implements StateMachine {
  count = 0
  private readonly result = new Uint8Array(1)
  apply (command: Uint8Array): Uint8Array {
    this.count++
    this.result[0] = command.length & 0xff
    return this.result
  }

  snapshot (): Uint8Array[] {
    return [new TextEncoder().encode(String(this.count))]
  }

  restore (bytes: Uint8Array): Iterable<unknown> {
    this.count = bytes.length === 0 ? 0 : Number(new TextDecoder().decode(bytes))
    return []
  }
}

interface Member { id: NodeId, node: RaftNode, storage: RaftStorage, machine: CounterMachine }

interface Phase { proposers: number, seconds: number, commits: number, p50: number, p99: number, syncs: number }

function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

async function runPhase (leader: Member, members: Member[], proposers: number, seconds: number): Promise<Phase> {
  const latencies: number[] = []
  const command = new Uint8Array(COMMAND_BYTES).fill(0x61)
  let sequence = 0
  let stop = false
  const syncsBefore = members.reduce((sum, m) => sum + m.storage.stats().walSyncs, 0)
  const start = performance.now()
  const deadline = start + seconds * 1000
  const proposer = async (p: number): Promise<void> => {
    while (!stop) {
      const begun = performance.now()
      await leader.node.propose(command, `p${proposers}-${p}-${++sequence}`)
      const now = performance.now()
      if (now > deadline) { stop = true; return }
      latencies.push(now - begun)
    }
  }
  await Promise.all(Array.from({ length: proposers }, async (_, p) => await proposer(p)))
  const elapsed = seconds // only commits that completed inside the window are counted
  const sorted = Float64Array.from(latencies).sort()
  const syncs = members.reduce((sum, m) => sum + m.storage.stats().walSyncs, 0) - syncsBefore
  return { proposers, seconds: elapsed, commits: latencies.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), syncs }
}

async function waitForLeader (members: Member[], timeoutMs: number): Promise<Member> {
  const start = Date.now()
  for (;;) {
    const leader = members.find((m) => m.node.status().role === 'leader')
    if (leader !== undefined) {
      // Leader of a term whose no-op is applied: proposals go straight in.
      await leader.node.readBarrier()
      return leader
    }
    if (Date.now() - start > timeoutMs) throw new Error('raft bench: no leader elected')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export async function benchRaft (log: (line: string) => void, options: { seconds?: number } = {}): Promise<string> {
  const seconds = options.seconds ?? Number(process.env.SWARMFS_BENCH_RAFT_SECONDS ?? 4)
  const root = await mkdtemp(path.join(os.tmpdir(), 'swarmfs-raft-bench-'))
  const members: Member[] = []
  let timer: NodeJS.Timeout | null = null
  try {
    log(`raft bench: measuring fdatasync rate in ${root}`)
    const fsyncRate = await measureFsyncRate(root, 2)
    log(`raft bench: ${fsyncRate.toFixed(0)} fdatasync/s (4 KiB sequential)`)
    const hub = new Hub()
    for (const [i, id] of IDS.entries()) {
      const storage = await RaftStorage.open(path.join(root, id), IDS)
      const machine = new CounterMachine()
      const node = new RaftNode({
        raft: { id, electionTicks: 10, heartbeatTicks: 1 },
        storage,
        rng: new Rng(1000 + i),
        transport: hub.endpoint(id),
        stateMachine: machine,
        waitTicksMax: 600,
        retryTicks: 10,
        snapshotEntries: 50_000,
        keepEntries: 5_000,
        onFatal: (error) => { console.error(`raft bench: ${id} storage failed`, error) }
      })
      members.push({ id, node, storage, machine })
    }
    timer = setInterval(() => { for (const m of members) m.node.tick() }, TICK_MS)
    members[0]!.node.raw.campaign()
    members[0]!.node.process()
    const leader = await waitForLeader(members, 10_000)
    log(`raft bench: leader ${leader.id}`)
    await runPhase(leader, members, 16, 0.5) // warm-up (JIT), not reported
    const phases: Phase[] = []
    for (const proposers of CONCURRENCY) {
      const phase = await runPhase(leader, members, proposers, seconds)
      log(`raft bench: ${proposers} proposers: ${(phase.commits / phase.seconds).toFixed(0)} commits/s, p50 ${phase.p50.toFixed(2)} ms, p99 ${phase.p99.toFixed(2)} ms, ${(phase.syncs / phase.seconds).toFixed(0)} WAL fdatasync/s (3 nodes)`)
      phases.push(phase)
    }
    return formatRaftTable(fsyncRate, phases)
  } finally {
    if (timer !== null) clearInterval(timer)
    for (const m of members) m.node.stop()
    for (const m of members) await m.storage.close().catch(() => {})
    await rm(root, { recursive: true, force: true })
  }
}

function formatRaftTable (fsyncRate: number, phases: Phase[]): string {
  const header = ['proposers', 'commits/s', '× fsync rate', 'p50 ms', 'p99 ms', 'fdatasync/s (3 WALs)']
  const rows = phases.map((p) => {
    const rate = p.commits / p.seconds
    return [String(p.proposers), rate.toFixed(0), (rate / fsyncRate).toFixed(1), p.p50.toFixed(2), p.p99.toFixed(2), (p.syncs / p.seconds).toFixed(0)]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padStart(widths[i]!)).join('  ')
  return [
    `# raft: 3 voters in one process, each over its own fdatasync'd RaftStorage; ${COMMAND_BYTES}-byte commands`,
    `# raw fdatasync rate (4 KiB sequential write + fdatasync): ${fsyncRate.toFixed(0)}/s`,
    line(header),
    ...rows.map(line)
  ].join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchRaft((line) => console.log(line)).then((table) => console.log(table), (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
