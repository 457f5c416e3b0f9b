// Proves placement: the rendezvous ranking is the same whatever order the peers are listed in, adding a
// peer moves only the chunks it now ranks first for, and a writer's order leaves itself out and moves
// the peers that said they are short of room to the end — still in ranking order, still tried.
// Weighted, over seeded random chunk ids (SEED=… replays): with weights 1:2:4 each peer ranks first for
// its proportional share of 20,000 chunks, within two points; adding or removing a peer moves only the
// chunks it gains or loses, about its share, and changes a chunk's best three by that peer alone;
// equal weights, whatever their value, give exactly the unweighted ranking (plain rendezvous hashing,
// as it was before weights).
import test from 'brittle'
import { hash, randomBytes } from '../../native/crypto.js'
import { ROOM_SLACK_BYTES, rankPeers, replicaTargets, writeOrder } from '../../peer/placement.js'
import { seededRandom } from '../helpers/seeded-random.js'

const MiB = 1024 * 1024
const peers = Array.from({ length: 6 }, (_, i) => `${i}`.repeat(64))

test('the ranking depends on the chunk and the set of peers, not their order', (t) => {
  const chunk = randomBytes(32)
  const ranked = rankPeers(chunk, peers)
  t.alike(rankPeers(chunk, [...peers].reverse()), ranked, 'same order from a reversed list')
  t.alike([...ranked].sort(), [...peers].sort(), 'every peer ranked once')
  const chunks = Array.from({ length: 300 }, () => randomBytes(32))
  const newcomer = 'f'.repeat(64)
  const moved = chunks.map((id) => rankPeers(id, [...peers, newcomer])[0]).filter((first, i) => first !== rankPeers(chunks[i]!, peers)[0])
  t.ok(moved.every((first) => first === newcomer), 'a chunk that moves, moves to the newcomer')
  t.ok(moved.length > 0 && moved.length < chunks.length / 3, `adding a seventh peer moves about a seventh of the chunks (${moved.length} of ${chunks.length})`)
  t.alike(replicaTargets(chunk, peers[0]!, peers, 2), rankPeers(chunk, peers.slice(1)).slice(0, 2), 'replica targets: the best two others')
})

test('a writer sends copies to peers with room first, peers short of room last', (t) => {
  const chunk = randomBytes(32)
  const writer = peers[0]!
  const ranked = rankPeers(chunk, peers.filter((peer) => peer !== writer))
  const roomy = (): number | null => 100 * MiB
  t.alike(writeOrder(chunk, writer, peers, roomy, 4 * MiB), ranked, 'all with room: the ranking, without the writer')
  t.alike(writeOrder(chunk, writer, peers, () => null, 4 * MiB), ranked, 'nobody said anything: the ranking')
  const short = new Set([ranked[0]!, ranked[2]!])
  const room = (peer: string): number | null => (short.has(peer) ? ROOM_SLACK_BYTES + 4 * MiB - 1 : 100 * MiB)
  t.alike(writeOrder(chunk, writer, peers, room, 4 * MiB), [ranked[1], ranked[3], ranked[4], ranked[0], ranked[2]], 'the two short of room go last, in ranking order')
  t.alike(writeOrder(chunk, writer, peers, room, 1024), ranked, 'a small chunk still fits them')
})

const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000)
const CHUNKS = 20_000

/** `count` chunk ids from the seeded generator. */
function chunkIds (seed: number, count: number): Buffer[] {
  const random = seededRandom(seed)
  return Array.from({ length: count }, () => Buffer.from(Array.from({ length: 32 }, () => Math.floor(random() * 256))))
}

/** The share of `ids` each peer ranks first for. */
function firstShares (ids: readonly Buffer[], peers: readonly string[], weightOf: (peer: string) => number): Map<string, number> {
  const counts = new Map<string, number>(peers.map((peer) => [peer, 0]))
  for (const id of ids) {
    const first = rankPeers(id, peers, weightOf)[0]!
    counts.set(first, counts.get(first)! + 1)
  }
  return new Map([...counts].map(([peer, count]) => [peer, count / ids.length]))
}

/** Plain rendezvous hashing as it was before weights: the 64-bit hash, highest first, ties by peer id. */
function unweightedReference (chunkId: Uint8Array, peers: readonly string[]): string[] {
  const scored = peers.map((peer) => ({ peer, score: hash(Buffer.concat([Buffer.from(chunkId), Buffer.from(peer, 'utf8')])).readBigUInt64BE(0) }))
  scored.sort((a, b) => (a.score === b.score ? (a.peer < b.peer ? -1 : 1) : a.score > b.score ? -1 : 1))
  return scored.map((entry) => entry.peer)
}

