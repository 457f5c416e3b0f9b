// Proves the replicated chunk service in one process, against a scripted network of fake peers (each
// stores what it is sent, or refuses for lack of room, or never answers, or answers late, or lies):
//   writing — three copies along a chain; a peer out of room is passed over and the copy lands on the
//   next one; with this peer's own disk full, three other peers take the copies; no room anywhere is
//   ENOSPC, unreachable peers are EIO; a put to a full peer is refused with the "no space" reason,
//   or answered with those down the chain that stored it;
//   reading — a slow holder asked first is hedged, and the fast one answers; a bad copy is caught,
//   counted, and its sender asked last from then on; a chunk this peer has no room to keep is served
//   from memory;
//   scrubbing — a copy the metadata lists here but gone from the disk is fetched back;
//   the disk cache tier — a copy fetched for a read serves the next reads without a fetch, the least
//   recently read go when the tier is over its bound, a copy the metadata comes to list for this peer
//   leaves the tier, a full disk gives up cached copies before a put from a peer is refused, and a
//   restart rebuilds the tier from the store, oldest file first.
import test from 'brittle'
import type { Test } from 'brittle'
import { utimes } from 'node:fs/promises'
import { randomBytes } from '../../native/crypto.js'
import { Errno, FsError } from '../../native/errno.js'
import type { FsState } from '../../metadata/fs/state.js'
import { chunkIdOf, chunkIdToHex } from '../../peer/chunks/chunk-id.js'
import { CHUNK_BYTES, sealChunk, sealedBytesFor } from '../../peer/chunks/sealed-chunk.js'
import { DiskCache } from '../../peer/disk-cache.js'
import { LocalChunks } from '../../peer/local-chunks.js'
import type { ChunkReply } from '../../peer/net/connection.js'
import type { Network } from '../../peer/net/network.js'
import { ChunkFailure, ChunkKind, decodeChunkFailure, encodeChunkFailure } from '../../peer/net/wire.js'
import type { ChunkMessage } from '../../peer/net/wire.js'
import { createLogger } from '../../peer/log.js'
import { rankPeers } from '../../peer/placement.js'
import { ReplicatedChunks } from '../../peer/replicated-chunks.js'
import { newKeys, tempDir } from './chunks/fixtures.js'

type Behaviour = 'stores' | 'full' | 'unreachable' | 'lies' | { slowMs: number }

const SELF = '0'.repeat(64)

/** Peers that answer chunk requests as scripted; a put passes down its chain like a real peer's. */
class FakeNetwork {
  readonly id = SELF
  readonly behaviour = new Map<string, Behaviour>()
  readonly stored = new Map<string, Map<string, Uint8Array>>() // peer → chunk → sealed
  readonly gets = new Map<string, number>()
  /** Every put, as it reached a peer: who, and how many peers were still down its chain. */
  readonly puts: Array<{ peer: string, chainLength: number, kind: number }> = []
  /** Every Sync, by the peer asked. */
  readonly syncs: string[] = []
  /** The peers up, when not all of them; `looked` runs after each look (a peer coming back meanwhile). */
  up: string[] | null = null
  looked: () => void = () => {}
  server: ((peerId: string, message: ChunkMessage) => Promise<ChunkReply>) | null = null

  constructor (peers: Record<string, Behaviour>) {
    for (const [peer, behaviour] of Object.entries(peers)) {
      this.behaviour.set(peer, behaviour)
      this.stored.set(peer, new Map())
    }
  }

  upPeers (): string[] {
    const up = this.up ?? [...this.behaviour.keys()]
    this.looked()
    return [...up]
  }

  outstanding (): number { return 0 }
  roomOf (peer: string): number | null { return this.behaviour.get(peer) === 'full' ? 0 : null }
  serveChunks (server: (peerId: string, message: ChunkMessage) => Promise<ChunkReply>): void { this.server = server }
  advertiseRoom (): void {}
  advertiseCapacity (): void {}
  placementWeights (): (peer: string) => number { return () => 1 }

