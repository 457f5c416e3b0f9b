// Proves placement: the rendezvous ranking is the same whatever order the peers are listed in, adding a
// peer moves only the chunks it now ranks first for, and a writer's order leaves itself out and moves
// the peers that said they are short of room to the end — still in ranking order, still tried.
import test from 'brittle'
import { randomBytes } from '../../native/crypto.js'
import { ROOM_SLACK_BYTES, rankPeers, replicaTargets, writeOrder } from '../../peer/placement.js'

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
