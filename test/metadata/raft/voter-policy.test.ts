// Proves the voter policy keeps voters at 3 or 5, one change at a time: dead voters are removed,
// caught-up learners promoted up to the target, surplus voters removed, and the leader never touched.
import test from 'brittle'
import { nextVoterChange, targetVoters } from '../../../metadata/raft/voter-policy.js'
import { ConfChangeType } from '../../../metadata/raft/messages.js'
import type { MemberHealth } from '../../../metadata/raft/voter-policy.js'

function health (alive: string[], caughtUp: string[] = alive): Map<string, MemberHealth> {
  const ids = new Set([...alive, ...caughtUp, 'a', 'b', 'c', 'd', 'e', 'f', 'g'])
  return new Map([...ids].map((id) => [id, { alive: alive.includes(id), caughtUp: caughtUp.includes(id) }]))
}

test('voter policy: targets 1, 3 or 5 voters', (t) => {
  t.alike([1, 2, 3, 4, 5, 9].map(targetVoters), [1, 2, 3, 3, 5, 5])
})

test('voter policy: promote, remove dead, remove surplus, never the leader', (t) => {
  t.alike(nextVoterChange({ voters: ['a'], learners: ['b', 'c'] }, 'a', health(['a', 'b', 'c'])), { type: ConfChangeType.Promote, nodeId: 'b' })
  t.is(nextVoterChange({ voters: ['a'], learners: ['b'] }, 'a', health(['a', 'b'], ['a'])), null, 'a learner that is behind waits')
  t.alike(nextVoterChange({ voters: ['a', 'b', 'c'], learners: ['d'] }, 'a', health(['a', 'b', 'd'])), { type: ConfChangeType.Remove, nodeId: 'c' })
  t.alike(nextVoterChange({ voters: ['a', 'b', 'c', 'd'], learners: [] }, 'a', health(['a', 'b', 'c', 'd'])), { type: ConfChangeType.Remove, nodeId: 'b' })
  t.is(nextVoterChange({ voters: ['a', 'b', 'c'], learners: [] }, 'a', health(['a', 'b', 'c'])), null, 'stable at 3')
  t.alike(nextVoterChange({ voters: ['a', 'b', 'c'], learners: ['d', 'e'] }, 'c', health(['a', 'b', 'c', 'd', 'e'])), { type: ConfChangeType.Promote, nodeId: 'd' })
})
