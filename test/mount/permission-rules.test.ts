// Proves the permission rules the mount applies in place of the kernel's default_permissions, without a
// mount: owner/group/other classes (the owner's bits decide even when they deny), root's overrides,
// supplementary groups read only when needed, open masks, the sticky bit, chmod/chown/utimens
// ownership rules, protected hard links, user.* xattrs, and search permission while resolving a path.
import test from 'brittle'
import { Errno, FsError } from '../../native/errno.js'
import type { Inode } from '../../metadata/fs/inode.js'
import { ROOT_ID, S_IFDIR, S_IFLNK, S_IFREG } from '../../metadata/fs/inode.js'
import { FsState } from '../../metadata/fs/state.js'
import {
  MAY_EXEC, MAY_READ, MAY_WRITE, Subject, checkChown, checkCreate, checkDelete, checkLink, checkTimes, checkXattr, chmodMode,
  openMask, permits
} from '../../mount/permissions.js'
import { resolve, resolveParent } from '../../mount/path-resolver.js'

function inode (mode: number, uid: number, gid: number): Inode {
  return {
    id: 2, mode, uid, gid, rdev: 0, nlink: 1, size: 0, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, version: 0, chunks: [], target: '',
    xattrs: null, parent: 0
  }
}

function subject (uid: number, gid: number, groups: number[] = []): Subject & { groupReads: number } {
  const counted = new Subject({ uid, gid, pid: 1234 }, (pid) => {
    counted.groupReads++
    if (pid !== 1234) throw new Error('asked about the wrong process')
    return groups
  }) as Subject & { groupReads: number }
  counted.groupReads = 0
  return counted
}

function errnoOf (run: () => unknown): number {
  try {
    run()
    return 0
  } catch (error) {
    if (error instanceof FsError) return error.errno
    throw error
  }
}

test('owner, group and other classes; the owner class decides even when it denies', async (t) => {
  const file = inode(S_IFREG | 0o074, 1000, 100)
  t.absent(permits(file, subject(1000, 100), MAY_READ), 'owner with ---: denied although group may read')
  t.ok(permits(file, subject(1001, 100), MAY_READ | MAY_WRITE | MAY_EXEC), 'group member gets rwx')
  t.ok(permits(file, subject(1002, 7), MAY_READ), 'other gets r--')
  t.absent(permits(file, subject(1002, 7), MAY_WRITE), 'other may not write')
  t.absent(permits(file, subject(1002, 7), MAY_READ | MAY_WRITE), 'a mask needs every bit')
})

test('supplementary groups are read only when the primary group does not decide', async (t) => {
  const file = inode(S_IFREG | 0o640, 1000, 4242)
  const owner = subject(1000, 1)
  t.ok(permits(file, owner, MAY_READ), 'owner reads')
  t.is(owner.groupReads, 0, 'owner: no /proc read')
  const member = subject(1001, 1, [7, 4242])
  t.ok(permits(file, member, MAY_READ), 'member through a supplementary group reads')
  t.absent(permits(file, member, MAY_WRITE), 'but may not write')
  t.is(member.groupReads, 1, 'groups read once per subject')
  t.absent(permits(file, subject(1001, 1, [7]), MAY_READ), 'non-member denied')
})

test('root reads and writes anything, executes only what someone may execute', async (t) => {
  const root = subject(0, 0)
  t.ok(permits(inode(S_IFREG | 0o000, 5, 5), root, MAY_READ | MAY_WRITE), 'rw on a 000 file')
  t.absent(permits(inode(S_IFREG | 0o666, 5, 5), root, MAY_EXEC), 'no x bit: root cannot execute')
  t.ok(permits(inode(S_IFREG | 0o001, 5, 5), root, MAY_EXEC), 'any x bit: root executes')
  t.ok(permits(inode(S_IFDIR | 0o000, 5, 5), root, MAY_EXEC), 'root searches any directory')
})

