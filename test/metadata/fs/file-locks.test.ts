// flock(2) locks in the replicated state: shared locks coexist, an exclusive one excludes every other
// owner, a refused request changes nothing, a peer's restart (purgeOrphans) or removal drops exactly
// that peer's locks, a file's removal drops its locks (an open-but-unlinked file keeps them), and
// snapshots and the command codec carry them, older versions still decoding.
import test from 'brittle'
import { constants } from 'node:os'
import type { Command } from '../../../metadata/fs/commands.js'
import { DecodeError, LOCK_OWNER_BYTES_MAX, decodeCommand, encodeCommand } from '../../../metadata/fs/commands.js'
import { LOCK_EXCLUSIVE as EX, LOCK_SHARED as SH, LOCK_UNLOCK as UN, lockOwner } from '../../../metadata/fs/file-locks.js'
import { ROOT_ID, S_IFREG } from '../../../metadata/fs/inode.js'
import { decodeSnapshot, encodeSnapshot } from '../../../metadata/fs/snapshot.js'
import { FsState } from '../../../metadata/fs/state.js'

const E = constants.errno
const t0 = 1_700_000_000_000_000_000n
const PEER_A = 'a'.repeat(64)
const PEER_B = 'b'.repeat(64)
const A1 = lockOwner(PEER_A, '00000000000000a1')
const A2 = lockOwner(PEER_A, '00000000000000a2')
const B1 = lockOwner(PEER_B, '00000000000000b1')

function create (fs: FsState, name: string): number {
  return fs.apply({ type: 'create', parent: ROOT_ID, name, mode: S_IFREG | 0o644, rdev: 0, uid: 0, gid: 0, nowNs: t0 }).fileId!
}

function flock (fs: FsState, fileId: number, owner: string, mode: number): number {
  const command: Command = { type: 'flock', fileId, owner, mode }
  const errno = fs.apply(decodeCommand(encodeCommand(command))).errno
  fs.checkInvariants()
  return errno
}

const held = (fs: FsState, fileId: number): Array<[string, number]> => [...fs.locks.of(fileId)]

test('shared locks coexist; an exclusive lock excludes other owners; a refused request changes nothing', (t) => {
  const fs = new FsState(t0)
  const f = create(fs, 'f')
  t.is(flock(fs, f, A1, SH), 0)
  t.is(flock(fs, f, B1, SH), 0, 'two shared locks')
  t.is(flock(fs, f, A2, EX), E.EWOULDBLOCK, 'exclusive while others share')
  t.is(flock(fs, f, A1, EX), E.EWOULDBLOCK, 'a holder cannot convert while another shares')
  t.alike(held(fs, f), [[A1, SH], [B1, SH]], 'the refused conversion kept the shared lock')
  t.is(flock(fs, f, B1, UN), 0)
  t.is(flock(fs, f, A1, EX), 0, 'alone, the holder converts to exclusive')
  t.is(flock(fs, f, B1, SH), E.EWOULDBLOCK, 'shared while another holds it exclusively')
  t.is(flock(fs, f, A2, EX), E.EWOULDBLOCK, 'another owner on the same peer is excluded too')
  t.is(flock(fs, f, A1, EX), 0, 'taking a lock again is harmless')
  t.is(flock(fs, f, A1, SH), 0, 'and converts down')
  t.is(flock(fs, f, B1, SH), 0)
  t.is(flock(fs, f, A2, UN), 0, 'dropping a lock one does not hold is harmless')
  t.is(flock(fs, f, A1, UN), 0)
  t.is(flock(fs, f, B1, UN), 0)
  t.alike(fs.locks.entries(), [], 'nothing left behind')
})

test('requests are checked: owner, mode, file, removed peers', (t) => {
  const fs = new FsState(t0)
  const f = create(fs, 'f')
  t.is(fs.apply({ type: 'flock', fileId: f, owner: 'no-slash', mode: SH }).errno, E.EINVAL, 'an owner without its peer')
  t.is(fs.apply({ type: 'flock', fileId: f, owner: '/1', mode: SH }).errno, E.EINVAL, 'an empty peer')
  t.is(fs.apply({ type: 'flock', fileId: f, owner: A1, mode: 3 }).errno, E.EINVAL, 'an unknown mode')
  t.is(fs.apply({ type: 'flock', fileId: 999, owner: A1, mode: SH }).errno, E.ENOENT, 'a missing file')
  t.is(fs.apply({ type: 'flock', fileId: f, owner: 'x'.repeat(LOCK_OWNER_BYTES_MAX - 2) + '/1', mode: SH }).errno, 0, 'the longest owner')
  t.is(fs.apply({ type: 'flock', fileId: f, owner: 'x'.repeat(LOCK_OWNER_BYTES_MAX - 1) + '/1', mode: SH }).errno, E.EINVAL, 'one byte more')
  t.is(fs.apply({ type: 'removePeer', peerId: PEER_B }).errno, 0)
  t.is(fs.apply({ type: 'flock', fileId: f, owner: B1, mode: SH }).errno, E.EPERM, 'a removed peer takes no lock: it could never drop it')
  fs.checkInvariants()
})

