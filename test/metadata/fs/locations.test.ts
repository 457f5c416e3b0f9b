// Proves how the state records where chunk copies live: holders named by commitChunks are added and
// never kept in the inode; setLocations adds and removes holders and skips freed chunks; a freed chunk
// loses its entry and a removed peer disappears from every entry; HOLDERS_MAX, LOCATION_UPDATES_MAX and
// PEER_TABLE_MAX hold. Codecs and snapshots carry locations exactly, version 2 bytes still decode, and
// hostile or corrupt bytes raise DecodeError only. Each scenario is driven through FsState.apply and
// checked with checkInvariants.
import test from 'brittle'
import { constants } from 'node:os'
import type { ChunkUpdate, Command, LocationUpdate } from '../../../metadata/fs/commands.js'
import { DecodeError, HOLDERS_MAX, LOCATION_UPDATES_MAX, PEER_ID_BYTES_MAX, decodeCommand, encodeCommand } from '../../../metadata/fs/commands.js'
import type { ChunkRef } from '../../../metadata/fs/inode.js'
import { CHUNK_BYTES, ROOT_ID, S_IFREG } from '../../../metadata/fs/inode.js'
import { PEER_TABLE_MAX } from '../../../metadata/fs/locations.js'
import { decodeSnapshot, encodeSnapshot } from '../../../metadata/fs/snapshot.js'
import { FsState } from '../../../metadata/fs/state.js'

const E = constants.errno
const t0 = 1_700_000_000_000_000_000n
const PEER_A = 'a'.repeat(64)
const PEER_B = 'b'.repeat(64)
const PEER_C = 'c'.repeat(64)
const key = (byte: number): string => Buffer.alloc(32, byte).toString('hex')

function ref (byte: number, holders?: string[], length = CHUNK_BYTES): ChunkRef {
  return holders === undefined ? { id: Buffer.alloc(32, byte), length } : { id: Buffer.alloc(32, byte), length, holders }
}

function create (fs: FsState, name: string): number {
  return fs.apply({ type: 'create', parent: ROOT_ID, name, mode: S_IFREG | 0o644, rdev: 0, uid: 0, gid: 0, nowNs: t0 }).fileId!
}

function commit (fs: FsState, fileId: number, refs: ChunkRef[]): number {
  const updates: ChunkUpdate[] = refs.map((chunk, index) => ({ index, ref: chunk }))
  return fs.apply({ type: 'commitChunks', fileId, size: refs.length * CHUNK_BYTES, updates, mtimeNs: t0, nowNs: t0, attributes: {} }).errno
}

function setLocations (fs: FsState, updates: LocationUpdate[]): number {
  return fs.apply({ type: 'setLocations', updates }).errno
}

/** File f: chunk 1 held by A and B, chunk 2 by A. File g shares chunk 1. */
function locatedState (): FsState {
  const fs = new FsState(t0)
  commit(fs, create(fs, 'f'), [ref(1, [PEER_B, PEER_A]), ref(2, [PEER_A])])
  commit(fs, create(fs, 'g'), [ref(1)])
  fs.checkInvariants()
  return fs
}

