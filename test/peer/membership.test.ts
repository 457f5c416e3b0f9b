// Proves the leader's membership decisions (peer/membership.ts), one step at a time: removed members
// are expelled before anything else, a removed leader hands leadership to a healthy caught-up voter,
// newly connected peers become learners, and then the voter policy promotes and trims. A seeded
// property test over random views checks that a removed peer is never added or promoted, that the
// leader never removes itself, and that every step is exactly one of the allowed kinds.
import test from 'brittle'
import { ConfChangeType } from '../../metadata/raft/messages.js'
import type { ConfState } from '../../metadata/raft/messages.js'
import type { MemberHealth } from '../../metadata/raft/voter-policy.js'
import { nextMembershipStep } from '../../peer/membership.js'
import type { MembershipView } from '../../peer/membership.js'
import { seededRandom } from '../helpers/seeded-random.js'

const SEED = Number(process.env.SEED ?? 7)

function view (conf: ConfState, options: { self?: string, up?: string[], removed?: string[], dead?: string[], behind?: string[] } = {}): MembershipView {
  const ids = new Set([...conf.voters, ...conf.learners, ...(options.up ?? [])])
  const health = new Map<string, MemberHealth>([...ids].map((id) => [id, {
    alive: !(options.dead ?? []).includes(id),
    caughtUp: !(options.behind ?? []).includes(id)
  }]))
  return { self: options.self ?? 'a', conf, up: options.up ?? [], removed: new Set(options.removed ?? []), health }
}

test('membership: a newly connected peer becomes a learner, lowest id first', (t) => {
  const conf = { voters: ['a', 'b', 'c'], learners: [] }
  t.alike(nextMembershipStep(view(conf, { up: ['b', 'c', 'e', 'd'] })), { change: { type: ConfChangeType.AddLearner, nodeId: 'd' } })
  t.is(nextMembershipStep(view(conf, { up: ['b', 'c'] })), null, 'members already in the group are not added again')
  t.is(nextMembershipStep(view(conf, { up: ['a', 'b', 'c'] })), null, 'the leader itself is never a newcomer')
  t.is(nextMembershipStep(view(conf, { up: ['b', 'c', 'd'], removed: ['d'] })), null, 'a removed peer is never added')
  t.alike(nextMembershipStep(view({ voters: ['a'], learners: ['b'] }, { up: ['b', 'c'], behind: ['b'] })),
    { change: { type: ConfChangeType.AddLearner, nodeId: 'c' } }, 'newcomers come before promotions')
})

test('membership: removed members are removed first', (t) => {
  t.alike(nextMembershipStep(view({ voters: ['a', 'b', 'c'], learners: ['d'] }, { up: ['b', 'c', 'd', 'e'], removed: ['d', 'c'] })),
    { change: { type: ConfChangeType.Remove, nodeId: 'c' } }, 'before adding e, the removed voter c goes')
  t.alike(nextMembershipStep(view({ voters: ['a', 'b', 'c'], learners: ['d'] }, { up: ['b', 'c', 'd'], removed: ['d'] })),
    { change: { type: ConfChangeType.Remove, nodeId: 'd' } }, 'a removed learner goes too')
  t.alike(nextMembershipStep(view({ voters: ['a', 'b'], learners: ['c'] }, { up: ['b', 'c'], removed: ['b'] })),
    { change: { type: ConfChangeType.Remove, nodeId: 'b' } }, 'even when a promotion is due')
  t.is(nextMembershipStep(view({ voters: ['a', 'b', 'c'], learners: [] }, { up: ['b', 'c'], removed: ['x'] })), null,
    'a removed peer that is no member needs no change')
})

test('membership: a removed leader transfers leadership to a healthy caught-up voter', (t) => {
  const conf = { voters: ['a', 'b', 'c', 'd'], learners: ['e'] }
  t.alike(nextMembershipStep(view(conf, { up: ['b', 'c', 'd', 'e'], removed: ['a'] })), { transferTo: 'b' })
  t.alike(nextMembershipStep(view(conf, { up: ['c', 'd', 'e'], removed: ['a'], dead: ['b'] })), { transferTo: 'c' }, 'not to a dead voter')
  t.alike(nextMembershipStep(view(conf, { up: ['b', 'c', 'd', 'e'], removed: ['a'], behind: ['b', 'c'] })), { transferTo: 'd' }, 'not to one that is behind')
  t.is(nextMembershipStep(view({ voters: ['a', 'b'], learners: ['e'] }, { up: ['e'], removed: ['a'], dead: ['b'] })), null,
    'never to a learner; with no candidate it waits')
})

