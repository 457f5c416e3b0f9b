// Proves the node wrapper's client semantics on a small calm cluster (the simulator covers faults):
// proposals from followers are forwarded and resolve with the applied result; a request id applies
// once even if it reaches the log twice; with no leader a proposal fails with NO_LEADER after its
// bounded wait; a read barrier covers every write completed before it.
import test from 'brittle'
import c from 'compact-encoding'
import { MemoryStorage } from '../../../metadata/raft/memory-storage.js'
import { RaftNode } from '../../../metadata/raft/node-api.js'
import { RaftError } from '../../../metadata/raft/errors.js'
import { Rng } from '../../../metadata/raft/rng.js'
import { encodeEnvelope } from '../../../metadata/raft/sessions.js'
import { SimNetwork } from '../../sim/network.js'
import { KvStateMachine, decodeJson, encodeJson } from '../../sim/kv.js'

interface Harness {
  nodes: Map<string, RaftNode>
  machines: Map<string, KvStateMachine>
  storages: Map<string, MemoryStorage>
  network: SimNetwork
  run: (units: number) => void
}

function cluster (ids: string[], snapshots: { snapshotEntries?: number, snapshotEntriesMin?: number, snapshotInSteps?: boolean, onSnapshotWork?: () => void } = {}): Harness {
  let now = 0
  const rng = new Rng(5)
  const network = new SimNetwork(rng, () => now)
  const nodes = new Map<string, RaftNode>()
  const storages = new Map<string, MemoryStorage>()
  const machines = new Map<string, KvStateMachine>()
  for (const [i, id] of ids.entries()) {
    const machine = new KvStateMachine()
    machines.set(id, machine)
    nodes.set(id, new RaftNode({
      raft: { id, electionTicks: 10, heartbeatTicks: 1 },
      storage: storages.set(id, MemoryStorage.bootstrap(ids)).get(id)!,
      rng: new Rng(100 + i),
      transport: network.endpoint(id),
      stateMachine: machine,
      waitTicksMax: 50,
      retryTicks: 10,
      snapshotEntries: 1000,
      keepEntries: 10,
      ...snapshots
    }))
  }
  const run = (units: number): void => {
    for (let u = 0; u < units; u++) {
      now++
      network.deliverDue()
      if (now % 10 === 0) for (const node of nodes.values()) node.tick()
    }
  }
  return { nodes, machines, storages, network, run }
}

function leaderOf (h: Harness): RaftNode {
  const leader = [...h.nodes.values()].find((n) => n.status().role === 'leader')
  if (leader === undefined) throw new Error('no leader')
  return leader
}

test('node api: a follower forwards a proposal; it resolves with the applied result everywhere', async (t) => {
  const h = cluster(['a', 'b', 'c'])
  h.run(400)
  const leader = leaderOf(h)
  const follower = [...h.nodes.values()].find((n) => n !== leader) as RaftNode
  const put = follower.propose(encodeJson({ op: 'put', key: 'k', value: 'v1' }), 'req-1')
  h.run(100)
  t.alike(decodeJson(await put), { ok: true })
  for (const m of h.machines.values()) t.is(m.read('k'), 'v1')
  const status = follower.status()
  t.is(status.leader, leader.status().id)
  t.alike(status.members.voters, ['a', 'b', 'c'])
  t.ok(status.applied >= 3 && status.commit >= status.applied)
})

test('node api: a request id applies once, even when it reaches the log twice', async (t) => {
  const h = cluster(['a', 'b', 'c'])
  h.run(400)
  const leader = leaderOf(h)
  const first = leader.propose(encodeJson({ op: 'put', key: 'k', value: 'first' }), 'req-7')
  // A retry of the same request after a leader change lands in the log again (here: twice directly).
  leader.raw.propose(encodeEnvelope({ requestId: 'req-7', command: encodeJson({ op: 'put', key: 'k', value: 'second' }) }))
  leader.process()
  h.run(100)
  t.alike(decodeJson(await first), { ok: true })
  for (const m of h.machines.values()) {
    t.is(m.read('k'), 'first', 'the duplicate was not applied')
    t.is(m.applied, 1)
  }
  const again = await leader.propose(encodeJson({ op: 'put', key: 'k', value: 'third' }), 'req-7')
  t.alike(decodeJson(again), { ok: true }, 'a late retry gets the first result without a new entry')
  t.is(h.machines.get('a')?.read('k'), 'first')
})