test('locations follow commit, setLocations, file deletion and removePeer', (t) => {
  const fs = new FsState(t0)
  const f = create(fs, 'f')
  const g = create(fs, 'g')
  t.is(commit(fs, f, [ref(1, [PEER_B, PEER_A, PEER_B]), ref(2, [PEER_A])]), 0)
  t.alike(fs.holdersOf(key(1)), [PEER_B, PEER_A], 'holders in peer table order, duplicates once')
  t.alike(fs.chunkLocations.peers, [PEER_B, PEER_A], 'the peer table grows as peers are first seen')
  t.alike(fs.chunkLocations.locations.get(key(1)), [0, 1], 'stored as sorted peer indexes')
  t.alike(fs.holdersOf(key(2)), [PEER_A])
  t.alike(fs.holdersOf(key(9)), [], 'an unknown chunk has no holders')
  t.ok(fs.get(f)!.chunks.every((chunk) => chunk !== null && !('holders' in chunk)), 'inode refs do not keep holders')
  t.alike(Object.keys(fs.get(f)!.chunks[0]!).sort(), ['id', 'length'])
  t.is(fs.locationCount(), 2)
  fs.checkInvariants()

  t.is(commit(fs, g, [ref(1, [PEER_C])]), 0, 'a second file referencing chunk 1 adds its holder')
  t.alike(fs.holdersOf(key(1)), [PEER_B, PEER_A, PEER_C])
  t.is(setLocations(fs, [{ chunk: Buffer.alloc(32, 1), add: [], remove: [PEER_B] }, { chunk: Buffer.alloc(32, 2), add: [PEER_C], remove: [] }]), 0)
  t.alike(fs.holdersOf(key(1)), [PEER_A, PEER_C])
  t.alike(fs.holdersOf(key(2)), [PEER_A, PEER_C])
  t.alike(fs.chunksHeldBy(PEER_C).sort(), [key(1), key(2)])
  t.alike(fs.chunksHeldBy(PEER_B), [], 'B was removed from its only chunk')
  t.alike(fs.chunksHeldBy('d'.repeat(64)), [], 'an unknown peer holds nothing')
  t.is(setLocations(fs, [{ chunk: Buffer.alloc(32, 2), add: [PEER_B], remove: [PEER_A, PEER_C] }]), 0, 'a move: removals first, then additions')
  t.alike(fs.holdersOf(key(2)), [PEER_B])
  t.is(setLocations(fs, [{ chunk: Buffer.alloc(32, 2), add: [], remove: [PEER_B] }]), 0)
  t.alike(fs.holdersOf(key(2)), [])
  t.absent(fs.chunkLocations.locations.has(key(2)), 'an entry with no holder left is deleted')
  t.is(setLocations(fs, [{ chunk: Buffer.alloc(32, 9), add: [PEER_A], remove: [] }]), 0, 'a chunk nobody references: OK')
  t.absent(fs.chunkLocations.locations.has(key(9)), 'and not recorded')
  fs.checkInvariants()

  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'f', holder: '', nowNs: t0 }).errno, 0)
  t.alike(fs.takeFreedChunks(), [key(2)])
  t.absent(fs.chunkLocations.locations.has(key(2)), 'the freed chunk has no entry')
  t.alike(fs.holdersOf(key(1)), [PEER_A, PEER_C], 'chunk 1 is still referenced by g and keeps its holders')
  t.is(setLocations(fs, [{ chunk: Buffer.alloc(32, 2), add: [PEER_A], remove: [] }]), 0, 'a late update for the freed chunk is ignored')
  t.is(fs.locationCount(), 1)
  fs.checkInvariants()

  const h = create(fs, 'h')
  t.is(commit(fs, h, [ref(3, [PEER_A, PEER_C])]), 0)
  t.is(fs.apply({ type: 'removePeer', peerId: PEER_A }).errno, 0)
  t.alike(fs.chunksHeldBy(PEER_A), [], 'a removed peer holds nothing')
  t.alike(fs.holdersOf(key(1)), [PEER_C])
  t.alike(fs.holdersOf(key(3)), [PEER_C])
  t.alike(fs.chunkLocations.peers, [PEER_B, PEER_A, PEER_C], 'the peer table is append only: A keeps its slot')
  t.is(setLocations(fs, [{ chunk: Buffer.alloc(32, 3), add: [PEER_A], remove: [] }]), 0)
  t.is(commit(fs, h, [ref(3, [PEER_A])]), 0)
  t.alike(fs.holdersOf(key(3)), [PEER_C], 'a removed peer is never recorded again')
  t.is(fs.apply({ type: 'removePeer', peerId: PEER_C }).errno, 0)
  t.is(fs.locationCount(), 0, 'the last holder gone: no entries left')
  fs.checkInvariants()
})

test('a chunk dropped and re-referenced in one commit keeps the holders the commit names', (t) => {
  const fs = new FsState(t0)
  const f = create(fs, 'f')
  t.is(commit(fs, f, [ref(1, [PEER_A]), ref(2, [PEER_B])]), 0)
  // Slot 0 moves from chunk 1 to chunk 2 (freeing 1 for a moment), slot 1 takes chunk 1 back.
  const updates: ChunkUpdate[] = [{ index: 0, ref: ref(2) }, { index: 1, ref: ref(1, [PEER_C]) }]
  t.is(fs.apply({ type: 'commitChunks', fileId: f, size: 2 * CHUNK_BYTES, updates, mtimeNs: t0, nowNs: t0, attributes: {} }).errno, 0)
  t.alike(fs.holdersOf(key(1)), [PEER_C], 'holders named in the commit are applied after the slots moved')
  t.alike(fs.holdersOf(key(2)), [PEER_B])
  const past = [{ index: 5, ref: ref(7, [PEER_A]) }]
  t.is(fs.apply({ type: 'commitChunks', fileId: f, size: 2 * CHUNK_BYTES, updates: past, mtimeNs: t0, nowNs: t0, attributes: {} }).errno, 0)
  t.alike(fs.holdersOf(key(7)), [], 'a slot past the size is skipped, and so are its holders')
  fs.checkInvariants()
})

