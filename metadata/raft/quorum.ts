// Majority arithmetic (etcd quorum/majority.go), pure. swarmfs changes membership one server at a
// time (thesis §4.1), so every decision is a simple majority of the current voters; there are no joint
// configurations.
import { assert } from './assert.js'
import type { NodeId } from './messages.js'

export type VoteResult = 'pending' | 'lost' | 'won'

export function majority (voterCount: number): number {
  assert(Number.isSafeInteger(voterCount) && voterCount >= 0, 'voter count must be a non-negative integer')
  return Math.floor(voterCount / 2) + 1
}

// The largest index acknowledged by a majority of voters (paper §5.3: an entry is committed once a
// majority stores it). An empty voter set commits nothing. matchOf returns 0 for unknown voters.
export function committedIndex (voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0
  const matches = voters.map(matchOf).sort((a, b) => b - a)
  const index = matches[majority(voters.length) - 1]
  assert(index !== undefined && index >= 0, 'committed index must exist for a non-empty voter set')
  return index
}

// Whether the votes so far win, lose, or cannot yet decide the election (paper §5.2).
export function voteResult (voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won' // etcd convention: an empty config wins trivially; callers never campaign with one
  let granted = 0
  let rejected = 0
  for (const id of voters) {
    const vote = votes.get(id)
    if (vote === true) granted++
    else if (vote === false) rejected++
  }
  const need = majority(voters.length)
  if (granted >= need) return 'won'
  if (voters.length - rejected < need) return 'lost'
  return 'pending'
}

// Whether a majority of voters satisfy the predicate (check-quorum activity, ReadIndex acks).
export function hasQuorum (voters: readonly NodeId[], predicate: (id: NodeId) => boolean): boolean {
  let count = 0
  for (const id of voters) if (predicate(id)) count++
  return voters.length > 0 && count >= majority(voters.length)
}
