// Proves the filesystem state machine's rules (names, link counts, rename, truncate, chunk reference
// counts) by scenario, then by seeded random command sequences: after every command the invariants
// hold, every command survives an encode/decode round trip, and a snapshot restores an identical state.
// Open-but-unlinked files are held per peer: one peer's purgeOrphans leaves another's alone, and a
// removed peer's holds are void. The random sequences also record chunk locations (commitChunks with
// holders, setLocations, removePeer of holders); locations.test.ts proves their rules one by one. They
// take and drop flocks too (file-locks.test.ts proves those rules).
// Hostile bytes fed to the decoders only ever raise DecodeError.
// SEED=n replays one random run.
import test from 'brittle'
import { constants } from 'node:os'
import type { Command } from '../../../metadata/fs/commands.js'
import { DecodeError, HOLDERS_MAX, PEER_ID_BYTES_MAX, RENAME_EXCHANGE, RENAME_NOREPLACE, decodeCommand, encodeCommand } from '../../../metadata/fs/commands.js'
import { CAPABILITY_XATTR, CHUNK_BYTES, ROOT_ID, S_IFREG } from '../../../metadata/fs/inode.js'
import { SNAPSHOT_PIECE_ITEMS, decodeSnapshot, decodeSnapshotSteps, encodeSnapshot, snapshotPieces } from '../../../metadata/fs/snapshot.js'
import { FsState, REMOVED_PEERS_MAX } from '../../../metadata/fs/state.js'
import { fuzzCases } from '../../helpers/fuzz-scale.js'
import { seededRandom as random } from '../../helpers/seeded-random.js'

const E = constants.errno
const t0 = 1_700_000_000_000_000_000n
const PEER_A = 'a'.repeat(64) // peer ids are lowercase hex public keys
const PEER_B = 'b'.repeat(64)

function fileCommand (parent: number, name: string, nowNs = t0): Command {
  return { type: 'create', parent, name, mode: S_IFREG | 0o644, rdev: 0, uid: 0, gid: 0, nowNs }
}

function mkdirCommand (parent: number, name: string, nowNs = t0): Command {
  return { type: 'mkdir', parent, name, mode: 0o755, uid: 0, gid: 0, nowNs }
}

function ref (byte: number, length = CHUNK_BYTES): { id: Buffer, length: number } {
  return { id: Buffer.alloc(32, byte), length }
}

test('names: duplicates, missing parents, long names, bad characters', (t) => {
  const fs = new FsState()
  t.is(fs.apply(fileCommand(ROOT_ID, 'a')).errno, 0)
  t.is(fs.apply(fileCommand(ROOT_ID, 'a')).errno, E.EEXIST)
  t.is(fs.apply(fileCommand(999, 'a')).errno, E.ENOENT)
  t.is(fs.apply(fileCommand(ROOT_ID, 'x'.repeat(255))).errno, 0)
  t.is(fs.apply(fileCommand(ROOT_ID, 'x'.repeat(256))).errno, E.ENAMETOOLONG)
  t.is(fs.apply(fileCommand(ROOT_ID, 'a/b')).errno, E.EINVAL)
  const a = fs.lookup(ROOT_ID, 'a')!
  t.is(fs.apply(fileCommand(a, 'child')).errno, E.ENOTDIR)
  fs.checkInvariants()
})

test('link counts and times of directories and hard links', (t) => {
  const fs = new FsState()
  const dir = fs.apply(mkdirCommand(ROOT_ID, 'd', t0 + 1n)).fileId!
  t.is(fs.get(ROOT_ID)!.nlink, 3, 'root gains a link for the subdirectory')
  t.is(fs.get(ROOT_ID)!.mtimeNs, t0 + 1n, 'parent mtime on mkdir')
  const file = fs.apply(fileCommand(dir, 'f', t0 + 2n)).fileId!
  t.is(fs.apply({ type: 'link', fileId: file, parent: ROOT_ID, name: 'g', nowNs: t0 + 3n }).errno, 0)
  t.is(fs.get(file)!.nlink, 2)
  t.is(fs.get(file)!.ctimeNs, t0 + 3n, 'ctime on link')
  t.is(fs.apply({ type: 'link', fileId: dir, parent: ROOT_ID, name: 'h', nowNs: t0 }).errno, E.EPERM, 'no hard links to directories')
  t.is(fs.apply({ type: 'rmdir', parent: ROOT_ID, name: 'd', nowNs: t0 }).errno, E.ENOTEMPTY)
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'd', holder: '', nowNs: t0 }).errno, E.EISDIR)
  t.is(fs.apply({ type: 'unlink', parent: dir, name: 'f', holder: '', nowNs: t0 + 4n }).errno, 0)
  t.is(fs.get(file)!.nlink, 1, 'the other name keeps the file')
  t.is(fs.apply({ type: 'rmdir', parent: ROOT_ID, name: 'd', nowNs: t0 }).errno, 0)
  t.is(fs.get(ROOT_ID)!.nlink, 2)
  fs.checkInvariants()
})