test('bounds: HOLDERS_MAX per chunk, ids per update, updates per command; a refused command changes nothing', (t) => {
  const fs = locatedState()
  const many = Array.from({ length: HOLDERS_MAX + 4 }, (_, i) => 'peer-' + i)
  t.is(setLocations(fs, [{ chunk: Buffer.alloc(32, 2), add: many.slice(0, HOLDERS_MAX), remove: [] }]), 0)
  t.is(setLocations(fs, [{ chunk: Buffer.alloc(32, 2), add: many.slice(HOLDERS_MAX), remove: [] }]), 0)
  t.is(fs.holdersOf(key(2)).length, HOLDERS_MAX, 'holders beyond HOLDERS_MAX are not recorded')
  t.alike(fs.holdersOf(key(2)), [PEER_A, ...many.slice(0, HOLDERS_MAX - 1)], 'the first ones recorded stay')
  fs.checkInvariants()

  const before = encodeSnapshot(fs)
  const refused: Array<[string, LocationUpdate[]]> = [
    ['too many ids to add', [{ chunk: Buffer.alloc(32, 1), add: many.slice(0, HOLDERS_MAX + 1), remove: [] }]],
    ['too many ids to remove', [{ chunk: Buffer.alloc(32, 1), add: [], remove: many.slice(0, HOLDERS_MAX + 1) }]],
    ["a '' peer id", [{ chunk: Buffer.alloc(32, 1), add: [PEER_C], remove: [] }, { chunk: Buffer.alloc(32, 1), add: [''], remove: [] }]],
    ['a peer id over the bound', [{ chunk: Buffer.alloc(32, 1), add: ['x'.repeat(PEER_ID_BYTES_MAX + 1)], remove: [] }]],
    ['a chunk id of 31 bytes', [{ chunk: Buffer.alloc(31, 1), add: [PEER_C], remove: [] }]],
    ['too many updates', Array.from({ length: LOCATION_UPDATES_MAX + 1 }, () => ({ chunk: Buffer.alloc(32, 1), add: [PEER_C], remove: [] }))]
  ]
  for (const [what, updates] of refused) t.is(setLocations(fs, updates), E.EINVAL, `setLocations with ${what}: EINVAL`)
  const f = fs.lookup(ROOT_ID, 'f')!
  t.is(commit(fs, f, [ref(1, [PEER_C]), ref(3, many.slice(0, HOLDERS_MAX + 1))]), E.EINVAL, 'commitChunks with too many holders: EINVAL')
  t.is(commit(fs, f, [ref(3, [''])]), E.EINVAL, "commitChunks with a '' holder: EINVAL")
  t.ok(encodeSnapshot(fs).equals(before), 'refused commands left the state untouched')
  const atBound = Array.from({ length: LOCATION_UPDATES_MAX }, () => ({ chunk: Buffer.alloc(32, 1), add: [PEER_C], remove: [] }))
  t.is(setLocations(fs, atBound), 0, 'LOCATION_UPDATES_MAX updates are accepted')
  t.alike(decodeCommand(encodeCommand({ type: 'setLocations', updates: atBound })), { type: 'setLocations', updates: atBound }, 'and round-trip')
  fs.checkInvariants()
})

