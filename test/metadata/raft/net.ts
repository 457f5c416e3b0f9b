// A synchronous in-process network of RawNodes over MemoryStorage for the paper and scenario tests
// (etcd raft_test.go's `network`): deliver() runs every node's Ready loop and delivers messages until
// the cluster is quiet; cut/isolate/ignore model faults. No timers, no randomness beyond seeded Rngs.
import { MemoryStorage } from '../../../metadata/raft/memory-storage.js'
import { RawNode } from '../../../metadata/raft/raw-node.js'
import type { RawNodeOptions, ReadState } from '../../../metadata/raft/raw-node.js'
import { Rng } from '../../../metadata/raft/rng.js'
import { EntryType, MessageType } from '../../../metadata/raft/messages.js'
import type { Entry, Message, NodeId } from '../../../metadata/raft/messages.js'

export interface NetNode {
  raw: RawNode
  storage: MemoryStorage
  applied: Entry[]
  readStates: ReadState[]
}

type Options = Partial<Omit<RawNodeOptions, 'id' | 'storage' | 'rng'>>

const DELIVER_ROUNDS_MAX = 10_000

export class Net {
  readonly nodes = new Map<NodeId, NetNode>()
  private readonly cuts = new Set<string>()
  readonly ignored = new Set<MessageType>()
  readonly trace: Message[] = []
  onSend: ((m: Message) => boolean) | null = null // return false to drop

  constructor (ids: NodeId[], readonly options: Options = {}, seed = 1) {
    for (const [i, id] of ids.entries()) this.add(id, MemoryStorage.bootstrap(ids), seed + i)
  }

  add (id: NodeId, storage: MemoryStorage, seed: number): NetNode {
    const raw = new RawNode({ electionTicks: 10, heartbeatTicks: 1, ...this.options, id, storage, rng: new Rng(seed) })
    const node: NetNode = { raw, storage, applied: [], readStates: [] }
    this.nodes.set(id, node)
    return node
  }

  get (id: NodeId): NetNode {
    const node = this.nodes.get(id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return node
  }

  raft (id: NodeId): RawNode['raft'] {
    return this.get(id).raw.raft
  }

  cut (a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}|${b}`)
    this.cuts.add(`${b}|${a}`)
  }

  isolate (id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other)
  }

  recover (): void {
    this.cuts.clear()
    this.ignored.clear()
    this.onSend = null
  }

  // Runs one node's Ready loop once, returning the messages it wants sent.
  private drain (node: NetNode): Message[] {
    const out: Message[] = []
    while (node.raw.hasReady()) {
      const rd = node.raw.ready()
      out.push(...rd.messages)
      if (rd.snapshot !== null) node.storage.applySnapshot(rd.snapshot)
      node.storage.append(rd.entries)
      if (rd.hardState !== null) node.storage.setHardState(rd.hardState)
      if (rd.mustSync) node.storage.sync()
      out.push(...rd.messagesAfterPersist)
      node.applied.push(...rd.committedEntries)
      node.readStates.push(...rd.readStates)
      node.raw.advance(rd)
    }
    return out
  }

  // Delivers until no node has anything to send.
  deliver (): void {
    for (let round = 0; round < DELIVER_ROUNDS_MAX; round++) {
      const messages: Message[] = []
      for (const node of this.nodes.values()) messages.push(...this.drain(node))
      if (messages.length === 0) return
      for (const m of messages) this.route(m)
    }
    throw new Error('network did not quiesce')
  }

  private route (m: Message): void {
    this.trace.push(m)
    if (this.cuts.has(`${m.from}|${m.to}`) || this.ignored.has(m.type)) return
    if (this.onSend !== null && !this.onSend(m)) return
    const target = this.nodes.get(m.to)
    if (target !== undefined) target.raw.step(m)
  }

  campaign (id: NodeId): void {
    this.get(id).raw.campaign()
    this.deliver()
  }

  tick (id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.get(id).raw.tick()
  }

  tickAll (times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const node of this.nodes.values()) node.raw.tick()
      this.deliver()
    }
  }

  propose (id: NodeId, text: string): void {
    this.get(id).raw.propose(new TextEncoder().encode(text))
    this.deliver()
  }

  appliedText (id: NodeId): string[] {
    return this.get(id).applied.filter((e) => e.type === EntryType.Normal).map((e) => new TextDecoder().decode(e.data))
  }

  leaders (): NodeId[] {
    return [...this.nodes.keys()].filter((id) => this.raft(id).role === 'leader')
  }
}

export function text (s: string): Uint8Array {
  return new TextEncoder().encode(s)
}
