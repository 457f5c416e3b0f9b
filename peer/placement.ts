// Where a chunk's copies live: weighted rendezvous (highest random weight) hashing of the chunk id
// against each peer id. Each peer scores −weight / ln(u), u uniform in (0, 1) from the hash of chunk id
// and peer id, and the highest scores win: a peer's share of the chunks it ranks first for is its
// weight over the total (Schindelhauer & Schomaker, "Weighted distributed hash tables", 2005), its
// weight being its capacity (capacity.ts). Every peer computes the same order from the same membership
// and weights without coordination; adding or removing a peer moves only the chunks it gains or loses;
// with equal weights the order is plain rendezvous hashing, the hash alone; and the order doubles as
// the failover list of a reader. Peers that briefly disagree on a weight only move some copies twice.
// A writer also heeds how much room each peer said it has left: peers short of room go to the end of
// its list. That part is a local choice (the holders it picks are recorded in the metadata), so the
// shared ranking stays the same on every peer. Pure.
import { hash } from '../native/crypto.js'

/** A peer's placement weight: positive and finite; only ratios matter. */
export type WeightOf = (peer: string) => number

export const EQUAL_WEIGHTS: WeightOf = () => 1

/** Peers ordered by preference for `chunkId`, best first. */
export function rankPeers (chunkId: Uint8Array, peers: readonly string[], weightOf: WeightOf = EQUAL_WEIGHTS): string[] {
  const scored = peers.map((peer) => {
    const weight = weightOf(peer)
    if (!(Number.isFinite(weight) && weight > 0)) throw new Error(`assertion: peer ${peer.slice(0, 12)} has placement weight ${weight}`)
    return { peer, weight, hash: hash(Buffer.concat([Buffer.from(chunkId), Buffer.from(peer, 'utf8')])).readBigUInt64BE(0), score: 0 }
  })
  // Equal weights rank by the hash itself: exactly plain rendezvous hashing, no floating point involved.
  const weighted = scored.some((entry) => entry.weight !== scored[0]!.weight)
  if (weighted) for (const entry of scored) entry.score = weightedScore(entry.hash, entry.weight)
  scored.sort((a, b) => {
    if (a.score !== b.score) return a.score > b.score ? -1 : 1
    if (a.hash !== b.hash) return a.hash > b.hash ? -1 : 1
    return a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0
  })
  return scored.map((entry) => entry.peer)
}

/** −weight / ln(u) with u = (top 53 bits of the hash + ½) / 2^53, so 0 < u < 1: larger is better. */
export function weightedScore (hash64: bigint, weight: number): number {
  const u = (Number(hash64 >> 11n) + 0.5) / 2 ** 53
  return -weight / Math.log(u)
}

/** The `count` peers that should hold `chunkId` besides the writer, which always keeps one copy. */
export function replicaTargets (chunkId: Uint8Array, writer: string, peers: readonly string[], count: number, weightOf: WeightOf = EQUAL_WEIGHTS): string[] {
  return rankPeers(chunkId, peers.filter((peer) => peer !== writer), weightOf).slice(0, Math.max(0, count))
}

/**
 * Room below which a peer counts as short for one more chunk: what it advertised is up to a heartbeat
 * old, and other writers may be filling it meanwhile.
 */
export const ROOM_SLACK_BYTES = 8 * 1024 * 1024

/**
 * The peers a writer sends a chunk of `bytes` to, best first: the ranking without the writer, with the
 * peers that said they lack room for it moved to the end — still tried last, as what they said may be
 * stale. A peer that said nothing (null) counts as having room.
 */
export function writeOrder (chunkId: Uint8Array, writer: string, peers: readonly string[], roomOf: (peer: string) => number | null, bytes: number, weightOf: WeightOf = EQUAL_WEIGHTS): string[] {
  const ranked = rankPeers(chunkId, peers.filter((peer) => peer !== writer), weightOf)
  const short = (peer: string): boolean => isShortOfRoom(roomOf(peer), bytes)
  return [...ranked.filter((peer) => !short(peer)), ...ranked.filter(short)]
}

/** Whether a peer that advertised `room` (null: said nothing) should be passed over for a chunk of `bytes`. */
export function isShortOfRoom (room: number | null, bytes: number): boolean {
  return room !== null && room < bytes + ROOM_SLACK_BYTES
}