test('the peer table is bounded by PEER_TABLE_MAX; a peer past it is not recorded', (t) => {
  const fs = new FsState(t0)
  const chunks = PEER_TABLE_MAX / HOLDERS_MAX
  t.ok(chunks <= LOCATION_UPDATES_MAX, 'one command can fill the table')
  const f = create(fs, 'f')
  const updates: ChunkUpdate[] = Array.from({ length: chunks }, (_, index) => ({ index, ref: { id: chunkId(index), length: CHUNK_BYTES } }))
  t.is(fs.apply({ type: 'commitChunks', fileId: f, size: chunks * CHUNK_BYTES, updates, mtimeNs: t0, nowNs: t0, attributes: {} }).errno, 0)
  const peer = (i: number): string => i.toString(16).padStart(64, '0')
  const fill = Array.from({ length: chunks }, (_, c) => ({ chunk: chunkId(c), add: Array.from({ length: HOLDERS_MAX }, (_, h) => peer(c * HOLDERS_MAX + h)), remove: [] }))
  t.is(setLocations(fs, fill), 0)
  t.is(fs.chunkLocations.peers.length, PEER_TABLE_MAX)
  t.is(setLocations(fs, [{ chunk: chunkId(0), add: [PEER_A, peer(HOLDERS_MAX)], remove: [peer(0), peer(1)] }]), 0)
  t.alike(fs.holdersOf(chunkId(0).toString('hex')), [...Array.from({ length: HOLDERS_MAX - 2 }, (_, h) => peer(h + 2)), peer(HOLDERS_MAX)],
    'a new peer past the bound is skipped; a known peer is still recorded')
  t.is(fs.chunkLocations.peers.length, PEER_TABLE_MAX)
  fs.checkInvariants()
  const restored = decodeSnapshot(encodeSnapshot(fs))
  t.is(restored.chunkLocations.peers.length, PEER_TABLE_MAX, 'a full table survives a snapshot')
  t.is(restored.locationCount(), chunks)
})

function chunkId (index: number): Buffer {
  const id = Buffer.alloc(32)
  id.writeUInt32BE(index)
  return id
}

test('codec and snapshot round trips carry holders and locations exactly', (t) => {
  const commands: Command[] = [
    { type: 'commitChunks', fileId: 2, size: 3 * CHUNK_BYTES, updates: [{ index: 0, ref: ref(1, [PEER_A, PEER_B]) }, { index: 1, ref: null }, { index: 2, ref: ref(2) }], mtimeNs: t0, nowNs: t0, attributes: {} },
    { type: 'setLocations', updates: [{ chunk: Buffer.alloc(32, 1), add: [PEER_A], remove: [PEER_B, PEER_C] }, { chunk: Buffer.alloc(32, 2), add: [], remove: [] }] },
    { type: 'setLocations', updates: [] }
  ]
  for (const command of commands) t.alike(decodeCommand(encodeCommand(command)), command, `${command.type} round-trips`)
  const empty = decodeCommand(encodeCommand({ type: 'commitChunks', fileId: 2, size: 1, updates: [{ index: 0, ref: ref(1, [], 1) }], mtimeNs: t0, nowNs: t0, attributes: {} }))
  t.alike(empty, { type: 'commitChunks', fileId: 2, size: 1, updates: [{ index: 0, ref: ref(1, undefined, 1) }], mtimeNs: t0, nowNs: t0, attributes: {} }, 'an empty holder list is encoded as none')

  const fs = locatedState()
  fs.apply({ type: 'removePeer', peerId: PEER_B })
  const snapshot = encodeSnapshot(fs)
  const restored = decodeSnapshot(snapshot)
  t.alike(restored.chunkLocations.peers, [PEER_B, PEER_A], 'the peer table, removed peer slots included')
  t.alike([...restored.chunkLocations.locations], [...fs.chunkLocations.locations], 'every location entry')
  t.alike(restored.holdersOf(key(1)), [PEER_A])
  t.alike(restored.chunksHeldBy(PEER_A).sort(), [key(1), key(2)])
  t.ok(encodeSnapshot(restored).equals(snapshot), 'the snapshot restores the same bytes')
  t.is(restored.apply({ type: 'setLocations', updates: [{ chunk: Buffer.alloc(32, 2), add: [PEER_C], remove: [] }] }).errno, 0)
  t.alike(restored.chunkLocations.peers, [PEER_B, PEER_A, PEER_C], 'the restored table keeps appending')
  restored.checkInvariants()
})