test('rename: overwrite, same file, directories, own subtree, NOREPLACE and EXCHANGE', (t) => {
  const fs = new FsState()
  const a = fs.apply(fileCommand(ROOT_ID, 'a')).fileId!
  const b = fs.apply(fileCommand(ROOT_ID, 'b')).fileId!
  const rename = (name: string, newName: string, flags = 0, parent = ROOT_ID, newParent = ROOT_ID): number =>
    fs.apply({ type: 'rename', parent, name, newParent, newName, flags, holder: '', nowNs: t0 }).errno
  t.is(rename('a', 'b', RENAME_NOREPLACE), E.EEXIST)
  t.is(rename('a', 'b'), 0)
  t.is(fs.lookup(ROOT_ID, 'b'), a)
  t.absent(fs.get(b), 'the overwritten file is gone')
  t.is(fs.apply({ type: 'link', fileId: a, parent: ROOT_ID, name: 'c', nowNs: t0 }).errno, 0)
  t.is(rename('b', 'c'), 0, 'two names of one file: a no-op')
  t.ok(fs.lookup(ROOT_ID, 'b') !== undefined && fs.lookup(ROOT_ID, 'c') !== undefined, 'both names remain')
  const d = fs.apply(mkdirCommand(ROOT_ID, 'd')).fileId!
  const e = fs.apply(mkdirCommand(d, 'e')).fileId!
  t.is(rename('d', 'x', 0, ROOT_ID, e), E.EINVAL, 'a directory cannot move into itself')
  t.is(rename('b', 'd'), E.EISDIR)
  t.is(rename('d', 'b'), E.ENOTDIR)
  fs.apply(mkdirCommand(ROOT_ID, 'empty'))
  t.is(rename('empty', 'd'), E.ENOTEMPTY)
  t.is(rename('e', 'moved', 0, d, ROOT_ID), 0)
  t.is(fs.get(e)!.parent, ROOT_ID)
  t.is(rename('b', 'd', RENAME_EXCHANGE), 0)
  t.is(fs.lookup(ROOT_ID, 'd'), a)
  t.is(fs.lookup(ROOT_ID, 'b'), d)
  fs.checkInvariants()
})

test('commitChunks, truncate and reference counts free exactly the unreferenced chunks', (t) => {
  const fs = new FsState()
  const f = fs.apply(fileCommand(ROOT_ID, 'f')).fileId!
  const g = fs.apply(fileCommand(ROOT_ID, 'g')).fileId!
  const commit = (fileId: number, size: number, updates: Array<{ index: number, ref: { id: Buffer, length: number } | null }>): number =>
    fs.apply({ type: 'commitChunks', fileId, size, updates, mtimeNs: t0, nowNs: t0, attributes: {} }).errno
  t.is(commit(f, 2 * CHUNK_BYTES + 10, [{ index: 0, ref: ref(1) }, { index: 1, ref: ref(2) }, { index: 2, ref: ref(3, 10) }]), 0)
  t.is(commit(g, CHUNK_BYTES, [{ index: 0, ref: ref(1) }]), 0, 'g shares chunk 1')
  t.alike(fs.takeFreedChunks(), [])
  t.is(fs.apply({ type: 'setattr', fileId: f, changes: { size: 100 }, nowNs: t0 }).errno, 0)
  t.alike(fs.takeFreedChunks().sort(), [Buffer.alloc(32, 2).toString('hex'), Buffer.alloc(32, 3).toString('hex')])
  t.is(fs.get(f)!.chunks[0]!.length, 100, 'the boundary chunk is shortened, not rewritten')
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'f', holder: '', nowNs: t0 }).errno, 0)
  t.alike(fs.takeFreedChunks(), [], 'chunk 1 is still referenced by g')
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'g', holder: PEER_A, nowNs: t0 }).errno, 0)
  t.alike(fs.takeFreedChunks(), [], 'g is open: kept as an orphan')
  fs.checkInvariants()
  t.is(fs.apply({ type: 'release', fileId: g }).errno, 0)
  t.alike(fs.takeFreedChunks(), [Buffer.alloc(32, 1).toString('hex')])
  fs.checkInvariants()
})