  async requestChunk (peer: string, kind: number, id: Uint8Array, payload: Uint8Array, _timeoutMs: number, chain: string[] = []): Promise<ChunkReply> {
    const behaviour = this.behaviour.get(peer)
    if (behaviour === undefined || behaviour === 'unreachable') throw new Error(`${peer.slice(0, 4)} is unreachable`)
    if (typeof behaviour === 'object') await new Promise((resolve) => setTimeout(resolve, behaviour.slowMs))
    const hex = chunkIdToHex(Buffer.from(id))
    const held = this.stored.get(peer)!
    if (kind === ChunkKind.Sync) {
      this.syncs.push(peer)
      return { kind: ChunkKind.Ok, payload: new Uint8Array(0) }
    }
    if (kind === ChunkKind.Get) {
      this.gets.set(peer, (this.gets.get(peer) ?? 0) + 1)
      const copy = held.get(hex)
      if (copy === undefined) return { kind: ChunkKind.Missing, payload: new Uint8Array(0) }
      return { kind: ChunkKind.Ok, payload: behaviour === 'lies' ? randomBytes(copy.length) : copy }
    }
    this.puts.push({ peer, chainLength: chain.length, kind })
    const downstream = chain.length === 0 ? null : await this.requestChunk(chain[0]!, kind, id, payload, 0, chain.slice(1)).catch(() => null)
    const below = downstream?.kind === ChunkKind.Ok ? [Buffer.from(downstream.payload)] : []
    if (behaviour === 'full') {
      if (below.length > 0) return { kind: ChunkKind.Ok, payload: Buffer.concat(below) }
      return { kind: ChunkKind.Failed, payload: encodeChunkFailure(ChunkFailure.NoSpace) }
    }
    held.set(hex, payload)
    return { kind: ChunkKind.Ok, payload: Buffer.concat([Buffer.from(peer, 'hex'), ...below]) }
  }
}

interface Setup {
  chunks: ReplicatedChunks
  local: LocalChunks
  network: FakeNetwork
  holders: Map<string, string[]>
  references: Map<string, number>
  diskCache: DiskCache
  keys: ReturnType<typeof newKeys>
  logs: string[]
}

interface SetupOptions {
  localFull?: boolean
  /** The disk cache tier's bound; 0 (the default here): off. */
  diskCacheBytes?: number
  directory?: string
  keys?: ReturnType<typeof newKeys>
}

async function setUp (t: Test, peers: Record<string, Behaviour>, options: SetupOptions = {}): Promise<Setup> {
  const keys = options.keys ?? newKeys()
  const references = new Map<string, number>()
  const state = { chunkReferences: references } as unknown as FsState
  const local = await LocalChunks.open({
    directory: options.directory ?? await tempDir(t), encryptionKey: Buffer.from(keys.encryptionKey), idKey: Buffer.from(keys.idKey), cacheBytesMax: 16 * 1024 * 1024,
    ...(options.localFull === true ? { reserveBytes: Number.MAX_SAFE_INTEGER } : {})
  }, () => state)
  t.teardown(async () => await local.close(), { order: -1 })
  const network = new FakeNetwork(peers)
  const holders = new Map<string, string[]>()
  const logs: string[] = []
  const logger = createLogger({ level: 'debug', format: 'text', write: (line) => logs.push(line) })
  const diskCache = new DiskCache(local, {
    bytesMax: options.diskCacheBytes ?? 0,
    isListedHere: (key) => (holders.get(key) ?? []).includes(SELF),
    isReferenced: (key) => references.has(key),
    logger
  })
  const chunks = new ReplicatedChunks(local, network as unknown as Network, { replicas: 3, chain: true, holdersOf: (key) => holders.get(key) ?? [], logger, diskCache })
  return { chunks, local, network, holders, references, diskCache, keys, logs }
}

