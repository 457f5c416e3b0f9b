// Where the copies of each referenced chunk live, as the replicated state records it: which peers hold
// one. Stored compactly: a peer table (peer id ⇄ small index, append only) and, per chunk, a sorted
// list of peer indexes. Part of FsState and driven only by its apply(), so every replica agrees.
import { HOLDERS_MAX, PEER_ID_BYTES_MAX } from './commands.js'
import { runSteps } from '../steps.js'

/**
 * Distinct peers ever recorded as holders over a cluster's lifetime. Indexes are never reused (a
 * removed peer keeps its slot); when the table is full a new peer's copies are not recorded, so repair
 * may count them as missing and copy again — extra copies, never lost data.
 */
export const PEER_TABLE_MAX = 65_536

export class ChunkLocations {
  /** Peer ids by index, append only. Invariant: unique, non-empty, ≤ PEER_ID_BYTES_MAX, at most PEER_TABLE_MAX. */
  readonly peers: string[] = []
  /** Peer id → its index in `peers`. Invariant: the exact inverse of `peers`. */
  readonly indexes = new Map<string, number>()
  /**
   * Chunk id (hex) → indexes of the peers holding a copy. Invariant: only referenced chunks; each list
   * is non-empty, sorted ascending, unique, at most HOLDERS_MAX long, and names no removed peer.
   */
  readonly locations = new Map<string, number[]>()

  /** Records `peerIds` as holders of `chunk`, skipping removed peers and any beyond HOLDERS_MAX. */
  add (chunk: string, peerIds: readonly string[], removedPeers: ReadonlySet<string>): void {
    const list = this.locations.get(chunk) ?? []
    for (const peerId of peerIds) {
      assert(validPeerId(peerId), 'adding a malformed peer id')
      if (removedPeers.has(peerId) || list.length >= HOLDERS_MAX) continue
      const index = this.indexes.get(peerId) ?? this.appendPeer(peerId)
      if (index === undefined) continue // the table is full
      const at = insertionPoint(list, index)
      if (list[at] !== index) list.splice(at, 0, index)
    }
    if (list.length > 0) this.locations.set(chunk, list)
  }

  remove (chunk: string, peerIds: readonly string[]): void {
    const list = this.locations.get(chunk)
    if (list === undefined) return
    const gone = new Set(peerIds.map((peerId) => this.indexes.get(peerId)))
    const kept = list.filter((index) => !gone.has(index))
    if (kept.length > 0) this.locations.set(chunk, kept)
    else this.locations.delete(chunk)
  }

  /** The chunk was freed: nobody needs to know where its copies are. */
  forget (chunk: string): void {
    this.locations.delete(chunk)
  }

  /** The peer is gone for good: it holds nothing any more. Its table slot stays (append only). */
  dropPeer (peerId: string): void {
    const index = this.indexes.get(peerId)
    if (index === undefined) return
    for (const [chunk, list] of [...this.locations]) if (list.includes(index)) this.remove(chunk, [peerId])
  }

  /** Adds a peer to the table; undefined when it is full. Snapshot decoding uses it to rebuild the table. */
  appendPeer (peerId: string): number | undefined {
    assert(!this.indexes.has(peerId), 'peer already in the table')
    if (this.peers.length >= PEER_TABLE_MAX) return undefined
    this.indexes.set(peerId, this.peers.length)
    this.peers.push(peerId)
    return this.peers.length - 1
  }

  holdersOf (chunk: string): string[] {
    return (this.locations.get(chunk) ?? []).map((index) => this.peers[index]!)
  }

  /** O(chunks with a location). */
  chunksHeldBy (peerId: string): string[] {
    const index = this.indexes.get(peerId)
    if (index === undefined) return []
    const chunks: string[] = []
    for (const [chunk, list] of this.locations) if (list.includes(index)) chunks.push(chunk)
    return chunks
  }

  checkInvariants (isReferenced: (chunk: string) => boolean, removedPeers: ReadonlySet<string>): void {
    runSteps(this.invariantSteps(isReferenced, removedPeers))
  }

  /** checkInvariants a part at a time: yields every `stepItems` located chunks. */
  * invariantSteps (isReferenced: (chunk: string) => boolean, removedPeers: ReadonlySet<string>, stepItems = 4096): Generator<void, void, undefined> {
    let visited = 0
    assert(this.peers.length <= PEER_TABLE_MAX, 'peer table over its bound')
    assert(this.indexes.size === this.peers.length, 'peer table and its index differ in size')
    this.peers.forEach((peerId, index) => {
      assert(validPeerId(peerId), `peer table slot ${index} has a bad id`)
      assert(this.indexes.get(peerId) === index, `peer table slot ${index} is not indexed`)
    })
    for (const [chunk, list] of this.locations) {
      if (++visited % stepItems === 0) yield
      assert(isReferenced(chunk), `location of unreferenced chunk ${chunk}`)
      assert(list.length > 0 && list.length <= HOLDERS_MAX, `chunk ${chunk} has ${list.length} holders`)
      list.forEach((index, at) => {
        assert(Number.isSafeInteger(index) && index >= 0 && index < this.peers.length, `chunk ${chunk} names peer index ${index}`)
        assert(at === 0 || list[at - 1]! < index, `holders of chunk ${chunk} not sorted and unique`)
        assert(!removedPeers.has(this.peers[index]!), `chunk ${chunk} held by a removed peer`)
      })
    }
  }
}

export function validPeerId (peerId: string): boolean {
  return peerId !== '' && Buffer.byteLength(peerId) <= PEER_ID_BYTES_MAX
}

/** The first position in sorted `list` whose value is ≥ `value`. */
function insertionPoint (list: readonly number[], value: number): number {
  let low = 0
  let high = list.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (list[middle]! < value) low = middle + 1
    else high = middle
  }
  return low
}

function assert (condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`filesystem invariant violated: ${message}`)
}