test('xattrs: create/replace flags, missing names', (t) => {
  const fs = new FsState()
  const f = fs.apply(fileCommand(ROOT_ID, 'f')).fileId!
  const set = (name: string, flags: number): number => fs.apply({ type: 'setxattr', fileId: f, name, value: Buffer.from('v'), flags, nowNs: t0 }).errno
  t.is(set('user.a', 2), E.ENODATA, 'XATTR_REPLACE of a missing name')
  t.is(set('user.a', 1), 0)
  t.is(set('user.a', 1), E.EEXIST, 'XATTR_CREATE of an existing name')
  t.is(fs.apply({ type: 'removexattr', fileId: f, name: 'user.b', nowNs: t0 }).errno, E.ENODATA)
  t.is(fs.apply({ type: 'removexattr', fileId: f, name: 'user.a', nowNs: t0 }).errno, 0)
})

test('xattrs: the state knows whether any inode has a security.capability attribute', (t) => {
  const fs = new FsState()
  const f = fs.apply(fileCommand(ROOT_ID, 'f')).fileId!
  const g = fs.apply(fileCommand(ROOT_ID, 'g')).fileId!
  const set = (fileId: number): void => { fs.apply({ type: 'setxattr', fileId, name: CAPABILITY_XATTR, value: Buffer.from('v'), flags: 0, nowNs: t0 }) }
  t.absent(fs.hasCapabilityXattrs)
  set(f)
  set(f) // replaced, still one inode
  set(g)
  t.ok(fs.hasCapabilityXattrs)
  fs.apply({ type: 'removexattr', fileId: f, name: CAPABILITY_XATTR, nowNs: t0 })
  t.ok(fs.hasCapabilityXattrs, 'g still has one')
  t.ok(decodeSnapshot(encodeSnapshot(fs)).hasCapabilityXattrs, 'a snapshot keeps the count')
  fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'g', holder: '', nowNs: t0 })
  t.absent(fs.hasCapabilityXattrs, 'removing the inode removes its attribute')
  t.absent(decodeSnapshot(encodeSnapshot(fs)).hasCapabilityXattrs)
  fs.checkInvariants()
})


const HOLDERS = [PEER_A, PEER_B, 'c'.repeat(PEER_ID_BYTES_MAX)]
/** Peers that may hold chunk copies: more than HOLDERS_MAX, and peer-0..3 are the ones removePeer picks. */
const COPY_HOLDERS = [PEER_A, PEER_B, ...Array.from({ length: 18 }, (_, i) => 'peer-' + i)]

function randomHolders (next: () => number, most: number): string[] {
  return Array.from({ length: Math.floor(next() * (most + 1)) }, () => COPY_HOLDERS[Math.floor(next() * COPY_HOLDERS.length)]!)
}

