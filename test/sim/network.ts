// The simulator's network: an in-memory Transport per node that can drop, delay, duplicate, reorder
// and partition, driven only by the seeded Rng and the simulated clock (TigerBeetle's VOPR idea).
import { MessageType } from '../../metadata/raft/messages.js'
import type { Message, NodeId } from '../../metadata/raft/messages.js'
import type { Transport } from '../../metadata/raft/transport.js'
import type { Rng } from '../../metadata/raft/rng.js'

export interface NetworkFaults {
  dropRate: number // probability a message is lost
  duplicateRate: number // probability a message is delivered twice
  delayRate: number // probability of a long delay (which reorders)
  latencyMin: number // simulated time units
  latencyMax: number
  delayMax: number
}

export const CALM: NetworkFaults = { dropRate: 0, duplicateRate: 0, delayRate: 0, latencyMin: 1, latencyMax: 3, delayMax: 0 }

interface InFlight {
  at: number
  seq: number
  message: Message
}

export class SimNetwork {
  faults: NetworkFaults = CALM
  private queue: InFlight[] = []
  private readonly handlers = new Map<NodeId, (m: Message) => void>()
  private readonly cut = new Set<string>() // "a|b": a cannot reach b
  private seq = 0
  sent = 0
  delivered = 0
  snapshotChunksDelivered = 0

  constructor (private readonly rng: Rng, private readonly clock: () => number) {}

  endpoint (id: NodeId): Transport {
    return {
      send: (messages) => { for (const m of messages) this.enqueue(m) },
      onMessage: (handler) => { this.handlers.set(id, handler) }
    }
  }

  // A crashed node's handler is removed; messages to it are lost.
  detach (id: NodeId): void {
    this.handlers.delete(id)
  }

  private enqueue (m: Message): void {
    this.sent++
    if (this.cut.has(`${m.from}|${m.to}`)) return
    if (this.rng.chance(this.faults.dropRate)) return
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      let latency = this.faults.latencyMin + this.rng.nextInt(this.faults.latencyMax - this.faults.latencyMin + 1)
      if (this.faults.delayMax > 0 && this.rng.chance(this.faults.delayRate)) latency += this.rng.nextInt(this.faults.delayMax)
      this.queue.push({ at: this.clock() + latency, seq: this.seq++, message: m })
    }
  }

  // Splits the nodes into groups that cannot talk across (symmetric partition).
  partition (groups: NodeId[][]): void {
    this.cut.clear()
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue
        for (const x of a) for (const y of b) this.cut.add(`${x}|${y}`)
      }
    }
  }

  // One-way cut (asymmetric faults).
  cutLink (from: NodeId, to: NodeId): void {
    this.cut.add(`${from}|${to}`)
  }

  heal (): void {
    this.cut.clear()
  }

  // Delivers every message due by now; messages due at the same time go in random order.
  deliverDue (): number {
    const now = this.clock()
    const due: InFlight[] = []
    const rest: InFlight[] = []
    for (const f of this.queue) (f.at <= now ? due : rest).push(f)
    if (due.length === 0) return 0
    this.queue = rest
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.nextInt(i + 1)
      const t = due[i] as InFlight
      due[i] = due[j] as InFlight
      due[j] = t
    }
    for (const f of due) {
      // A partition that starts while a message is in flight also stops it.
      if (this.cut.has(`${f.message.from}|${f.message.to}`)) continue
      const handler = this.handlers.get(f.message.to)
      if (handler === undefined) continue
      this.delivered++
      if (f.message.type === MessageType.Snap) this.snapshotChunksDelivered++
      handler(f.message)
    }
    return due.length
  }

  inFlight (): number {
    return this.queue.length
  }
}
