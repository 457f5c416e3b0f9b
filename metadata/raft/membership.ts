// Cluster membership, changed one server at a time (thesis §4.1, hashicorp's membership.md):
//  - a configuration takes effect on a server as soon as its entry is in that server's log — appended,
//    not committed — so the history must be able to roll back when a conflicting suffix is truncated;
//  - at most one configuration change is uncommitted at any time (the leader refuses a second), and a
//    new leader must first commit an entry of its own term (the fix from Ongaro's raft-dev post of
//    2015, "bug in single-server membership changes");
//  - changes are: add a learner (non-voting, receives the log), promote a learner to voter, remove a
//    member. Any two majorities of consecutive configurations then overlap, so no two leaders of one
//    term can arise from the change.
import { assert } from './assert.js'
import { ConfChangeType, confChangeEntryCodec } from './messages.js'
import type { ConfChange, ConfState, Entry, NodeId } from './messages.js'
import { RaftError } from './errors.js'

interface ConfigPoint {
  index: number // log index of the entry that introduced this configuration (the snapshot index for the base)
  conf: ConfState
}

export function cloneConf (conf: ConfState): ConfState {
  return { voters: conf.voters.slice(), learners: conf.learners.slice() }
}

export function isMember (conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id)
}

// The configuration a change produces, or RaftError INVALID_CONF_CHANGE.
export function applyConfChange (conf: ConfState, change: ConfChange): ConfState {
  const next = cloneConf(conf)
  switch (change.type) {
    case ConfChangeType.AddLearner:
      if (isMember(conf, change.nodeId)) throw new RaftError('INVALID_CONF_CHANGE', `${change.nodeId} is already a member`)
      next.learners.push(change.nodeId)
      break
    case ConfChangeType.Promote:
      if (!conf.learners.includes(change.nodeId)) throw new RaftError('INVALID_CONF_CHANGE', `${change.nodeId} is not a learner`)
      next.learners = next.learners.filter((id) => id !== change.nodeId)
      next.voters.push(change.nodeId)
      break
    case ConfChangeType.Remove:
      if (!isMember(conf, change.nodeId)) throw new RaftError('INVALID_CONF_CHANGE', `${change.nodeId} is not a member`)
      next.voters = next.voters.filter((id) => id !== change.nodeId)
      next.learners = next.learners.filter((id) => id !== change.nodeId)
      if (next.voters.length === 0) throw new RaftError('INVALID_CONF_CHANGE', 'cannot remove the last voter')
      break
    case ConfChangeType.Bootstrap:
      throw new RaftError('INVALID_CONF_CHANGE', 'bootstrap is not a runtime change')
  }
  next.voters.sort()
  next.learners.sort()
  return next
}

// The history of configurations in the log after the last snapshot: the base (from the snapshot) and
// one point per ConfChange entry. current() is the latest, which is the one in force.
export class ConfigHistory {
  private points: ConfigPoint[]

  constructor (base: ConfState, baseIndex: number) {
    this.points = [{ index: baseIndex, conf: cloneConf(base) }]
  }

  current (): ConfState {
    return (this.points[this.points.length - 1] as ConfigPoint).conf
  }

  // Index of the entry that introduced the current configuration.
  currentIndex (): number {
    return (this.points[this.points.length - 1] as ConfigPoint).index
  }

  // Entries were written to the log starting at entries[0].index: forget configurations from the
  // replaced suffix, then adopt the ones the new entries carry.
  onWritten (entries: readonly Entry[]): boolean {
    const first = entries[0]
    if (first === undefined) return false
    const before = this.current()
    this.truncateFrom(first.index)
    for (const e of entries) {
      if (e.type !== 1) continue // EntryType.ConfChange
      const decoded = confChangeEntryCodec.decode(e.data)
      this.points.push({ index: e.index, conf: cloneConf(decoded.conf) })
    }
    return before !== this.current()
  }

  private truncateFrom (index: number): void {
    while (this.points.length > 1 && (this.points[this.points.length - 1] as ConfigPoint).index >= index) this.points.pop()
  }

  // A snapshot replaced the log: its configuration becomes the base.
  reset (conf: ConfState, index: number): void {
    this.points = [{ index, conf: cloneConf(conf) }]
  }

  // The configuration in force at log index `index` (for snapshot metadata).
  at (index: number): ConfState {
    let found: ConfigPoint | undefined
    for (const p of this.points) if (p.index <= index) found = p
    assert(found !== undefined, `no configuration known at index ${index}`)
    return found.conf
  }

  // Points at or below a compaction index collapse into the base.
  compactTo (index: number): void {
    while (this.points.length > 1 && (this.points[1] as ConfigPoint).index <= index) this.points.shift()
  }

  checkInvariants (): void {
    for (let i = 1; i < this.points.length; i++) {
      assert((this.points[i] as ConfigPoint).index > (this.points[i - 1] as ConfigPoint).index, 'config history: indexes must increase')
    }
    const conf = this.current()
    for (const id of conf.voters) assert(!conf.learners.includes(id), `config: ${id} is both voter and learner`)
  }
}