function randomCommand (fs: FsState, next: () => number, step: number): Command {
  const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)]!
  const ids = [...fs.inodes.keys()]
  const directories = ids.filter((id) => (fs.get(id)!.mode & 0o170000) === 0o040000)
  const names = ['a', 'b', 'c', 'd', 'e']
  const nowNs = t0 + BigInt(step)
  const parent = pick(directories)
  const name = pick(names)
  switch (Math.floor(next() * 14)) {
    case 0: return fileCommand(parent, name, nowNs)
    case 1: return mkdirCommand(parent, name, nowNs)
    case 2: return { type: 'unlink', parent, name, holder: next() < 0.3 ? pick(HOLDERS) : '', nowNs }
    case 3: return { type: 'rmdir', parent, name, nowNs }
    case 4: return { type: 'rename', parent, name, newParent: pick(directories), newName: pick(names), flags: pick([0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE]), holder: next() < 0.3 ? pick(HOLDERS) : '', nowNs }
    case 5: return { type: 'link', fileId: pick(ids), parent, name, nowNs }
    case 6: return { type: 'setattr', fileId: pick(ids), changes: { size: Math.floor(next() * 3 * CHUNK_BYTES), mode: 0o600 }, nowNs }
    case 7: {
      const size = Math.floor(next() * 3 * CHUNK_BYTES)
      const slots = Math.ceil(size / CHUNK_BYTES)
      const updates = Array.from({ length: slots }, (_, index) => {
        if (next() < 0.2) return { index, ref: null }
        const chunk = ref(Math.floor(next() * 8))
        return { index, ref: next() < 0.6 ? { ...chunk, holders: randomHolders(next, HOLDERS_MAX) } : chunk }
      })
      // Attributes staged while the file was written (owner, mode, atime), in any combination.
      const attributes = { ...(next() < 0.3 ? { mode: Math.floor(next() * 0o10000) } : {}), ...(next() < 0.2 ? { uid: pick([0, 1000, 65534]), gid: pick([0, 1000]) } : {}), ...(next() < 0.2 ? { atimeNs: nowNs - 5n } : {}) }
      return { type: 'commitChunks', fileId: pick(ids), size, updates, mtimeNs: nowNs, nowNs, attributes }
    }
    // Chunks 0..7 are the ones commits reference; 8 is never referenced (a chunk freed meanwhile).
    case 11: return {
      type: 'setLocations',
      updates: Array.from({ length: Math.floor(next() * 4) }, () => ({ chunk: Buffer.alloc(32, Math.floor(next() * 9)), add: randomHolders(next, 6), remove: randomHolders(next, 3) }))
    }
    case 8: return { type: 'release', fileId: pick(ids) }
    case 9: return { type: 'purgeOrphans', holder: pick(HOLDERS) }
    // Mostly peers that hold nothing (and repeats: removePeer is idempotent), rarely a holder.
    case 10: return { type: 'removePeer', peerId: next() < 0.05 ? pick(HOLDERS) : 'peer-' + Math.floor(next() * 4) }
    // flock by a few owners on each of HOLDERS' mounts: take shared or exclusive, or drop.
    case 12: return { type: 'flock', fileId: pick(ids), owner: `${pick(HOLDERS)}/${pick(['1', 'ff', '0123456789abcdef'])}`, mode: pick([0, 1, 1, 2, 2]) }
    // security.capability now and then: the state counts the inodes that have one (capability probes).
    default: return { type: 'setxattr', fileId: pick(ids), name: next() < 0.2 ? CAPABILITY_XATTR : 'user.' + name, value: Buffer.from([step & 255]), flags: 0, nowNs }
  }
}

test('random command sequences keep every invariant, round-trip, and snapshot exactly', (t) => {
  const seeds = process.env.SEED !== undefined ? [Number(process.env.SEED)] : Array.from({ length: 200 }, (_, i) => i + 1)
  let applied = 0
  let snapshotsWithOrphans = 0
  let snapshotsWithRemovedPeers = 0
  let snapshotsWithLocations = 0
  let snapshotsWithLocks = 0
  let stepsWithFullChunks = 0
  let removalsOfHolders = 0
  for (const seed of seeds) {
    const next = random(seed)
    const fs = new FsState(t0)
    try {
      for (let step = 0; step < 150; step++) {
        const command = randomCommand(fs, next, step)
        const decoded = decodeCommand(encodeCommand(command))
        if (!encodeCommand(decoded).equals(encodeCommand(command))) throw new Error('command does not round-trip')
        if (command.type === 'removePeer' && fs.chunksHeldBy(command.peerId).length > 0) removalsOfHolders++
        fs.apply(decoded)
        if (command.type === 'removePeer' && fs.chunksHeldBy(command.peerId).length > 0) throw new Error('a removed peer still holds chunks')
        fs.takeFreedChunks()
        fs.checkInvariants()
        if ([...fs.chunkLocations.locations.values()].some((list) => list.length === HOLDERS_MAX)) stepsWithFullChunks++
        applied++
      }
      const snapshot = encodeSnapshot(fs)
      const restored = decodeSnapshot(snapshot)
      if (!encodeSnapshot(restored).equals(snapshot)) throw new Error('snapshot does not restore the same state')
      if ([...restored.orphans].join() !== [...fs.orphans].join()) throw new Error('orphans and holders differ after restore')
      if ([...restored.removedPeers].join() !== [...fs.removedPeers].join()) throw new Error('removed peers differ after restore')
      for (const chunk of fs.chunkReferences.keys()) {
        if (restored.holdersOf(chunk).join() !== fs.holdersOf(chunk).join()) throw new Error(`holders of ${chunk} differ after restore`)
      }
      if (restored.locationCount() !== fs.locationCount()) throw new Error('location count differs after restore')
      if (JSON.stringify(restored.locks.entries()) !== JSON.stringify(fs.locks.entries())) throw new Error('locks differ after restore')
      if (fs.locks.entries().length > 0) snapshotsWithLocks++
      if (fs.orphans.size > 0) snapshotsWithOrphans++
      if (fs.removedPeers.size > 0) snapshotsWithRemovedPeers++
      if (fs.locationCount() > 0) snapshotsWithLocations++
    } catch (error) {
      t.fail(`seed ${seed}: ${(error as Error).message} — replay with SEED=${seed}`)
      return
    }
  }
  t.pass(`${seeds.length} seeds, ${applied} commands applied with invariants checked after each`)
  if (process.env.SEED === undefined) {
    t.ok(snapshotsWithOrphans > 0, `${snapshotsWithOrphans} final snapshots carried orphans`)
    t.ok(snapshotsWithRemovedPeers > 0, `${snapshotsWithRemovedPeers} final snapshots carried removed peers`)
    t.ok(snapshotsWithLocations > 0, `${snapshotsWithLocations} final snapshots carried chunk locations`)
    t.ok(snapshotsWithLocks > 0, `${snapshotsWithLocks} final snapshots carried flocks`)
    t.ok(stepsWithFullChunks > 0, `${stepsWithFullChunks} steps had a chunk with HOLDERS_MAX holders`)
    t.ok(removalsOfHolders > 0, `${removalsOfHolders} removePeer commands removed a peer that held chunks`)
  }
})

