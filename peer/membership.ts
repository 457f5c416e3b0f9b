// The leader's membership decisions, one change at a time: expel removed peers, admit newly connected
// peers as learners (they catch up from a snapshot and the log without slowing commits), then keep the
// voters at the target count (voter-policy.ts). A leader that was itself removed hands leadership to a
// healthy voter first: it cannot remove itself and keep leading. Pure: the daemon supplies the view.
import { ConfChangeType } from '../metadata/raft/messages.js'
import type { ConfChange, ConfState, NodeId } from '../metadata/raft/messages.js'
import { nextVoterChange } from '../metadata/raft/voter-policy.js'
import type { MemberHealth } from '../metadata/raft/voter-policy.js'

export interface MembershipView {
  self: NodeId // the leader
  conf: ConfState
  /** Peers with an admitted, answering connection to the leader. */
  up: readonly NodeId[]
  removed: ReadonlySet<NodeId>
  health: ReadonlyMap<NodeId, MemberHealth>
}

export type MembershipStep = { change: ConfChange } | { transferTo: NodeId } | null

export function nextMembershipStep (view: MembershipView): MembershipStep {
  const { conf, removed, self } = view
  const members = [...conf.voters, ...conf.learners]
  const first = (ids: NodeId[]): NodeId | undefined => ids.slice().sort()[0]
  if (removed.has(self)) {
    const successor = first(conf.voters.filter((id) => id !== self && !removed.has(id) && view.health.get(id)?.alive === true && view.health.get(id)?.caughtUp === true))
    return successor === undefined ? null : { transferTo: successor }
  }
  const expelled = first(members.filter((id) => removed.has(id)))
  if (expelled !== undefined) return { change: { type: ConfChangeType.Remove, nodeId: expelled } }
  const newcomer = first(view.up.filter((id) => !members.includes(id) && !removed.has(id) && id !== self))
  if (newcomer !== undefined) return { change: { type: ConfChangeType.AddLearner, nodeId: newcomer } }
  const change = nextVoterChange(conf, self, view.health)
  return change === null ? null : { change }
}