test('version 2 commands and snapshots still decode; version 3 content is refused under version 2', (t) => {
  // Version 4 appended one byte to commitChunks (no staged attributes): without it, the bytes of version 2.
  const plain = encodeCommand({ type: 'commitChunks', fileId: 2, size: 5, updates: [{ index: 0, ref: ref(1, undefined, 5) }, { index: 1, ref: null }], mtimeNs: t0, nowNs: t0, attributes: {} }).subarray(0, -1)
  plain[0] = 2
  t.alike(decodeCommand(plain), { type: 'commitChunks', fileId: 2, size: 5, updates: [{ index: 0, ref: ref(1, undefined, 5) }, { index: 1, ref: null }], mtimeNs: t0, nowNs: t0, attributes: {} }, 'a version 2 commitChunks')
  const withHolders = encodeCommand({ type: 'commitChunks', fileId: 2, size: 5, updates: [{ index: 0, ref: ref(1, [PEER_A], 5) }], mtimeNs: t0, nowNs: t0, attributes: {} }).subarray(0, -1)
  withHolders[0] = 2
  t.exception(() => decodeCommand(withHolders), DecodeError, 'holders under version 2')
  const locations = encodeCommand({ type: 'setLocations', updates: [] })
  locations[0] = 2
  t.exception(() => decodeCommand(locations), DecodeError, 'setLocations under version 2')
  locations[0] = 6
  t.exception(() => decodeCommand(locations), DecodeError, 'a version 6 command')

  const fs = new FsState(t0)
  commit(fs, create(fs, 'f'), [ref(1)])
  const current = encodeSnapshot(fs)
  t.alike([...current.subarray(current.length - 3)], [0, 0, 0], 'no peers, no locations, no locks: three zero counts at the end')
  const old = Buffer.from(current.subarray(0, current.length - 3))
  old[0] = 2
  const restored = decodeSnapshot(old)
  t.ok(encodeSnapshot(restored).equals(current), 'a version 2 snapshot restores the same state, with no locations')
})