test('decoders reject hostile bytes with DecodeError only', (t) => {
  const next = random(Number(process.env.SEED ?? 7))
  const valid = [encodeCommand(fileCommand(ROOT_ID, 'x')), encodeCommand({ type: 'commitChunks', fileId: 2, size: 5, updates: [{ index: 0, ref: ref(1, 5) }], mtimeNs: t0, nowNs: t0, attributes: {} }),
    encodeCommand({ type: 'unlink', parent: ROOT_ID, name: 'x', holder: PEER_A, nowNs: t0 }),
    encodeCommand({ type: 'rename', parent: ROOT_ID, name: 'x', newParent: ROOT_ID, newName: 'y', flags: 0, holder: PEER_B, nowNs: t0 }),
    encodeCommand({ type: 'purgeOrphans', holder: PEER_A }), encodeCommand({ type: 'removePeer', peerId: PEER_B }),
    encodeCommand({ type: 'commitChunks', fileId: 2, size: 5, updates: [{ index: 0, ref: { ...ref(1, 5), holders: [PEER_A, PEER_B] } }], mtimeNs: t0, nowNs: t0, attributes: {} }),
    encodeCommand({ type: 'setLocations', updates: [{ chunk: Buffer.alloc(32, 1), add: [PEER_A], remove: [PEER_B] }, { chunk: Buffer.alloc(32, 2), add: [], remove: [PEER_A] }] })]
  const fs = new FsState()
  fs.apply(fileCommand(ROOT_ID, 'x'))
  valid.push(encodeSnapshot(fs))
  valid.push(encodeSnapshot(stateWithOrphansAndRemovedPeers()))
  const located = stateWithOrphansAndRemovedPeers()
  located.apply({ type: 'setLocations', updates: [1, 2, 4].map((byte) => ({ chunk: Buffer.alloc(32, byte), add: [PEER_A, PEER_B], remove: [] })) })
  valid.push(encodeSnapshot(located))
  let other = 0
  const cases = fuzzCases(3000)
  for (let i = 0; i < cases; i++) {
    const base = valid[i % valid.length]!
    const bytes = i % 3 === 0 ? Buffer.from(Array.from({ length: Math.floor(next() * 64) }, () => Math.floor(next() * 256))) : Buffer.from(base)
    if (i % 3 !== 0) for (let flips = 1 + Math.floor(next() * 3); flips > 0; flips--) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256)
    for (const decode of [decodeCommand, decodeSnapshot]) {
      try { decode(bytes) } catch (error) { if (!(error instanceof DecodeError)) other++ }
    }
  }
  t.is(other, 0, `no TypeError, RangeError or other crash from ${2 * cases} hostile decodes (SEED=${process.env.SEED ?? 7})`)
})