test('a peer\'s restart or removal drops exactly its locks; a file\'s removal drops the file\'s', (t) => {
  const fs = new FsState(t0)
  const [f, g, h] = [create(fs, 'f'), create(fs, 'g'), create(fs, 'h')]
  t.is(flock(fs, f, A1, EX), 0)
  t.is(flock(fs, g, A2, SH), 0)
  t.is(flock(fs, g, B1, SH), 0)
  t.is(flock(fs, h, B1, EX), 0)
  t.is(fs.apply({ type: 'purgeOrphans', holder: PEER_A }).errno, 0, 'peer A restarts')
  t.alike(fs.locks.entries(), [[g, B1, SH], [h, B1, EX]], 'A\'s locks are gone, B\'s stay')
  t.is(flock(fs, f, B1, EX), 0, 'f is free for B')
  t.is(fs.apply({ type: 'removePeer', peerId: PEER_B }).errno, 0)
  t.alike(fs.locks.entries(), [], 'a removed peer\'s locks are gone')
  fs.checkInvariants()

  t.is(flock(fs, g, A1, EX), 0)
  t.is(flock(fs, h, A1, EX), 0)
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'g', holder: '', nowNs: t0 }).errno, 0)
  t.alike(fs.locks.entries(), [[h, A1, EX]], 'a file freed at its unlink takes its lock along')
  t.is(fs.apply({ type: 'unlink', parent: ROOT_ID, name: 'h', holder: PEER_A, nowNs: t0 }).errno, 0)
  t.alike(fs.locks.entries(), [[h, A1, EX]], 'an open-but-unlinked file keeps its lock')
  t.is(fs.apply({ type: 'release', fileId: h }).errno, 0)
  t.alike(fs.locks.entries(), [], 'until its last close frees it')
  fs.checkInvariants()
})

test('snapshots carry locks; version 3 snapshots and version 4 commands still decode, a flock under version 4 does not', (t) => {
  const fs = new FsState(t0)
  const [f, g] = [create(fs, 'f'), create(fs, 'g')]
  flock(fs, f, A1, SH)
  flock(fs, f, B1, SH)
  flock(fs, g, A2, EX)
  const restored = decodeSnapshot(encodeSnapshot(fs))
  t.alike(restored.locks.entries(), fs.locks.entries(), 'the same locks after a round trip')
  t.is(restored.apply({ type: 'flock', fileId: g, owner: B1, mode: SH }).errno, E.EWOULDBLOCK, 'and they still exclude')

  const empty = new FsState(t0)
  create(empty, 'f')
  const current = encodeSnapshot(empty)
  t.is(current[current.length - 1], 0, 'no locks: a zero count at the end')
  const old = Buffer.from(current.subarray(0, current.length - 1))
  old[0] = 3
  t.ok(encodeSnapshot(decodeSnapshot(old)).equals(current), 'a version 3 snapshot restores with no locks')

  const bytes = encodeCommand({ type: 'flock', fileId: f, owner: A1, mode: EX })
  bytes[0] = 4
  t.exception(() => decodeCommand(bytes), DecodeError, 'flock is not a version 4 command')
  const release = encodeCommand({ type: 'release', fileId: f })
  release[0] = 4
  t.alike(decodeCommand(release), { type: 'release', fileId: f }, 'other version 4 commands still decode')
})

test('snapshot decoding refuses conflicting, repeated or malformed locks with DecodeError', (t) => {
  const fs = new FsState(t0)
  const f = create(fs, 'f')
  flock(fs, f, A1, SH)
  flock(fs, f, B1, SH)
  const good = encodeSnapshot(fs)
  // The lock table ends the snapshot: count, then [file id, owner, mode] each; mode is the last byte.
  const exclusive = Buffer.from(good)
  exclusive[exclusive.length - 1] = EX
  t.exception(() => decodeSnapshot(exclusive), DecodeError, 'an exclusive lock beside a shared one')
  const badMode = Buffer.from(good)
  badMode[badMode.length - 1] = 7
  t.exception(() => decodeSnapshot(badMode), DecodeError, 'an unknown mode')
  const repeated = encodeSnapshot(fs)
  const ownerAt = repeated.lastIndexOf(Buffer.from(B1))
  Buffer.from(A1).copy(repeated, ownerAt)
  t.exception(() => decodeSnapshot(repeated), DecodeError, 'one owner listed twice on a file')
  for (let cut = 1; cut < 20; cut++) t.exception(() => decodeSnapshot(good.subarray(0, good.length - cut)), DecodeError, `cut by ${cut}`)
})
