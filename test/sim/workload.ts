// The simulator's clients: each has at most one operation outstanding against a random node — a put,
// a get through the log, or a get served locally after a ReadIndex barrier — and records call and
// return times for the linearizability check. A put whose outcome is unknown (timeout, crash) stays in
// the history with return time Infinity; a failed get is dropped (it had no effect).
import type { NodeId } from '../../metadata/raft/messages.js'
import type { Operation, RegisterInput, RegisterOutput } from './linearizability.js'
import type { SimCluster, SimNode } from './cluster.js'
import { decodeJson, encodeJson } from './kv.js'

export const KEYS = ['a', 'b', 'c']

type Op = Operation<RegisterInput, RegisterOutput>

class Client {
  busy = false
  sequence = 0
  constructor (readonly id: number) {}
}

export class Workload {
  readonly history: Op[] = []
  private readonly clients: Client[]
  completed = 0
  failed = 0

  constructor (private readonly cluster: SimCluster, clientCount: number, private readonly issueRate: number) {
    this.clients = Array.from({ length: clientCount }, (_, i) => new Client(i))
  }

  idle (): boolean {
    return this.clients.every((c) => !c.busy)
  }

  step (issue: boolean): void {
    if (!issue) return
    for (const client of this.clients) {
      if (client.busy || !this.cluster.rng.chance(this.issueRate)) continue
      const live = this.cluster.live()
      if (live.length === 0) return
      this.issue(client, this.cluster.rng.pick(live))
    }
  }

  private issue (client: Client, sim: SimNode): void {
    const rng = this.cluster.rng
    const key = rng.pick(KEYS)
    const roll = rng.nextFloat()
    client.busy = true
    client.sequence++
    const requestId = `c${client.id}-${client.sequence}`
    if (roll < 0.5) this.put(client, sim, key, requestId)
    else if (roll < 0.75) this.logGet(client, sim, key, requestId)
    else this.barrierGet(client, sim, key)
  }

  private finish (client: Client, op: Op | null, ok: boolean): void {
    client.busy = false
    if (ok) this.completed++
    else this.failed++
    if (op !== null) op.ret = ok ? this.cluster.now : op.ret
  }

  private put (client: Client, sim: SimNode, key: string, requestId: string): void {
    const value = `v${client.id}.${client.sequence}`
    const op: Op = { client: client.id, call: this.cluster.now, ret: Infinity, input: { kind: 'put', key, value }, output: { ok: true } }
    this.history.push(op)
    this.cluster.guard(sim, (node) => node.proposeCallback(encodeJson({ op: 'put', key, value }), requestId, (err) => this.finish(client, op, err === null)))
    if (sim.node === null && client.busy) this.finish(client, op, false)
  }

  private logGet (client: Client, sim: SimNode, key: string, requestId: string): void {
    const call = this.cluster.now
    this.cluster.guard(sim, (node) => node.proposeCallback(encodeJson({ op: 'get', key }), requestId, (err, result) => {
      if (err !== null || result === null) return this.finish(client, null, false)
      const value = decodeJson<{ value: string | null }>(result).value
      this.history.push({ client: client.id, call, ret: this.cluster.now, input: { kind: 'get', key }, output: { value } })
      this.finish(client, null, true)
    }))
    if (sim.node === null && client.busy) this.finish(client, null, false)
  }

  private barrierGet (client: Client, sim: SimNode, key: string): void {
    const call = this.cluster.now
    this.cluster.guard(sim, (node) => node.readBarrierCallback((err) => {
      if (err !== null) return this.finish(client, null, false)
      // The barrier resolved inside this node's Ready loop: its machine has applied ≥ the read index.
      this.history.push({ client: client.id, call, ret: this.cluster.now, input: { kind: 'get', key }, output: { value: sim.machine.read(key) } })
      this.finish(client, null, true)
    }))
    if (sim.node === null && client.busy) this.finish(client, null, false)
  }
}

export function describeNode (id: NodeId, cluster: SimCluster): string {
  const sim = cluster.nodes.get(id)
  if (sim === undefined || sim.node === null) return `${id}:down`
  const s = sim.node.raw.status()
  return `${id}:${s.role[0]}${s.term} c${s.commit} a${s.applied} l${s.lastIndex} f${s.firstIndex}`
}