/** A state with two files held open by peer A, one by peer B, and peer C removed. */
function stateWithOrphansAndRemovedPeers (): FsState {
  const fs = new FsState(t0)
  const ids = ['a1', 'a2', 'b1', 'kept'].map((name, index) => {
    const id = fs.apply(fileCommand(ROOT_ID, name)).fileId!
    fs.apply({ type: 'commitChunks', fileId: id, size: 10, updates: [{ index: 0, ref: ref(index + 1, 10) }], mtimeNs: t0, nowNs: t0, attributes: {} })
    return id
  })
  fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'a1', holder: PEER_A, nowNs: t0 })
  fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'b1', holder: PEER_B, nowNs: t0 })
  // The file renamed over 'a2' is A's orphan too (rename names the holder of the replaced file).
  fs.apply({ type: 'rename', parent: ROOT_ID, name: 'kept', newParent: ROOT_ID, newName: 'a2', flags: 0, holder: PEER_A, nowNs: t0 })
  fs.apply({ type: 'removePeer', peerId: 'c'.repeat(64) })
  fs.takeFreedChunks()
  fs.checkInvariants()
  if (fs.orphans.size !== 3 || ids.length !== 4) throw new Error('fixture has the wrong orphans')
  return fs
}

const chunkKeyOf = (byte: number): string => Buffer.alloc(32, byte).toString('hex')

test('purgeOrphans: peer B restarting leaves peer A\'s open files alone; A\'s purge releases them', (t) => {
  const fs = stateWithOrphansAndRemovedPeers()
  const [a1, a2, b1] = [2, 3, 4]
  t.alike([...fs.orphans], [[a1, PEER_A], [b1, PEER_B], [a2, PEER_A]], 'each orphan is recorded with its holder')
  t.is(fs.apply({ type: 'purgeOrphans', holder: PEER_B }).errno, 0)
  t.alike([...fs.orphans.keys()], [a1, a2], 'A\'s orphans survive B\'s purge')
  t.ok(fs.get(a1) !== undefined && fs.get(a2) !== undefined, 'A\'s files still readable')
  t.absent(fs.get(b1), 'B\'s orphan is gone')
  t.alike(fs.takeFreedChunks(), [chunkKeyOf(3)], 'only B\'s file\'s chunk is freed')
  fs.checkInvariants()
  t.is(fs.apply({ type: 'purgeOrphans', holder: PEER_B }).errno, 0, 'purging again is harmless')
  t.alike(fs.takeFreedChunks(), [])
  t.is(fs.apply({ type: 'purgeOrphans', holder: PEER_A }).errno, 0)
  t.is(fs.orphans.size, 0)
  t.absent(fs.get(a1))
  t.absent(fs.get(a2))
  t.alike(fs.takeFreedChunks().sort(), [chunkKeyOf(1), chunkKeyOf(2)], 'A\'s purge frees A\'s chunks')
  t.is(fs.get(fs.lookup(ROOT_ID, 'a2')!)!.chunks[0]!.id.toString('hex'), chunkKeyOf(4), 'the file renamed into place is untouched')
  fs.checkInvariants()
})

test('unlink without a holder frees at once; release still frees one orphan of any holder', (t) => {
  const fs = new FsState(t0)
  const f = fs.apply(fileCommand(ROOT_ID, 'f')).fileId!
  const g = fs.apply(fileCommand(ROOT_ID, 'g')).fileId!
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'f', holder: '', nowNs: t0 }).errno, 0)
  t.absent(fs.get(f), "holder '' means nobody keeps it open")
  t.is(fs.orphans.size, 0)
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'g', holder: PEER_B, nowNs: t0 }).errno, 0)
  t.is(fs.orphans.get(g), PEER_B)
  t.is(fs.apply({ type: 'release', fileId: g }).errno, 0)
  t.absent(fs.get(g))
  fs.checkInvariants()
})

