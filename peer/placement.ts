// Where a chunk's copies live: rendezvous (highest random weight) hashing of the chunk id against each
// peer id. Every peer computes the same order from the same membership without coordination, adding or
// removing a peer moves only the chunks it gains or loses, and the order doubles as the failover list
// of a reader. Pure.
import { hash } from '../native/crypto.js'

/** Peers ordered by preference for `chunkId`, best first. */
export function rankPeers (chunkId: Uint8Array, peers: readonly string[]): string[] {
  const scored = peers.map((peer) => ({ peer, score: hash(Buffer.concat([Buffer.from(chunkId), Buffer.from(peer, 'utf8')])).readBigUInt64BE(0) }))
  scored.sort((a, b) => (a.score === b.score ? (a.peer < b.peer ? -1 : 1) : a.score > b.score ? -1 : 1))
  return scored.map((entry) => entry.peer)
}

/** The `count` peers that should hold `chunkId` besides the writer, which always keeps one copy. */
export function replicaTargets (chunkId: Uint8Array, writer: string, peers: readonly string[], count: number): string[] {
  return rankPeers(chunkId, peers.filter((peer) => peer !== writer)).slice(0, Math.max(0, count))
}
