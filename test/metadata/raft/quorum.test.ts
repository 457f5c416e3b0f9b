// Proves the majority arithmetic: the sort-based committed index and the vote tally agree with naive
// reference definitions on thousands of random inputs (etcd quorum/quick_test.go), plus edge cases.
import test from 'brittle'
import { committedIndex, hasQuorum, majority, voteResult } from '../../../metadata/raft/quorum.js'
import { Rng } from '../../../metadata/raft/rng.js'

function naiveCommitted (matches: number[]): number {
  // The largest i such that a majority has match ≥ i.
  let best = 0
  for (const candidate of matches) {
    const count = matches.filter((m) => m >= candidate).length
    if (count >= Math.floor(matches.length / 2) + 1 && candidate > best) best = candidate
  }
  return best
}

test('quorum: committed index equals the naive definition (property test)', (t) => {
  const rng = new Rng(42)
  let mismatches = 0
  for (let run = 0; run < 5000; run++) {
    const n = 1 + rng.nextInt(9)
    const voters = Array.from({ length: n }, (_, i) => `v${i}`)
    const matches = voters.map(() => rng.nextInt(20))
    const got = committedIndex(voters, (id) => matches[Number(id.slice(1))] ?? 0)
    if (got !== naiveCommitted(matches)) mismatches++
  }
  t.is(mismatches, 0)
  t.is(committedIndex([], () => 5), 0, 'no voters, nothing committed')
})

test('quorum: vote results agree with counting (property test)', (t) => {
  const rng = new Rng(7)
  let mismatches = 0
  for (let run = 0; run < 5000; run++) {
    const n = 1 + rng.nextInt(9)
    const voters = Array.from({ length: n }, (_, i) => `v${i}`)
    const votes = new Map<string, boolean>()
    for (const id of voters) {
      const roll = rng.nextInt(3)
      if (roll < 2) votes.set(id, roll === 0)
    }
    votes.set('stranger', true) // votes from non-voters never count
    const yes = voters.filter((id) => votes.get(id) === true).length
    const no = voters.filter((id) => votes.get(id) === false).length
    const need = Math.floor(n / 2) + 1
    const expected = yes >= need ? 'won' : n - no < need ? 'lost' : 'pending'
    if (voteResult(voters, votes) !== expected) mismatches++
  }
  t.is(mismatches, 0)
  t.is(majority(4), 3)
  t.is(majority(5), 3)
  t.ok(hasQuorum(['a', 'b', 'c'], (id) => id !== 'c'))
  t.absent(hasQuorum(['a', 'b', 'c'], (id) => id === 'a'))
  t.absent(hasQuorum([], () => true))
})