test('removePeer: idempotent, voids the peer\'s holds, bounded, and survives a snapshot round trip', (t) => {
  const fs = stateWithOrphansAndRemovedPeers()
  const peerC = 'c'.repeat(64)
  t.alike([...fs.removedPeers], [peerC])
  t.is(fs.apply({ type: 'removePeer', peerId: peerC }).errno, 0, 'removing again is OK')
  t.alike([...fs.removedPeers], [peerC], 'and changes nothing')
  t.is(fs.apply({ type: 'removePeer', peerId: '' }).errno, E.EINVAL, "'' names no peer")
  t.is(fs.apply({ type: 'removePeer', peerId: 'x'.repeat(PEER_ID_BYTES_MAX + 1) }).errno, E.EINVAL)

  t.is(fs.apply({ type: 'removePeer', peerId: PEER_B }).errno, 0)
  t.alike([...fs.orphans.values()], [PEER_A, PEER_A], 'a removed peer never comes back to release: its orphans go now')
  t.alike(fs.takeFreedChunks(), [chunkKeyOf(3)])
  const h = fs.apply(fileCommand(ROOT_ID, 'h')).fileId!
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'h', holder: PEER_B, nowNs: t0 }).errno, 0)
  t.absent(fs.get(h), 'a late unlink naming a removed peer frees the file at once')
  fs.checkInvariants()

  const snapshot = encodeSnapshot(fs)
  const restored = decodeSnapshot(snapshot)
  t.alike([...restored.removedPeers], [peerC, PEER_B], 'removed peers survive the round trip, in order')
  t.alike([...restored.orphans], [...fs.orphans], 'orphans and their holders survive the round trip')
  t.ok(encodeSnapshot(restored).equals(snapshot))
  t.is(restored.apply({ type: 'removePeer', peerId: PEER_B }).errno, 0, 'still idempotent after restore')
  t.is(restored.removedPeers.size, 2)

  const full = new FsState()
  for (let i = 0; i < REMOVED_PEERS_MAX; i++) full.apply({ type: 'removePeer', peerId: i.toString(16).padStart(64, '0') })
  t.is(full.removedPeers.size, REMOVED_PEERS_MAX)
  t.is(full.apply({ type: 'removePeer', peerId: PEER_A }).errno, E.ENOSPC, 'one past the bound is refused')
  t.is(full.apply({ type: 'removePeer', peerId: '0'.repeat(64) }).errno, 0, 'an already removed peer is still OK at the bound')
  full.checkInvariants()
})

