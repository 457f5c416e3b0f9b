// Proves the filesystem state machine's rules (names, link counts, rename, truncate, chunk reference
// counts) by scenario, then by seeded random command sequences: after every command the invariants
// hold, every command survives an encode/decode round trip, and a snapshot restores an identical state.
// Hostile bytes fed to the decoders only ever raise DecodeError. SEED=n replays one random run.
import test from 'brittle'
import { constants } from 'node:os'
import type { Command } from '../../../metadata/fs/commands.js'
import { DecodeError, RENAME_EXCHANGE, RENAME_NOREPLACE, decodeCommand, encodeCommand } from '../../../metadata/fs/commands.js'
import { CHUNK_BYTES, ROOT_ID, S_IFREG } from '../../../metadata/fs/inode.js'
import { decodeSnapshot, encodeSnapshot } from '../../../metadata/fs/snapshot.js'
import { FsState } from '../../../metadata/fs/state.js'
import { seededRandom as random } from '../../helpers/seeded-random.js'

const E = constants.errno
const t0 = 1_700_000_000_000_000_000n

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
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'd', keepOpen: false, nowNs: t0 }).errno, E.EISDIR)
  t.is(fs.apply({ type: 'unlink', parent: dir, name: 'f', keepOpen: false, nowNs: t0 + 4n }).errno, 0)
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
    fs.apply({ type: 'rename', parent, name, newParent, newName, flags, keepOpen: false, nowNs: t0 }).errno
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
    fs.apply({ type: 'commitChunks', fileId, size, updates, mtimeNs: t0, nowNs: t0 }).errno
  t.is(commit(f, 2 * CHUNK_BYTES + 10, [{ index: 0, ref: ref(1) }, { index: 1, ref: ref(2) }, { index: 2, ref: ref(3, 10) }]), 0)
  t.is(commit(g, CHUNK_BYTES, [{ index: 0, ref: ref(1) }]), 0, 'g shares chunk 1')
  t.alike(fs.takeFreedChunks(), [])
  t.is(fs.apply({ type: 'setattr', fileId: f, changes: { size: 100 }, nowNs: t0 }).errno, 0)
  t.alike(fs.takeFreedChunks().sort(), [Buffer.alloc(32, 2).toString('hex'), Buffer.alloc(32, 3).toString('hex')])
  t.is(fs.get(f)!.chunks[0]!.length, 100, 'the boundary chunk is shortened, not rewritten')
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'f', keepOpen: false, nowNs: t0 }).errno, 0)
  t.alike(fs.takeFreedChunks(), [], 'chunk 1 is still referenced by g')
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'g', keepOpen: true, nowNs: t0 }).errno, 0)
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


function randomCommand (fs: FsState, next: () => number, step: number): Command {
  const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)]!
  const ids = [...fs.inodes.keys()]
  const directories = ids.filter((id) => (fs.get(id)!.mode & 0o170000) === 0o040000)
  const names = ['a', 'b', 'c', 'd', 'e']
  const nowNs = t0 + BigInt(step)
  const parent = pick(directories)
  const name = pick(names)
  switch (Math.floor(next() * 10)) {
    case 0: return fileCommand(parent, name, nowNs)
    case 1: return mkdirCommand(parent, name, nowNs)
    case 2: return { type: 'unlink', parent, name, keepOpen: next() < 0.3, nowNs }
    case 3: return { type: 'rmdir', parent, name, nowNs }
    case 4: return { type: 'rename', parent, name, newParent: pick(directories), newName: pick(names), flags: pick([0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE]), keepOpen: false, nowNs }
    case 5: return { type: 'link', fileId: pick(ids), parent, name, nowNs }
    case 6: return { type: 'setattr', fileId: pick(ids), changes: { size: Math.floor(next() * 3 * CHUNK_BYTES), mode: 0o600 }, nowNs }
    case 7: {
      const size = Math.floor(next() * 3 * CHUNK_BYTES)
      const slots = Math.ceil(size / CHUNK_BYTES)
      const updates = Array.from({ length: slots }, (_, index) => ({ index, ref: next() < 0.2 ? null : ref(Math.floor(next() * 8)) }))
      return { type: 'commitChunks', fileId: pick(ids), size, updates, mtimeNs: nowNs, nowNs }
    }
    case 8: return { type: 'release', fileId: pick(ids) }
    default: return { type: 'setxattr', fileId: pick(ids), name: 'user.' + name, value: Buffer.from([step & 255]), flags: 0, nowNs }
  }
}

test('random command sequences keep every invariant, round-trip, and snapshot exactly', (t) => {
  const seeds = process.env.SEED !== undefined ? [Number(process.env.SEED)] : Array.from({ length: 200 }, (_, i) => i + 1)
  let applied = 0
  for (const seed of seeds) {
    const next = random(seed)
    const fs = new FsState(t0)
    try {
      for (let step = 0; step < 150; step++) {
        const command = randomCommand(fs, next, step)
        const decoded = decodeCommand(encodeCommand(command))
        if (!encodeCommand(decoded).equals(encodeCommand(command))) throw new Error('command does not round-trip')
        fs.apply(decoded)
        fs.takeFreedChunks()
        fs.checkInvariants()
        applied++
      }
      const snapshot = encodeSnapshot(fs)
      if (!encodeSnapshot(decodeSnapshot(snapshot)).equals(snapshot)) throw new Error('snapshot does not restore the same state')
    } catch (error) {
      t.fail(`seed ${seed}: ${(error as Error).message} — replay with SEED=${seed}`)
      return
    }
  }
  t.pass(`${seeds.length} seeds, ${applied} commands applied with invariants checked after each`)
})

test('decoders reject hostile bytes with DecodeError only', (t) => {
  const next = random(Number(process.env.SEED ?? 7))
  const valid = [encodeCommand(fileCommand(ROOT_ID, 'x')), encodeCommand({ type: 'commitChunks', fileId: 2, size: 5, updates: [{ index: 0, ref: ref(1, 5) }], mtimeNs: t0, nowNs: t0 })]
  const fs = new FsState()
  fs.apply(fileCommand(ROOT_ID, 'x'))
  valid.push(encodeSnapshot(fs))
  let other = 0
  for (let i = 0; i < 3000; i++) {
    const base = valid[i % valid.length]!
    const bytes = i % 3 === 0 ? Buffer.from(Array.from({ length: Math.floor(next() * 64) }, () => Math.floor(next() * 256))) : Buffer.from(base)
    if (i % 3 !== 0) for (let flips = 1 + Math.floor(next() * 3); flips > 0; flips--) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256)
    for (const decode of [decodeCommand, decodeSnapshot]) {
      try { decode(bytes) } catch (error) { if (!(error instanceof DecodeError)) other++ }
    }
  }
  t.is(other, 0, 'no TypeError, RangeError or other crash from 6000 hostile decodes')
})