test('open masks: access mode, O_TRUNC and execve', async (t) => {
  t.is(openMask(0), MAY_READ, 'O_RDONLY')
  t.is(openMask(1), MAY_WRITE, 'O_WRONLY')
  t.is(openMask(2), MAY_READ | MAY_WRITE, 'O_RDWR')
  t.is(openMask(0o1000), MAY_READ | MAY_WRITE, 'O_RDONLY|O_TRUNC needs write')
  t.is(openMask(0o40), MAY_READ | MAY_EXEC, 'the open of execve needs exec')
  t.is(openMask(0o200000 | 0o100000), MAY_READ, 'O_DIRECTORY and O_LARGEFILE need nothing more')
})

test('create and delete: write and search on the directory; the sticky bit protects others\' entries', async (t) => {
  const other = subject(1002, 7)
  t.is(errnoOf(() => { checkCreate(inode(S_IFDIR | 0o755, 0, 0), other) }), Errno.EACCES, 'create in 0755 root dir')
  t.is(errnoOf(() => { checkCreate(inode(S_IFDIR | 0o772, 0, 0), other) }), Errno.EACCES, 'write without search')
  t.is(errnoOf(() => { checkCreate(inode(S_IFDIR | 0o777, 0, 0), other) }), 0, 'create in 0777')
  const sticky = inode(S_IFDIR | 0o1777, 0, 0)
  const theirs = inode(S_IFREG | 0o666, 1001, 7)
  t.is(errnoOf(() => { checkDelete(sticky, theirs, other) }), Errno.EPERM, 'sticky: not the owner')
  t.is(errnoOf(() => { checkDelete(sticky, theirs, subject(1001, 7)) }), 0, 'sticky: the file owner')
  t.is(errnoOf(() => { checkDelete(inode(S_IFDIR | 0o1777, 1002, 0), theirs, other) }), 0, 'sticky: the directory owner')
  t.is(errnoOf(() => { checkDelete(sticky, theirs, subject(0, 0)) }), 0, 'sticky: root')
  t.is(errnoOf(() => { checkDelete(inode(S_IFDIR | 0o1755, 0, 0), theirs, subject(1001, 7)) }), Errno.EACCES, 'write checked before sticky')
})

test('chmod: owner or root; setgid dropped outside the group; a writer may only drop setuid/setgid', async (t) => {
  const file = inode(S_IFREG | 0o6755, 1000, 4242)
  t.is(errnoOf(() => chmodMode(file, subject(1001, 4242), 0o644)), Errno.EPERM, 'not the owner')
  t.is(chmodMode(file, subject(1000, 1), 0o2755), 0o755, 'owner outside the group loses setgid')
  t.is(chmodMode(file, subject(1000, 1, [4242]), 0o2755), 0o2755, 'owner in a supplementary group keeps it')
  t.is(chmodMode(file, subject(0, 0), 0o2700), 0o2700, 'root keeps it')
  const writable = inode(S_IFREG | 0o6777, 1000, 4242)
  t.is(chmodMode(writable, subject(1001, 1), 0o0777), 0o0777, 'a writer drops setuid and setgid (kernel killpriv)')
  t.is(errnoOf(() => chmodMode(writable, subject(1001, 1), 0o0775)), Errno.EPERM, 'but changes nothing else')
  t.is(errnoOf(() => chmodMode(file, subject(1001, 1), 0o0755)), Errno.EPERM, 'and only with write permission')
})

test('chown: root gives away; the owner changes the group to one of its own', async (t) => {
  const file = inode(S_IFREG | 0o644, 1000, 100)
  t.is(errnoOf(() => { checkChown(file, subject(1000, 100), 1001, undefined) }), Errno.EPERM, 'owner cannot give it away')
  t.is(errnoOf(() => { checkChown(file, subject(1000, 100), 1000, undefined) }), 0, 'owner may "change" to itself')
  t.is(errnoOf(() => { checkChown(file, subject(1000, 100, [200]), undefined, 200) }), 0, 'owner to a supplementary group')
  t.is(errnoOf(() => { checkChown(file, subject(1000, 100), undefined, 300) }), Errno.EPERM, 'owner to a foreign group')
  t.is(errnoOf(() => { checkChown(file, subject(1001, 100), undefined, 100) }), Errno.EPERM, 'non-owner, even to the same group')
  t.is(errnoOf(() => { checkChown(file, subject(1001, 100), undefined, undefined) }), 0, 'chown -1 -1 changes nothing')
  t.is(errnoOf(() => { checkChown(file, subject(0, 0), 5, 5) }), 0, 'root')
})