test('decoders refuse bad peer ids, orphan records and removed-peer records with DecodeError', (t) => {
  const long = 'x'.repeat(PEER_ID_BYTES_MAX + 1)
  const badCommands: Command[] = [
    { type: 'unlink', parent: ROOT_ID, name: 'x', holder: long, nowNs: t0 },
    { type: 'rename', parent: ROOT_ID, name: 'x', newParent: ROOT_ID, newName: 'y', flags: 0, holder: long, nowNs: t0 },
    { type: 'purgeOrphans', holder: long },
    { type: 'removePeer', peerId: long }
  ]
  for (const command of badCommands) t.exception(() => decodeCommand(encodeCommand(command)), DecodeError, `${command.type} with a ${long.length}-byte peer id`)
  const atBound = decodeCommand(encodeCommand({ type: 'removePeer', peerId: 'x'.repeat(PEER_ID_BYTES_MAX) }))
  t.alike(atBound, { type: 'removePeer', peerId: 'x'.repeat(PEER_ID_BYTES_MAX) }, 'a peer id at the bound decodes')
  const oldVersion = encodeCommand({ type: 'purgeOrphans', holder: PEER_A })
  oldVersion[0] = 1
  t.exception(() => decodeCommand(oldVersion), DecodeError, 'a version 1 command is refused')
  for (const command of [{ type: 'purgeOrphans', holder: PEER_A }, { type: 'removePeer', peerId: PEER_B }] as Command[]) {
    const bytes = encodeCommand(command)
    let wrong = 0
    for (let end = 0; end < bytes.length; end++) {
      try { decodeCommand(bytes.subarray(0, end)); wrong++ } catch (error) { if (!(error instanceof DecodeError)) wrong++ }
    }
    t.is(wrong, 0, `every truncation of ${command.type} throws DecodeError`)
  }

  const snapshot = encodeSnapshot(stateWithOrphansAndRemovedPeers())
  let wrong = 0
  for (let end = 0; end < snapshot.length; end++) {
    try { decodeSnapshot(snapshot.subarray(0, end)); wrong++ } catch (error) { if (!(error instanceof DecodeError)) wrong++ }
  }
  t.is(wrong, 0, `every truncation of a ${snapshot.length}-byte snapshot with orphans and removed peers throws DecodeError`)
  const oldSnapshot = Buffer.from(snapshot)
  oldSnapshot[0] = 1
  t.exception(() => decodeSnapshot(oldSnapshot), DecodeError, 'a version 1 snapshot is refused')

  // States the state machine never reaches, encoded as-is (the encoder trusts its input): the decoder refuses them.
  const corrupt: Array<[string, (fs: FsState) => void]> = [
    ['an orphan holder over the bound', (fs) => fs.orphans.set(2, long)],
    ["an orphan held by ''", (fs) => fs.orphans.set(2, '')],
    ['an orphan held by a removed peer', (fs) => fs.orphans.set(2, 'c'.repeat(64))],
    ['an orphan that still has a name', (fs) => fs.orphans.set(fs.lookup(ROOT_ID, 'a2')!, PEER_A)],
    ['an orphan that does not exist', (fs) => fs.orphans.set(999, PEER_A)],
    ['an orphan that is a directory', (fs) => fs.orphans.set(fs.apply(mkdirCommand(ROOT_ID, 'd')).fileId!, PEER_A)],
    ['a removed peer id over the bound', (fs) => fs.removedPeers.add(long)],
    ["a removed peer ''", (fs) => fs.removedPeers.add('')]
  ]
  for (const [what, corruption] of corrupt) {
    const fs = stateWithOrphansAndRemovedPeers()
    corruption(fs)
    t.exception(() => decodeSnapshot(encodeSnapshot(fs)), DecodeError, `a snapshot with ${what}`)
  }
  // Duplicates cannot be built through a Map or Set: splice a second copy of the last removed peer in by hand.
  const one = new FsState()
  one.apply({ type: 'removePeer', peerId: PEER_A })
  const bytes = encodeSnapshot(one)
  const record = Buffer.concat([Buffer.from([PEER_A.length]), Buffer.from(PEER_A)])
  const tail = 3 // the empty peer table, locations and locks follow the removed peers
  const countAt = bytes.length - tail - record.length - 1
  t.is(bytes[countAt], 1, 'the removed-peer count sits just before its one record')
  const duplicated = Buffer.concat([bytes.subarray(0, countAt), Buffer.from([2]), record, record, bytes.subarray(bytes.length - tail)])
  t.exception(() => decodeSnapshot(duplicated), DecodeError, 'a removed peer listed twice')
})

test('snapshot pieces: a big state comes in bounded pieces that add up to the snapshot and is decoded in steps; a change midway is refused', (t) => {
  const fs = new FsState()
  const big = fs.apply(mkdirCommand(ROOT_ID, 'big')).fileId!
  const entries = 2 * SNAPSHOT_PIECE_ITEMS + 7 // a directory spanning three pieces
  for (let i = 0; i < entries; i++) {
    const fileId = fs.apply(fileCommand(big, `f${i}`)).fileId!
    const chunk = Buffer.alloc(32)
    chunk.writeUInt16BE(i) // a chunk of its own, located
    fs.apply({ type: 'commitChunks', fileId, size: 1, updates: [{ index: 0, ref: { id: chunk, length: 1, holders: [PEER_A] } }], mtimeNs: t0, attributes: {}, nowNs: t0 })
  }
  fs.apply(mkdirCommand(ROOT_ID, 'empty'))
  const pieces = [...snapshotPieces(fs)]
  t.ok(pieces.length >= 8, `${pieces.length} pieces`)
  t.ok(Buffer.concat(pieces).equals(encodeSnapshot(fs)), 'concatenated, they are the snapshot')
  const steps = decodeSnapshotSteps(Buffer.concat(pieces))
  let decodeSteps = 0
  let next = steps.next()
  for (; next.done !== true; next = steps.next()) decodeSteps++
  t.ok(decodeSteps >= 6, `decoded in ${decodeSteps} steps`)
  const restored = next.value
  t.is(restored.entries.get(big)?.size, entries)
  t.ok(encodeSnapshot(restored).equals(encodeSnapshot(fs)), 'which restores the same state')
  t.is(restored.locationCount(), fs.locationCount())
  const taking = snapshotPieces(fs)
  taking.next()
  fs.apply(fileCommand(big, 'late'))
  t.exception(() => [...taking], /changed while a snapshot/, 'a state that changed midway never yields a torn snapshot')
})
