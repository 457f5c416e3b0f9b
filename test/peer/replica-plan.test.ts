// Proves the repair and rebalance plan for one chunk (peer/replica-plan.ts): a chunk short of live
// copies is copied to the best-ranked up peers that lack it — those that said they are short of room
// last — and its dead holders are forgotten; a newcomer that ranks high takes the chunk from the worst
// holder, unless it is short of room; every peer names the same coordinator; with capacities, the
// weighted ranking decides all of it.
import test from 'brittle'
import { randomBytes } from '../../native/crypto.js'
import { coordinatorOf, planChunk } from '../../peer/replica-plan.js'
import type { ChunkView } from '../../peer/replica-plan.js'
import { rankPeers } from '../../peer/placement.js'

const members = Array.from({ length: 5 }, (_, i) => `${i}`.repeat(64))

function view (chunk: Uint8Array, changes: Partial<ChunkView>): ChunkView {
  return { chunk, holders: [], members, up: new Set(members), dead: new Set(), newcomers: new Set(), replicas: 3, ...changes }
}

test('repair copies to the best-ranked peers lacking the chunk, those short of room last', (t) => {
  const chunk = randomBytes(32)
  const ranked = rankPeers(chunk, members)
  const [h1, h2, dead] = [ranked[0]!, ranked[1]!, ranked[2]!]
  const base = view(chunk, { holders: [h1, h2, dead], up: new Set(members.filter((id) => id !== dead)), dead: new Set([dead]) })
  t.alike(planChunk(base), { copyTo: [ranked[3]], forget: [dead] }, 'the next in the ranking, the dead holder forgotten')
  t.alike(planChunk({ ...base, short: new Set([ranked[3]!]) }), { copyTo: [ranked[4]], forget: [dead] }, 'passing over a peer short of room')
  t.alike(planChunk({ ...base, short: new Set([ranked[3]!, ranked[4]!]) }), { copyTo: [ranked[3]], forget: [dead] }, 'all short of room: the ranking still decides')
  t.is(coordinatorOf(base), h1, 'the best-ranked live holder coordinates')
})

test('a newcomer that ranks high takes the chunk from the worst holder, unless it is short of room', (t) => {
  const chunk = randomBytes(32)
  const ranked = rankPeers(chunk, members)
  const newcomer = ranked[0]!
  const holders = [ranked[1]!, ranked[2]!, ranked[3]!]
  const base = view(chunk, { holders, newcomers: new Set([newcomer]) })
  t.alike(planChunk(base), { copyTo: [newcomer], forget: [ranked[3]] }, 'moved to the newcomer')
  t.alike(planChunk({ ...base, short: new Set([newcomer]) }), { copyTo: [], forget: [] }, 'not onto a newcomer short of room')
})

test('with capacities, the weighted ranking decides the coordinator, repairs and rebalancing', (t) => {
  const weights = new Map(members.map((id, i) => [id, 2 ** i])) // 1, 2, 4, 8, 16
  const weightOf = (id: string): number => weights.get(id)!
  let differs = 0
  for (let i = 0; i < 50; i++) {
    const chunk = randomBytes(32)
    const ranked = rankPeers(chunk, members, weightOf)
    if (ranked.join() !== rankPeers(chunk, members).join()) differs++
    const [h1, h2, dead] = [ranked[0]!, ranked[1]!, ranked[2]!]
    const base = view(chunk, { holders: [h1, h2, dead], up: new Set(members.filter((id) => id !== dead)), dead: new Set([dead]), weightOf })
    t.alike(planChunk(base), { copyTo: [ranked[3]], forget: [dead] }, 'repair: the next in the weighted ranking')
    t.is(coordinatorOf(base), h1, 'the best live holder by weight coordinates')
    const moving = view(chunk, { holders: [ranked[1]!, ranked[2]!, ranked[3]!], newcomers: new Set([ranked[0]!]), weightOf })
    t.alike(planChunk(moving), { copyTo: [ranked[0]], forget: [ranked[3]] }, 'rebalance: onto the newcomer the weights rank first')
  }
  t.ok(differs > 0, `the weights change the order for some chunks (${differs} of 50)`)
})