test('utimens: explicit times need ownership; touching to now also write permission', async (t) => {
  const file = inode(S_IFREG | 0o666, 1000, 100)
  t.is(errnoOf(() => { checkTimes(file, subject(1001, 7), false) }), Errno.EPERM, 'explicit time, not owner')
  t.is(errnoOf(() => { checkTimes(file, subject(1001, 7), true) }), 0, 'touch with write permission')
  t.is(errnoOf(() => { checkTimes(inode(S_IFREG | 0o644, 1000, 100), subject(1001, 7), true) }), Errno.EACCES, 'touch without')
  t.is(errnoOf(() => { checkTimes(inode(S_IFREG | 0o000, 1000, 100), subject(1000, 7), false) }), 0, 'owner')
})

test('protected hard links and user.* xattrs', async (t) => {
  const other = subject(1001, 7)
  t.is(errnoOf(() => { checkLink(inode(S_IFREG | 0o644, 1000, 100), other) }), Errno.EPERM, 'someone else\'s read-only file')
  t.is(errnoOf(() => { checkLink(inode(S_IFREG | 0o666, 1000, 100), other) }), 0, 'readable and writable')
  t.is(errnoOf(() => { checkLink(inode(S_IFREG | 0o4666, 1000, 100), other) }), Errno.EPERM, 'setuid')
  t.is(errnoOf(() => { checkLink(inode(S_IFLNK | 0o777, 1000, 100), other) }), Errno.EPERM, 'not a regular file')
  t.is(errnoOf(() => { checkLink(inode(S_IFREG | 0o600, 1001, 100), other) }), 0, 'own file')
  const file = inode(S_IFREG | 0o644, 1000, 100)
  t.is(errnoOf(() => { checkXattr(file, other, 'user.x', MAY_READ) }), 0, 'user.* readable')
  t.is(errnoOf(() => { checkXattr(file, other, 'user.x', MAY_WRITE) }), Errno.EACCES, 'user.* not writable')
  t.is(errnoOf(() => { checkXattr(file, other, 'security.capability', MAY_READ) }), 0, 'security.* left to the VFS')
})

test('resolving a path checks search permission on every directory passed, before the lookup', async (t) => {
  const state = new FsState(0n)
  const mkdir = (parent: number, name: string, mode: number): number => {
    const result = state.apply({ type: 'mkdir', parent, name, mode, uid: 0, gid: 0, nowNs: 1n })
    t.is(result.errno, 0, `mkdir ${name}`)
    return result.fileId!
  }
  const open = mkdir(ROOT_ID, 'open', 0o755)
  const closed = mkdir(open, 'closed', 0o700)
  const inner = mkdir(closed, 'inner', 0o755)
  const nobody = subject(65534, 65534)
  t.is(resolve(state, '/open/closed', nobody), closed, 'the last component itself need not be searchable')
  t.is(errnoOf(() => resolve(state, '/open/closed/inner', nobody)), Errno.EACCES, 'through a 0700 directory')
  t.is(errnoOf(() => resolve(state, '/open/closed/missing', nobody)), Errno.EACCES, 'EACCES, not ENOENT, for a missing name')
  t.is(errnoOf(() => resolveParent(state, '/open/closed/inner/x', nobody)), Errno.EACCES, 'parent resolution too')
  t.is(resolve(state, '/open/closed/inner', subject(0, 0)), inner, 'root passes')
  t.is(resolve(state, '/open/closed/inner'), inner, 'without a subject nothing is checked')
})