test('node api: without a leader a proposal fails with NO_LEADER after its bounded wait', async (t) => {
  const h = cluster(['a', 'b', 'c'])
  h.run(400)
  const leader = leaderOf(h)
  const lonely = [...h.nodes.values()].find((n) => n !== leader) as RaftNode
  const id = lonely.status().id
  h.network.partition([[id], [...h.nodes.keys()].filter((x) => x !== id)])
  h.run(300) // its leader lease runs out; pre-vote keeps it from becoming a candidate with a new term
  const failed = lonely.propose(encodeJson({ op: 'put', key: 'k', value: 'x' }), 'req-9')
  h.run(600)
  await t.exception(failed, RaftError)
  const err = await failed.catch((e: unknown) => e)
  t.ok(err instanceof RaftError && (err.code === 'NO_LEADER' || err.code === 'TIMEOUT'), `code ${(err as RaftError).code}`)
  t.is(lonely.pendingCount(), 0, 'nothing left waiting')
})

test('node api: a read barrier on a follower covers writes completed before it', async (t) => {
  const h = cluster(['a', 'b', 'c'])
  h.run(400)
  const leader = leaderOf(h)
  const put = leader.propose(encodeJson({ op: 'put', key: 'r', value: 'seen' }), 'req-r')
  h.run(50)
  await put
  const follower = [...h.nodes.entries()].find(([, n]) => n !== leader) as [string, RaftNode]
  const barrier = follower[1].readBarrier()
  h.run(100)
  const index = await barrier
  t.ok(index >= leader.status().commit - 1)
  t.is(h.machines.get(follower[0])?.read('r'), 'seen')
})

test('node api: a small state is snapshotted once its log outweighs it; a big one waits for the entry count', async (t) => {
  const h = cluster(['a'], { snapshotEntries: 1000, snapshotEntriesMin: 50 })
  h.run(400)
  const node = leaderOf(h)
  const storage = h.storages.get('a')!
  let requests = 0
  const put = async (key: string, value: string, count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const done = node.propose(encodeJson({ op: 'put', key, value }), `req-${++requests}`)
      h.run(5)
      await done
    }
  }
  await put('k', 'v', 60)
  const small = storage.snapshot().metadata.index
  t.ok(small > 0 && small <= 60, `a one-key state is snapshotted after ${small} entries, not 1000`)
  await put('big', 'x'.repeat(20_000), 1) // a state of ~20 KB, snapshotted 50 entries later
  await put('k', 'v', 60)
  const big = storage.snapshot().metadata.index
  t.ok(big > small, 'snapshotted with the big value')
  await put('k', 'v', 200)
  t.is(storage.snapshot().metadata.index, big, 'then 200 entries of ~50 bytes do not outweigh its ~20 KB: no new snapshot')
  await put('k', 'x'.repeat(200), 100)
  t.ok(storage.snapshot().metadata.index > big, '100 entries of ~250 bytes, which add up to more than its size, do')
})