/** Peer ids, as many as asked, named by a digit. */
function peerIds (count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${i + 1}`.repeat(64))
}

async function errnoOf (work: Promise<unknown>): Promise<number | null> {
  return await work.then(() => null, (error: unknown) => (error instanceof FsError ? error.errno : -1))
}

test('writing: a chain of three copies; a full peer is passed over for the next', async (t) => {
  const [a, b, c] = peerIds(3) as [string, string, string]
  const { chunks } = await setUp(t, { [a]: 'stores', [b]: 'stores', [c]: 'stores' })
  const plaintext = randomBytes(CHUNK_BYTES)
  const ref = await chunks.put(plaintext)
  t.is(ref.holders?.length, 3, 'this peer and two others')
  t.is(ref.holders?.[0], SELF, 'this peer first')
  t.alike(ref.holders?.slice(1), rankPeers(ref.id, [a, b, c]).slice(0, 2), 'the two best ranked')

  const ranked = rankPeers(ref.id, [a, b, c])
  const { chunks: other } = await setUp(t, { [ranked[0]!]: 'full', [ranked[1]!]: 'stores', [ranked[2]!]: 'stores' })
  const placed = await other.put(plaintext)
  t.alike(placed.holders?.slice(1).sort(), [ranked[1]!, ranked[2]!].sort(), 'the full peer holds nothing; the next one took its copy')
})

test('writing: a small chunk goes to both replicas at once, a large one down a chain', async (t) => {
  const [a, b, c] = peerIds(3) as [string, string, string]
  const { chunks, network } = await setUp(t, { [a]: 'stores', [b]: 'stores', [c]: 'stores' })
  const small = await chunks.put(randomBytes(4096))
  t.is(small.holders?.length, 3)
  t.alike(network.puts.map((put) => put.chainLength), [0, 0], 'two puts, each for one copy')
  network.puts.length = 0
  const large = await chunks.put(randomBytes(CHUNK_BYTES))
  t.is(large.holders?.length, 3)
  t.alike(network.puts.map((put) => put.chainLength), [1, 0], 'one put from this peer, passed on by the first replica')
})

test('writing with this peer\'s disk full: three other peers take the copies; no room anywhere is ENOSPC', async (t) => {
  const [a, b, c, d] = peerIds(4) as [string, string, string, string]
  const { chunks, local } = await setUp(t, { [a]: 'stores', [b]: 'stores', [c]: 'stores', [d]: 'full' }, { localFull: true })
  const ref = await chunks.put(randomBytes(CHUNK_BYTES))
  t.alike(ref.holders?.slice().sort(), [a, b, c].sort(), 'three others, none of them full')
  t.is(chunks.stats.writtenElsewhere, 1, 'counted')
  t.is(await local.store.has(ref.id), false, 'nothing here')

  const [e, f] = peerIds(2) as [string, string]
  const { chunks: nowhere } = await setUp(t, { [e]: 'full', [f]: 'full' }, { localFull: true })
  t.is(await errnoOf(nowhere.put(randomBytes(1000))), Errno.ENOSPC, 'every disk full: ENOSPC')
  const { chunks: othersFull } = await setUp(t, { [e]: 'full', [f]: 'full' })
  t.is(await errnoOf(othersFull.put(randomBytes(1000))), Errno.ENOSPC, 'room here but nowhere else: ENOSPC (one copy is not enough)')
  const { chunks: cut } = await setUp(t, { [e]: 'unreachable', [f]: 'unreachable' })
  t.is(await errnoOf(cut.put(randomBytes(1000))), Errno.EIO, 'peers unreachable: EIO')
})

test('writing while a peer comes back: the chunk is judged against the peers up when it was placed', async (t) => {
  const [a, b] = peerIds(2) as [string, string]
  const { chunks, network } = await setUp(t, { [a]: 'stores', [b]: 'stores' })
  network.up = []
  network.looked = () => { network.up = [a] } // back (3 answered beats) just after the placement looked
  const alone = await chunks.put(randomBytes(CHUNK_BYTES))
  t.alike(alone.holders, [SELF], 'nobody else was up: one copy here, and the keeper adds the rest once peers are')
  network.up = [a, b]
  network.looked = () => { network.up = [b] } // a goes down right after the placement looked: its copy still counts
  const placed = await chunks.put(randomBytes(CHUNK_BYTES))
  t.is(placed.holders?.length, 3, 'three copies')
})

test('a write no peer took logs why before it fails', async (t) => {
  const [a] = peerIds(1) as [string]
  const { chunks, logs } = await setUp(t, { [a]: 'unreachable' })
  t.is(await errnoOf(chunks.put(randomBytes(1000))), Errno.EIO)
  t.ok(logs.some((line) => line.includes('chunks.write_failed') && line.includes('peers failed')), 'chunks.write_failed, peers failed')
})

test('serving a put with a full disk: refused with the reason, or answered with those down the chain', async (t) => {
  const [a] = peerIds(1) as [string]
  const { network, keys } = await setUp(t, { [a]: 'stores' }, { localFull: true })
  const plaintext = randomBytes(5000)
  const id = chunkIdOf(plaintext, keys.idKey)
  const sealed = sealChunk(plaintext, id, keys.encryptionKey)
  const alone = await network.server!(a, { kind: ChunkKind.Put, requestId: 1, chunkId: id, payload: sealed, chain: [] })
  t.is(alone.kind, ChunkKind.Failed, 'nobody stored it: Failed')
  t.is(decodeChunkFailure(alone.payload), ChunkFailure.NoSpace, 'for lack of room')
  const chained = await network.server!(a, { kind: ChunkKind.Put, requestId: 2, chunkId: id, payload: sealed, chain: [Buffer.from(a, 'hex')] })
  t.is(chained.kind, ChunkKind.Ok, 'the next peer of the chain stored it: Ok')
  t.alike(Buffer.from(chained.payload), Buffer.from(a, 'hex'), 'naming that peer only')
})

test('durability: writes are buffered puts; fsync syncs every holder once and needs two of them; serving follows the kind', async (t) => {
  const [a, b, c] = peerIds(3) as [string, string, string]
  const { chunks, network, local, holders, keys } = await setUp(t, { [a]: 'stores', [b]: 'stores', [c]: 'stores' })
  const first = await chunks.put(randomBytes(4096))
  const second = await chunks.put(randomBytes(CHUNK_BYTES))
  t.ok(network.puts.every((put) => put.kind === ChunkKind.PutBuffered), 'a write\'s copies are buffered puts')
  t.ok(local.store.hasUnsynced(), 'and the local copy is left to sync')
  await chunks.commitReady([first, second])
  t.is(network.syncs.length, 0, 'copies on three peers may be committed as they are')
  t.ok(local.store.hasUnsynced())

  await chunks.sync([first, second])
  t.alike([...network.syncs].sort(), [...new Set([...first.holders!, ...second.holders!])].filter((peer) => peer !== SELF).sort(), 'one Sync per other holder')
  t.absent(local.store.hasUnsynced(), 'the local store synced')

  const remote = first.holders!.filter((peer) => peer !== SELF)
  network.behaviour.set(remote[0]!, 'unreachable')
  await chunks.sync([first])
  t.pass('one holder not answering: two durable copies are enough')
  network.behaviour.set(remote[1]!, 'unreachable')
  t.is(await errnoOf(chunks.sync([first])), Errno.EIO, 'only this peer\'s copy confirmed while another is up: EIO')
  network.up = [remote[0]!]
  network.syncs.length = 0
  t.is(await errnoOf(chunks.sync([{ id: first.id, length: first.length, holders: remote }])), Errno.EIO, 'the one holder up does not answer: EIO')
  network.behaviour.set(remote[0]!, 'stores')
  await chunks.sync([{ id: first.id, length: first.length, holders: remote }])
  t.alike(network.syncs, [remote[0]!], 'a holder known down is not asked; the one up is enough')
  network.up = null

  holders.set(chunkIdToHex(first.id), [SELF])
  network.syncs.length = 0
  await chunks.commitReady([{ id: first.id, length: first.length }])
  t.absent(local.store.hasUnsynced(), 'a chunk this peer alone holds is synced before its commit')

  const plaintext = randomBytes(5000)
  const id = chunkIdOf(plaintext, keys.idKey)
  const sealed = sealChunk(plaintext, id, keys.encryptionKey)
  t.is((await network.server!(a, { kind: ChunkKind.PutBuffered, requestId: 1, chunkId: id, payload: sealed, chain: [] })).kind, ChunkKind.Ok)
  t.ok(local.store.hasUnsynced(), 'a buffered put is answered before its sync')
  t.is((await network.server!(a, { kind: ChunkKind.Sync, requestId: 2, chunkId: new Uint8Array(32), payload: new Uint8Array(0), chain: [] })).kind, ChunkKind.Ok)
  t.absent(local.store.hasUnsynced(), 'a Sync syncs it')
  const other = randomBytes(6000)
  const otherId = chunkIdOf(other, keys.idKey)
  t.is((await network.server!(a, { kind: ChunkKind.Put, requestId: 3, chunkId: otherId, payload: sealChunk(other, otherId, keys.encryptionKey), chain: [] })).kind, ChunkKind.Ok)
  t.absent(local.store.hasUnsynced(), 'a Put (repair, rebalance) is synced before it is answered')
})

/** A chunk stored on `peers` (sealed with the setup's keys) and listed as theirs. */
function plant (setup: Setup, peers: readonly string[], length = CHUNK_BYTES): { id: Buffer, plaintext: Buffer } {
  const plaintext = randomBytes(length)
  const id = chunkIdOf(plaintext, setup.keys.idKey)
  const sealed = sealChunk(plaintext, id, setup.keys.encryptionKey)
  for (const peer of peers) setup.network.stored.get(peer)!.set(chunkIdToHex(id), sealed)
  setup.holders.set(chunkIdToHex(id), [...peers])
  setup.references.set(chunkIdToHex(id), 1)
  return { id, plaintext }
}

test('reading: a slow holder asked first is hedged; the fast one answers', async (t) => {
  const [a, b] = peerIds(2) as [string, string]
  const setup = await setUp(t, { [a]: 'stores', [b]: 'stores' })
  const { id, plaintext } = plant(setup, [a, b])
  const [first, second] = rankPeers(id, [a, b]) as [string, string]
  setup.network.behaviour.set(first, { slowMs: 6_000 })
  const started = Date.now()
  const bytes = await setup.chunks.read(id, 1000, 5000)
  const ms = Date.now() - started
  t.ok(bytes.equals(plaintext.subarray(1000, 6000)), 'the right bytes')
  t.ok(ms < 5_000, `well before the slow holder would answer (${ms} ms)`)
  t.is(setup.chunks.stats.peers[first]?.hedged, 1, 'the slow holder was hedged')
  t.is(setup.chunks.stats.peers[second]?.fetched, 1, 'the other one served it')
})

test('reading just after a start: a holder not connected yet is waited for, up to a request timeout, not EIO', async (t) => {
  const [a, b] = peerIds(2) as [string, string]
  const setup = await setUp(t, { [a]: 'stores', [b]: 'stores' })
  const { id, plaintext } = plant(setup, [a])
  setup.network.up = [b] // b holds nothing; a, the holder, connects 300 ms later
  const connected = setTimeout(() => { setup.network.up = null }, 300)
  t.teardown(() => clearTimeout(connected))
  const started = Date.now()
  const bytes = await setup.chunks.read(id, 0, 4096)
  t.ok(bytes.equals(plaintext.subarray(0, 4096)), `read once the holder came up (${Date.now() - started} ms)`)
  setup.network.up = [b]
  const { id: other } = plant(setup, [a])
  const waitedFrom = Date.now()
  t.is(await errnoOf(setup.chunks.read(other, 0, 10)), Errno.EIO, 'a holder that never comes up: EIO')
  t.ok(Date.now() - waitedFrom >= 4_000, 'after waiting about a request timeout for it')
})

test('reading: a bad copy is caught, counted, and its sender asked last from then on', async (t) => {
  const [a, b] = peerIds(2) as [string, string]
  const setup = await setUp(t, { [a]: 'stores', [b]: 'stores' })
  let planted = plant(setup, [a, b])
  while (rankPeers(planted.id, [a, b])[0] !== a) planted = plant(setup, [a, b]) // a would be asked first
  setup.network.behaviour.set(a, 'lies')
  t.ok((await setup.chunks.read(planted.id, 0, CHUNK_BYTES)).equals(planted.plaintext), 'the right bytes, from the honest holder')
  t.is(setup.chunks.stats.peers[a]?.badCopies, 1, 'the bad copy is counted against its sender')
  t.ok(setup.logs.some((line) => line.includes('event=chunks.bad_copy_from_peer') && line.includes(`peer=${a.slice(0, 12)}`)), 'and logged')
  const getsBefore = setup.network.gets.get(a) ?? 0
  for (let i = 0; i < 5; i++) {
    const next = plant(setup, [a, b], 10_000)
    t.ok((await setup.chunks.read(next.id, 0, 10_000)).equals(next.plaintext), `chunk ${i + 1} reads right`)
  }
  t.is(setup.network.gets.get(a) ?? 0, getsBefore, 'the liar was not asked again while the honest holder answers')
})

test('reading a fetched copy: decrypted once, when it is verified; the read itself comes from the block cache', async (t) => {
  const [a] = peerIds(1) as [string]
  const setup = await setUp(t, { [a]: 'stores' })
  const { id, plaintext } = plant(setup, [a])
  const before = setup.local.cache.stats()
  t.ok((await setup.chunks.read(id, 70_000, 3_000_000)).equals(plaintext.subarray(70_000, 3_070_000)), 'the right bytes')
  const after = setup.local.cache.stats()
  t.is(after.misses - before.misses, 0, 'every block the read needed was in the cache')
  t.ok(after.bytes - before.bytes >= plaintext.length, 'the whole chunk is cached')
  t.ok(await setup.local.store.has(id), 'and kept on disk')
})

test('reading with no room to keep a copy: served from memory', async (t) => {
  const [a] = peerIds(1) as [string]
  const setup = await setUp(t, { [a]: 'stores' }, { localFull: true })
  const { id, plaintext } = plant(setup, [a])
  t.ok((await setup.chunks.read(id, 100, 200_000)).equals(plaintext.subarray(100, 200_100)), 'the right bytes')
  t.is(await setup.local.store.has(id), false, 'not kept on disk')
  t.ok((await setup.chunks.read(id, CHUNK_BYTES - 10, 100)).equals(plaintext.subarray(CHUNK_BYTES - 10)), 'read again (clamped at the end) from memory')
  t.is(setup.network.gets.get(a), 1, 'without asking again')
})

test('scrubbing: a copy listed here but gone from the disk is fetched back; one not listed is left alone', async (t) => {
  const [a] = peerIds(1) as [string]
  const setup = await setUp(t, { [a]: 'stores' })
  const lost = plant(setup, [a])
  setup.holders.set(chunkIdToHex(lost.id), [a, SELF]) // listed here too, but not on this disk
  const outcome = await setup.chunks.scrub(lost.id)
  t.alike(outcome, { bytes: sealedBytesFor(CHUNK_BYTES), repaired: true }, 'counted as repaired, its bytes against the scrub rate')
  t.is(await setup.local.store.has(lost.id), true, 'stored here again')
  t.ok((await setup.local.store.read(lost.id, 0, 100)).equals(lost.plaintext.subarray(0, 100)), 'with the right bytes')
  t.ok(setup.logs.some((line) => line.includes('event=chunks.lost_local_copy')), 'and logged')
  const elsewhere = plant(setup, [a])
  t.alike(await setup.chunks.scrub(elsewhere.id), { bytes: 0, repaired: false }, 'a chunk listed for others only (collected here meanwhile) is not fetched')
  t.is(await setup.local.store.has(elsewhere.id), false)
  const gone = plant(setup, [a])
  setup.holders.set(chunkIdToHex(gone.id), [a, SELF])
  setup.network.stored.get(a)!.clear()
  t.is(await errnoOf(setup.chunks.scrub(gone.id)), Errno.EIO, 'lost everywhere: the scrub fails (logged as scrub.failed by the pass)')
})

/** Polls `condition` (background evictions) for up to 5 s. */
async function eventually (condition: () => Promise<boolean> | boolean): Promise<boolean> {
  for (let tries = 0; tries < 100; tries++) {
    if (await condition()) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

test('the disk cache: fetched copies serve later reads; the least recently read go over the bound; listed copies leave it', async (t) => {
  const [a] = peerIds(1) as [string]
  const length = 100_000
  const sealedBytes = sealedBytesFor(length)
  const setup = await setUp(t, { [a]: 'stores' }, { diskCacheBytes: Math.floor(2.5 * sealedBytes) })
  const [one, two, three] = [plant(setup, [a], length), plant(setup, [a], length), plant(setup, [a], length)]
  t.ok((await setup.chunks.read(one.id, 0, length)).equals(one.plaintext), 'first chunk read')
  t.ok((await setup.chunks.read(two.id, 10, 20)).equals(two.plaintext.subarray(10, 30)), 'second chunk read')
  t.is(setup.network.gets.get(a), 2, 'two fetches')
  t.alike(setup.diskCache.stats(), { bytes: 2 * sealedBytes, bytesMax: Math.floor(2.5 * sealedBytes), chunks: 2, hits: 0, admitted: 2, evicted: 0 }, 'both copies in the tier')
  t.ok((await setup.chunks.read(one.id, 5, 5)).equals(one.plaintext.subarray(5, 10)), 'the first again')
  t.is(setup.network.gets.get(a), 2, 'served by its cached copy, no fetch')
  t.is(setup.diskCache.stats().hits, 1, 'one hit')

  t.ok((await setup.chunks.read(three.id, 0, 100)).equals(three.plaintext.subarray(0, 100)), 'a third chunk read')
  t.ok(await eventually(async () => !(await setup.local.store.has(two.id))), 'over the bound: the least recently read copy (the second) is evicted')
  t.ok(await setup.local.store.has(one.id) && await setup.local.store.has(three.id), 'the other two stay')
  t.ok(setup.diskCache.bytes() <= Math.floor(2.5 * sealedBytes), 'within the bound')
  t.ok((await setup.chunks.read(two.id, 0, length)).equals(two.plaintext), 'the evicted one reads again')
  t.is(setup.network.gets.get(a), 4, 'fetched again')
  t.ok(await eventually(async () => !(await setup.local.store.has(one.id))), 'and now the first, read least recently, makes way')

  // Repair copied the third chunk here: the metadata lists this peer, so it is no longer cache.
  setup.holders.set(chunkIdToHex(three.id), [a, SELF])
  await setup.diskCache.reconcile()
  t.absent(setup.diskCache.has(chunkIdToHex(three.id)), 'a listed copy leaves the tier')
  for (let i = 0; i < 4; i++) await setup.chunks.read(plant(setup, [a], length).id, 0, 10)
  t.ok(await eventually(() => setup.diskCache.bytes() <= Math.floor(2.5 * sealedBytes) && setup.diskCache.stats().evicted >= 4), 'the tier stays within its bound')
  t.ok(await setup.local.store.has(three.id), 'and a listed copy is never evicted')

  // Deleting the file: garbage collection takes the cached copy and the tier forgets it.
  const cachedKey = setup.diskCache.stats().chunks > 0 ? [...setup.holders.keys()].find((key) => setup.diskCache.has(key))! : null
  t.ok(cachedKey !== null, 'something is cached')
  setup.references.delete(cachedKey!)
  setup.local.collect([cachedKey!])
  t.ok(await eventually(() => !setup.diskCache.has(cachedKey!)), 'a collected copy leaves the tier')
})

test('the disk cache off (bound 0): nothing is kept as cache', async (t) => {
  const [a] = peerIds(1) as [string]
  const setup = await setUp(t, { [a]: 'stores' })
  const { id } = plant(setup, [a], 5000)
  await setup.chunks.read(id, 0, 10)
  t.ok(await setup.local.store.has(id), 'kept on disk until the keeper deletes it, as before')
  t.is(setup.diskCache.stats().chunks, 0, 'but not as cache')
  t.is(setup.diskCache.has(chunkIdToHex(id)), false)
})

test('a full disk gives up cached copies before a put is refused; a restart rebuilds the tier, oldest first', async (t) => {
  const [a] = peerIds(1) as [string]
  const keys = newKeys()
  const directory = await tempDir(t)
  const roomy = await setUp(t, { [a]: 'stores' }, { diskCacheBytes: 64 * 1024 * 1024, directory, keys })
  const planted = [plant(roomy, [a], 5000), plant(roomy, [a], 6000), plant(roomy, [a], 7000)]
  for (const { id } of planted) await roomy.chunks.read(id, 0, 10)
  t.is(roomy.diskCache.stats().chunks, 3, 'three cached copies')
  // The second was read last of all: after a restart it must be the last to go.
  await new Promise((resolve) => setTimeout(resolve, 20))
  const now = new Date()
  const pathOf = (id: Buffer): string => `${directory}/${chunkIdToHex(id).slice(0, 2)}/${chunkIdToHex(id)}`
  await utimes(pathOf(planted[1]!.id), now, now)
  await roomy.local.close()

  const full = await setUp(t, { [a]: 'stores' }, { diskCacheBytes: 64 * 1024 * 1024, directory, keys, localFull: true })
  for (const { id } of planted) {
    full.holders.set(chunkIdToHex(id), [a])
    full.references.set(chunkIdToHex(id), 1)
  }
  full.holders.set(chunkIdToHex(planted[2]!.id), [a, SELF]) // listed here meanwhile: not cache
  t.is(await full.diskCache.rebuild(), 2, 'rebuilt: the referenced copies not listed here')
  t.absent(full.diskCache.has(chunkIdToHex(planted[2]!.id)), 'the listed one is not cache')

  const plaintext = randomBytes(5000)
  const id = chunkIdOf(plaintext, keys.idKey)
  const reply = await full.network.server!(a, { kind: ChunkKind.Put, requestId: 1, chunkId: id, payload: sealChunk(plaintext, id, keys.encryptionKey), chain: [] })
  t.is(reply.kind, ChunkKind.Failed, 'a disk that stays full still refuses the put')
  t.is(full.diskCache.stats().evicted, 1, 'but first it gave up one cached copy for it')
  t.absent(await full.local.store.has(planted[0]!.id), 'the least recently read one')
  t.ok(await full.local.store.has(planted[1]!.id), 'the one read last stays')
  t.ok(await full.local.store.has(planted[2]!.id), 'and the listed one is never touched')
})
