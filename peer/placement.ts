// Where a chunk's copies live: rendezvous (highest random weight) hashing of the chunk id against each
// peer id. Every peer computes the same order from the same membership without coordination, adding or
// removing a peer moves only the chunks it gains or loses, and the order doubles as the failover list
// of a reader. A writer also heeds how much room each peer said it has left: peers short of room go to
// the end of its list. That part is a local choice (the holders it picks are recorded in the metadata),
// so the shared ranking stays the same on every peer. Pure.
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
export function writeOrder (chunkId: Uint8Array, writer: string, peers: readonly string[], roomOf: (peer: string) => number | null, bytes: number): string[] {
  const ranked = rankPeers(chunkId, peers.filter((peer) => peer !== writer))
  const short = (peer: string): boolean => isShortOfRoom(roomOf(peer), bytes)
  return [...ranked.filter((peer) => !short(peer)), ...ranked.filter(short)]
}

/** Whether a peer that advertised `room` (null: said nothing) should be passed over for a chunk of `bytes`. */
export function isShortOfRoom (room: number | null, bytes: number): boolean {
  return room !== null && room < bytes + ROOM_SLACK_BYTES
}