test('property: weights 1:2:4 give each peer its proportional share of 20,000 chunks', (t) => {
  t.comment(`SEED=${SEED}`)
  const ids = chunkIds(SEED, CHUNKS)
  const weights = new Map([[peers[0]!, 1], [peers[1]!, 2], [peers[2]!, 4]])
  const shares = firstShares(ids, [...weights.keys()], (peer) => weights.get(peer)!)
  for (const [peer, weight] of weights) {
    const share = shares.get(peer)!
    t.ok(Math.abs(share - weight / 7) < 0.02, `weight ${weight}: ${(100 * share).toFixed(1)} % of the chunks, ${(100 * weight / 7).toFixed(1)} % expected`)
  }
  // Six peers with uneven weights: still proportional.
  const uneven = new Map(peers.map((peer, i) => [peer, [1, 1, 2, 3, 5, 8][i]!]))
  const total = [...uneven.values()].reduce((sum, weight) => sum + weight, 0)
  const unevenShares = firstShares(ids, peers, (peer) => uneven.get(peer)!)
  const worst = Math.max(...peers.map((peer) => Math.abs(unevenShares.get(peer)! - uneven.get(peer)! / total)))
  t.ok(worst < 0.02, `weights 1, 1, 2, 3, 5, 8: every share within two points of proportional (worst ${(100 * worst).toFixed(2)})`)
})

test('property: adding or removing a peer moves only the chunks it gains or loses, about its share', (t) => {
  t.comment(`SEED=${SEED}`)
  const ids = chunkIds(SEED + 1, CHUNKS)
  const base = peers.slice(0, 4)
  const newcomer = peers[4]!
  const weights = new Map([[base[0]!, 1], [base[1]!, 2], [base[2]!, 4], [base[3]!, 2], [newcomer, 3]])
  const weightOf = (peer: string): number => weights.get(peer)!
  let movedFirst = 0
  let strayFirst = 0
  let badSets = 0
  for (const id of ids) {
    const before = rankPeers(id, base, weightOf)
    const after = rankPeers(id, [...base, newcomer], weightOf)
    if (after[0] !== before[0]) {
      movedFirst++
      if (after[0] !== newcomer) strayFirst++
    }
    // The best three change only by the newcomer taking one place; the others keep their order.
    const kept = after.filter((peer) => peer !== newcomer)
    if (JSON.stringify(kept) !== JSON.stringify(before)) badSets++
    const gained = after.slice(0, 3).filter((peer) => !before.slice(0, 3).includes(peer))
    if (gained.length > 1 || (gained.length === 1 && gained[0] !== newcomer)) badSets++
  }
  t.is(strayFirst, 0, 'a chunk whose first choice changes goes to the newcomer')
  t.is(badSets, 0, 'the others keep their relative order: a chunk\'s best three change by the newcomer alone')
  const share = movedFirst / ids.length
  t.ok(Math.abs(share - 3 / 12) < 0.02, `the newcomer (weight 3 of 12) takes ${(100 * share).toFixed(1)} % of the first choices`)

  // Removing a peer is the same move backwards: exactly the chunks it ranked first for move.
  const leaving = base[2]!
  let lost = 0
  let strayLoss = 0
  for (const id of ids) {
    const before = rankPeers(id, base, weightOf)
    const after = rankPeers(id, base.filter((peer) => peer !== leaving), weightOf)
    if (after[0] !== before[0]) {
      lost++
      if (before[0] !== leaving) strayLoss++
    }
  }
  t.is(strayLoss, 0, 'only chunks the leaving peer ranked first for change their first choice')
  t.ok(Math.abs(lost / ids.length - 4 / 9) < 0.02, `about its share: ${(100 * lost / ids.length).toFixed(1)} % (weight 4 of 9)`)
})

test('property: equal weights give exactly the unweighted ranking', (t) => {
  t.comment(`SEED=${SEED}`)
  const random = seededRandom(SEED + 2)
  const ids = chunkIds(SEED + 2, 5_000)
  let differ = 0
  for (const id of ids) {
    const listed = peers.filter(() => random() < 0.8)
    const weight = 2 ** Math.floor(random() * 60) * (1 + random())
    const expected = unweightedReference(id, listed)
    if (JSON.stringify(rankPeers(id, listed, () => weight)) !== JSON.stringify(expected)) differ++
    if (JSON.stringify(rankPeers(id, listed)) !== JSON.stringify(expected)) differ++
  }
  t.is(differ, 0, '5,000 chunks over random subsets: identical to plain rendezvous hashing')
  const weights = new Map(peers.map((peer, i) => [peer, i + 1]))
  const chunk = ids[0]!
  t.alike(rankPeers(chunk, [...peers].reverse(), (peer) => weights.get(peer)!), rankPeers(chunk, peers, (peer) => weights.get(peer)!), 'weighted: the same order from a reversed list')
  t.exception(() => rankPeers(chunk, peers, () => 0), /placement weight 0/, 'a weight of 0 is a bug')
  t.exception(() => rankPeers(chunk, peers, () => NaN), /placement weight NaN/, 'so is NaN')
})