test('hostile and corrupt bytes for holders, setLocations and locations raise DecodeError only', (t) => {
  const long = 'x'.repeat(PEER_ID_BYTES_MAX + 1)
  const badCommands: Array<[string, Command]> = [
    ['a holder over the bound', { type: 'commitChunks', fileId: 2, size: 5, updates: [{ index: 0, ref: ref(1, [long], 5) }], mtimeNs: t0, nowNs: t0, attributes: {} }],
    ["a '' holder", { type: 'commitChunks', fileId: 2, size: 5, updates: [{ index: 0, ref: ref(1, [''], 5) }], mtimeNs: t0, nowNs: t0, attributes: {} }],
    ['too many holders', { type: 'commitChunks', fileId: 2, size: 5, updates: [{ index: 0, ref: ref(1, Array(HOLDERS_MAX + 1).fill(PEER_A), 5) }], mtimeNs: t0, nowNs: t0, attributes: {} }],
    ['too many ids to add', { type: 'setLocations', updates: [{ chunk: Buffer.alloc(32), add: Array(HOLDERS_MAX + 1).fill(PEER_A), remove: [] }] }],
    ['too many ids to remove', { type: 'setLocations', updates: [{ chunk: Buffer.alloc(32), add: [], remove: Array(HOLDERS_MAX + 1).fill(PEER_A) }] }],
    ["a '' id to remove", { type: 'setLocations', updates: [{ chunk: Buffer.alloc(32), add: [], remove: [''] }] }],
    ['an id over the bound', { type: 'setLocations', updates: [{ chunk: Buffer.alloc(32), add: [long], remove: [] }] }],
    ['too many updates', { type: 'setLocations', updates: Array.from({ length: LOCATION_UPDATES_MAX + 1 }, () => ({ chunk: Buffer.alloc(32), add: [], remove: [] })) }]
  ]
  for (const [what, command] of badCommands) t.exception(() => decodeCommand(encodeCommand(command)), DecodeError, `${command.type} with ${what}`)
  const flags = encodeCommand({ type: 'commitChunks', fileId: 2, size: 5, updates: [{ index: 0, ref: ref(1, undefined, 5) }], mtimeNs: t0, nowNs: t0, attributes: {} })
  const flagsAt = 6 // version, type, fileId, size, update count, slot index
  t.is(flags[flagsAt], 1, 'the ref flags byte')
  for (const value of [2, 4, 255]) {
    flags[flagsAt] = value
    t.exception(() => decodeCommand(flags), DecodeError, `ref flags ${value}`)
  }
  const staged = encodeCommand({ type: 'commitChunks', fileId: 2, size: 5, updates: [], mtimeNs: t0, nowNs: t0, attributes: { mode: 0o755, uid: 3 } })
  t.alike(decodeCommand(staged), { type: 'commitChunks', fileId: 2, size: 5, updates: [], mtimeNs: t0, nowNs: t0, attributes: { mode: 0o755, uid: 3 } }, 'staged attributes round-trip')
  const none = encodeCommand({ type: 'commitChunks', fileId: 2, size: 5, updates: [], mtimeNs: t0, nowNs: t0, attributes: {} })
  t.is(none[none.length - 1], 0, 'no staged attributes: one flags byte of 0 at the end')
  for (const [flags, what] of [[8, 'a size'], [32, 'an mtime']] as const) {
    const hostile = Buffer.concat([none.subarray(0, -1), Buffer.from([flags, 1])])
    t.exception(() => decodeCommand(hostile), DecodeError, `${what} among staged attributes`)
  }
  const emptyFlagged = Buffer.concat([flags.subarray(0, flagsAt), Buffer.from([3]), flags.subarray(flagsAt + 1, flagsAt + 34), Buffer.from([0]), flags.subarray(flagsAt + 34)])
  t.exception(() => decodeCommand(emptyFlagged), DecodeError, 'holders flagged but none listed')

  for (const command of [badCommands[0]![1], { type: 'setLocations', updates: [{ chunk: Buffer.alloc(32, 1), add: [PEER_A], remove: [PEER_B] }] }] as Command[]) {
    const bytes = encodeCommand(command)
    let wrong = 0
    for (let end = 0; end < bytes.length; end++) {
      try { decodeCommand(bytes.subarray(0, end)); wrong++ } catch (error) { if (!(error instanceof DecodeError)) wrong++ }
    }
    t.is(wrong, 0, `every truncation of ${command.type} throws DecodeError`)
  }

  const snapshot = encodeSnapshot(locatedState())
  let wrong = 0
  for (let end = 0; end < snapshot.length; end++) {
    try { decodeSnapshot(snapshot.subarray(0, end)); wrong++ } catch (error) { if (!(error instanceof DecodeError)) wrong++ }
  }
  t.is(wrong, 0, `every truncation of a ${snapshot.length}-byte snapshot with locations throws DecodeError`)

  // States apply() never reaches, encoded as-is (the encoder trusts its input): the decoder refuses them.
  const corrupt: Array<[string, (fs: FsState) => void]> = [
    ['a location of an unreferenced chunk', (fs) => fs.chunkLocations.locations.set(key(9), [0])],
    ['a peer index past the table', (fs) => fs.chunkLocations.locations.set(key(2), [2])],
    ['unsorted holders', (fs) => fs.chunkLocations.locations.set(key(2), [1, 0])],
    ['a holder listed twice', (fs) => fs.chunkLocations.locations.set(key(2), [1, 1])],
    ['an empty holder list', (fs) => fs.chunkLocations.locations.set(key(2), [])],
    ['more than HOLDERS_MAX holders', (fs) => fs.chunkLocations.locations.set(key(2), Array.from({ length: HOLDERS_MAX + 1 }, (_, i) => i))],
    ['a removed peer listed', (fs) => fs.removedPeers.add(PEER_A)],
    ["a '' peer in the table", (fs) => fs.chunkLocations.peers.push('')],
    ['a peer id over the bound in the table', (fs) => fs.chunkLocations.peers.push(long)],
    ['a peer twice in the table', (fs) => fs.chunkLocations.peers.push(PEER_A)]
  ]
  for (const [what, corruption] of corrupt) {
    const fs = locatedState()
    corruption(fs)
    t.exception(() => decodeSnapshot(encodeSnapshot(fs)), DecodeError, `a snapshot with ${what}`)
  }
  // A Map cannot hold a chunk twice: splice a second copy of the one location record in by hand.
  const one = new FsState(t0)
  commit(one, create(one, 'f'), [ref(1, [PEER_A])])
  const bytes = encodeSnapshot(one)
  const record = Buffer.concat([Buffer.alloc(32, 1), Buffer.from([1, 0])])
  const locks = bytes.subarray(bytes.length - 1) // the empty lock table follows the locations
  const countAt = bytes.length - locks.length - record.length - 1
  t.is(bytes[countAt], 1, 'the location count sits just before its one record')
  t.ok(bytes.subarray(countAt + 1, bytes.length - locks.length).equals(record))
  t.exception(() => decodeSnapshot(Buffer.concat([bytes.subarray(0, countAt), Buffer.from([2]), record, record, locks])), DecodeError, 'a chunk located twice')
})