test('node api: a snapshot taken in steps holds the state still; commits go on and apply once it is taken', async (t) => {
  let begun = 0
  const h = cluster(['a', 'b', 'c'], { snapshotEntries: 30, snapshotInSteps: true, onSnapshotWork: () => { begun++ } })
  h.run(400)
  const leader = leaderOf(h)
  const machine = [...h.nodes].map(([id, node]) => node === leader ? h.machines.get(id)! : null).find((m) => m !== null)!
  let requests = 0
  while (!leader.snapshotPending()) {
    const done = leader.propose(encodeJson({ op: 'put', key: `k${requests}`, value: 'v' }), `req-${++requests}`)
    h.run(20)
    await done
  }
  t.ok(begun >= 1, 'the host was told to take steps')
  const keys = machine.data.size
  const applied = machine.applied
  let written = false
  const during = leader.propose(encodeJson({ op: 'put', key: 'during', value: 'v' }), 'req-during')
  void during.then(() => { written = true })
  h.run(100)
  let read = false
  void leader.readBarrier().then(() => { read = true }) // asked after the write committed: must see it
  h.run(50)
  await Promise.resolve()
  const snapshotIndex = h.storages.get(leader.status().id)!.snapshot().metadata.index
  t.ok(leader.status().commit > snapshotIndex, 'the write committed meanwhile')
  t.is(machine.applied, applied, 'but the state held still')
  t.is(machine.read('during'), null)
  t.absent(written, 'so its proposer still waits')
  t.absent(read, 'and so does a read barrier')
  let steps = 0
  while (leader.snapshotStep()) steps++
  t.ok(steps >= keys, `taken piece by piece (${steps + 1} steps for ${keys} keys)`)
  t.alike(decodeJson(await during), { ok: true }, 'then the write applies and is answered')
  t.is(machine.read('during'), 'v')
  h.run(10)
  await Promise.resolve()
  t.ok(read, 'and the read barrier passes')
  const snapshot = h.storages.get(leader.status().id)!.snapshot()
  const state = c.state(0, snapshot.data.byteLength, snapshot.data)
  c.buffer.decode(state) // the sessions
  const pairs = decodeJson<Array<[string, string]>>(c.buffer.decode(state)!)
  t.is(pairs.length, keys, 'the snapshot is the state as it was when it began')
  t.absent(pairs.some(([key]) => key === 'during'))
  for (const node of h.nodes.values()) while (node.snapshotStep()) {}
  h.run(100)
  for (const m of h.machines.values()) t.is(m.read('during'), 'v', 'every node applied it')
})

test('node api: a snapshot from the leader is restored in steps; the old state serves until it is, entries after it wait', async (t) => {
  const h = cluster(['a', 'b', 'c'], { snapshotEntries: 20, snapshotInSteps: true })
  h.run(400)
  const leader = leaderOf(h)
  const [laggardId, laggard] = [...h.nodes].find(([, node]) => node !== leader)!
  const laggardMachine = h.machines.get(laggardId)!
  const others = (): RaftNode[] => [...h.nodes.values()].filter((node) => node !== laggard)
  const run = (units: number): void => {
    for (let u = 0; u < units; u++) {
      h.run(1)
      for (const node of others()) while (node.snapshotStep()) {}
    }
  }
  h.network.partition([[laggardId], [...h.nodes.keys()].filter((id) => id !== laggardId)])
  for (let i = 0; i < 60; i++) { // the others snapshot and compact past everything the laggard has
    const done = leader.propose(encodeJson({ op: 'put', key: `k${i}`, value: 'v' }), `req-${i}`)
    run(20)
    await done
  }
  h.network.heal()
  for (let u = 0; u < 3000 && !laggard.snapshotPending(); u++) run(1)
  t.ok(laggard.snapshotPending(), 'the laggard got the leader\'s snapshot and restores it in steps')
  t.is(laggardMachine.read('k59'), null, 'meanwhile its state is the one it had')
  const late = leader.propose(encodeJson({ op: 'put', key: 'late', value: 'v' }), 'req-late')
  run(50)
  await late
  t.is(laggardMachine.read('late'), null, 'an entry committed after the snapshot waits for it')
  let read = false
  void laggard.readBarrier().then(() => { read = true })
  run(30)
  await Promise.resolve()
  t.absent(read, 'and so does a read barrier')
  while (laggard.snapshotStep()) {}
  t.is(laggardMachine.read('k59'), 'v', 'restored')
  t.is(laggardMachine.read('late'), 'v', 'then the entry after it applied')
  run(30)
  await Promise.resolve()
  t.ok(read, 'and the read barrier passes')
})