test('membership: a removed leader does not hand leadership to another removed voter', (t) => {
  const conf = { voters: ['a', 'b', 'c', 'd'], learners: ['e'] }
  t.alike(nextMembershipStep(view(conf, { up: ['b', 'c', 'd', 'e'], removed: ['a', 'b'] })), { transferTo: 'c' })
})

test('membership: then the voter policy promotes caught-up learners and trims surplus voters', (t) => {
  t.alike(nextMembershipStep(view({ voters: ['a'], learners: ['b', 'c'] }, { up: ['b', 'c'] })), { change: { type: ConfChangeType.Promote, nodeId: 'b' } })
  t.is(nextMembershipStep(view({ voters: ['a'], learners: ['b'] }, { up: ['b'], behind: ['b'] })), null, 'a learner that is behind waits')
  t.alike(nextMembershipStep(view({ voters: ['a', 'b', 'c', 'd'], learners: [] }, { up: ['b', 'c', 'd'] })), { change: { type: ConfChangeType.Remove, nodeId: 'b' } },
    '4 voters: one surplus voter is removed, never the leader')
  t.alike(nextMembershipStep(view({ voters: ['a', 'b', 'c'], learners: ['d'] }, { up: ['b', 'd'], dead: ['c'] })), { change: { type: ConfChangeType.Remove, nodeId: 'c' } },
    'a dead voter is replaced when a learner can take its place')
  t.is(nextMembershipStep(view({ voters: ['a', 'b', 'c'], learners: [] }, { up: ['b', 'c'] })), null, 'a stable group of 3 needs nothing')
})

test('membership: seeded random views never add a removed peer, never remove the leader, one step at a time', (t) => {
  const random = seededRandom(SEED)
  const int = (bound: number): number => Math.floor(random() * bound)
  const pool = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
  const failures: string[] = []
  const kinds = { add: 0, promote: 0, remove: 0, transfer: 0, none: 0 }
  for (let i = 0; i < 5_000; i++) {
    const shuffled = pool.slice().sort(() => random() - 0.5)
    const voters = shuffled.slice(0, 1 + int(5))
    const learners = shuffled.slice(voters.length, voters.length + int(3))
    const self = voters[int(voters.length)]!
    const pick = (p: number): string[] => pool.filter(() => random() < p)
    const removed = pick(0.2)
    const dead = pick(0.2).filter((id) => id !== self)
    const up = pool.filter((id) => id !== self && !dead.includes(id) && random() < 0.8)
    const v = view({ voters, learners }, { self, up, removed, dead, behind: pick(0.2).filter((id) => id !== self) })
    const step = nextMembershipStep(v)
    const where = `seed ${SEED} case ${i}: ${JSON.stringify({ voters, learners, self, removed, dead, up })} → ${JSON.stringify(step)}`
    if (step === null) { kinds.none++; continue }
    if ('transferTo' in step) {
      kinds.transfer++
      const target = step.transferTo
      if (!removed.includes(self)) failures.push(`transfer by a leader that was not removed: ${where}`)
      if (!voters.includes(target) || target === self || dead.includes(target) || removed.includes(target)) failures.push(`bad transfer target: ${where}`)
      continue
    }
    const { type, nodeId } = step.change
    if (removed.includes(self)) failures.push(`a removed leader changed the configuration: ${where}`)
    if (type === ConfChangeType.AddLearner) {
      kinds.add++
      if (removed.includes(nodeId) || voters.includes(nodeId) || learners.includes(nodeId) || !up.includes(nodeId)) failures.push(`bad add: ${where}`)
    } else if (type === ConfChangeType.Promote) {
      kinds.promote++
      if (removed.includes(nodeId) || !learners.includes(nodeId) || dead.includes(nodeId)) failures.push(`bad promotion: ${where}`)
    } else if (type === ConfChangeType.Remove) {
      kinds.remove++
      if (nodeId === self) failures.push(`the leader removed itself: ${where}`)
      if (![...voters, ...learners].includes(nodeId)) failures.push(`removed a non-member: ${where}`)
    } else {
      failures.push(`unexpected change type: ${where}`)
    }
    const removedMember = [...voters, ...learners].some((id) => removed.includes(id))
    if (removedMember && !(type === ConfChangeType.Remove && removed.includes(nodeId))) failures.push(`a removed member was not expelled first: ${where}`)
  }
  t.comment(`steps: ${JSON.stringify(kinds)}`)
  t.alike(failures.slice(0, 5), [], 'every step is allowed')
  t.ok(Object.values(kinds).every((count) => count > 0), 'every kind of step was exercised')
})
