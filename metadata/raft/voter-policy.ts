// Keeps the number of voters at 3 or 5 (or 1/2 members' worth when the cluster is tiny), one
// configuration change at a time (thesis §4.1): first remove dead voters that can be replaced, then
// promote caught-up learners while voters are below target, then demote (remove) surplus voters.
// Pure: the leader calls it with what it knows and proposes the returned change, if any.
import { ConfChangeType } from './messages.js'
import type { ConfChange, ConfState, NodeId } from './messages.js'

export interface MemberHealth {
  alive: boolean // the failure detector considers it up
  caughtUp: boolean // its log is close to the leader's (match within a small lag)
}

// The voter count for a number of healthy members: odd, at most 5 (more voters slow commits without
// adding useful fault tolerance for a metadata group), never more than are available.
export function targetVoters (healthyMembers: number): number {
  if (healthyMembers >= 5) return 5
  if (healthyMembers >= 3) return 3
  return Math.max(1, healthyMembers)
}

export function nextVoterChange (conf: ConfState, leader: NodeId, health: ReadonlyMap<NodeId, MemberHealth>): ConfChange | null {
  const isHealthy = (id: NodeId): boolean => health.get(id)?.alive === true
  const members = [...conf.voters, ...conf.learners]
  const target = targetVoters(members.filter(isHealthy).length)
  const deadVoters = conf.voters.filter((id) => id !== leader && !isHealthy(id))
  const readyLearners = conf.learners.filter((id) => isHealthy(id) && health.get(id)?.caughtUp === true)
  const first = <T>(items: T[]): T | undefined => items.slice().sort()[0]
  // A dead voter is removed when a caught-up learner can replace it, or when there are more voters
  // than the target anyway; otherwise removing it would only shrink the group's fault tolerance.
  const dead = first(deadVoters)
  const learner = first(readyLearners)
  if (dead !== undefined && (learner !== undefined || conf.voters.length > target)) {
    return { type: ConfChangeType.Remove, nodeId: dead }
  }
  if (conf.voters.length < target && learner !== undefined) return { type: ConfChangeType.Promote, nodeId: learner }
  if (conf.voters.length > target) {
    const surplus = first(conf.voters.filter((id) => id !== leader))
    if (surplus !== undefined) return { type: ConfChangeType.Remove, nodeId: surplus }
  }
  return null
}
