// Permission checks the kernel would make with default_permissions, made here instead. Without that
// option the kernel needs no fresh attributes of every directory on a path walk (attr_timeout=0 would
// cost a GETATTR round trip per directory per walk), so each op reaching us checks the caller itself.
// What never reaches us, the opening of a FIFO or socket, the kernel checks only with the option: a
// mount shared with other users (allow_other) has it, so there these checks are a second line:
// search permission on every ancestor, then what the op needs (POSIX, as Linux's may_open, may_create,
// may_delete, setattr_prepare and may_linkat decide it). The VFS still checks what it checks for every
// filesystem (trusted.* xattrs, CAP_MKNOD, suid clearing on chown and write).
import { readFileSync } from 'node:fs'
import { Errno, FsError } from '../native/errno.js'
import type { Caller } from '../native/fuse.js'
import type { Inode } from '../metadata/fs/inode.js'
import { PERMISSION_BITS, S_IFREG, S_ISGID, S_ISUID, fileType, isDirectory } from '../metadata/fs/inode.js'

export const MAY_READ = 4
export const MAY_WRITE = 2
export const MAY_EXEC = 1
const S_ISVTX = 0o1000
const S_IXUGO = 0o111
const S_IXGRP = 0o010
const O_ACCMODE = 3
const O_WRONLY = 1
const O_RDWR = 2
const O_TRUNC = 0o1000
/** __FMODE_EXEC: the open of execve (the kernel itself only checks that some x bit is set). */
const FMODE_EXEC = 0o40

/** Reads a caller's supplementary groups; a vanished process has none. */
export type GroupsOf = (pid: number) => readonly number[]

/**
 * The supplementary groups of a thread, from /proc (FUSE passes only fsuid, fsgid and tid). Read only
 * when the primary group does not decide; /proc is not on our mount, and the read is a few microseconds.
 */
export function procGroups (pid: number): readonly number[] {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1')
    const line = /^Groups:(.*)$/m.exec(status)?.[1] ?? ''
    return line.split(/\s+/).filter((field) => field !== '').map(Number)
  } catch {
    return []
  }
}

/** Who asks, with the supplementary groups loaded at most once and only if needed. */
export class Subject {
  readonly uid: number
  readonly gid: number
  private readonly pid: number
  private readonly groupsOf: GroupsOf
  private groups: readonly number[] | null = null

  constructor (caller: Caller, groupsOf: GroupsOf = procGroups) {
    this.uid = caller.uid
    this.gid = caller.gid
    this.pid = caller.pid
    this.groupsOf = groupsOf
  }

  get isRoot (): boolean {
    return this.uid === 0
  }

  inGroup (gid: number): boolean {
    if (gid === this.gid) return true
    this.groups ??= this.groupsOf(this.pid)
    return this.groups.includes(gid)
  }

  owns (inode: Inode): boolean {
    return this.uid === inode.uid
  }
}

/** Whether `subject` may read/write/execute (a MAY_* mask) `inode`; root as with CAP_DAC_OVERRIDE. */
export function permits (inode: Inode, subject: Subject, mask: number): boolean {
  if (subject.isRoot) {
    // Root may execute a file only if someone may (Linux's generic_permission).
    return (mask & MAY_EXEC) === 0 || isDirectory(inode) || (inode.mode & S_IXUGO) !== 0
  }
  let bits: number
  if (subject.owns(inode)) bits = inode.mode >> 6
  else if (subject.inGroup(inode.gid)) bits = inode.mode >> 3
  else bits = inode.mode
  return (bits & mask & 7) === mask
}

export function check (inode: Inode, subject: Subject, mask: number): void {
  if (!permits(inode, subject, mask)) throw new FsError(Errno.EACCES)
}

/** What an open with these flags needs: read/write by access mode, write for O_TRUNC, exec for execve. */
export function openMask (flags: number): number {
  const access = flags & O_ACCMODE
  let mask = access === O_WRONLY ? MAY_WRITE : access === O_RDWR ? MAY_READ | MAY_WRITE : MAY_READ
  if ((flags & O_TRUNC) !== 0) mask |= MAY_WRITE
  if ((flags & FMODE_EXEC) !== 0) mask |= MAY_EXEC
  return mask
}

/** Adding an entry to `directory` (create, mkdir, link, the target of a rename). */
export function checkCreate (directory: Inode, subject: Subject): void {
  check(directory, subject, MAY_WRITE | MAY_EXEC)
}

/** Removing `victim` from `directory`: write and search on it, and the sticky-bit rule (EPERM). */
export function checkDelete (directory: Inode, victim: Inode, subject: Subject): void {
  check(directory, subject, MAY_WRITE | MAY_EXEC)
  if ((directory.mode & S_ISVTX) !== 0 && !subject.isRoot && !subject.owns(victim) && !subject.owns(directory)) {
    throw new FsError(Errno.EPERM)
  }
}

/**
 * The mode chmod stores: the owner's or root's choice, except that a caller outside the file's group
 * cannot set its setgid bit. A writer who is not the owner may only drop setuid/setgid: the kernel
 * asks for that when such a file is written (file_remove_privs) and the VFS allows it to anyone.
 */
export function chmodMode (inode: Inode, subject: Subject, mode: number): number {
  if (!subject.isRoot && !subject.owns(inode)) {
    const current = inode.mode & PERMISSION_BITS
    const dropsOnlyPrivileges = (mode & ~current) === 0 && (mode | S_ISUID | S_ISGID) === (current | S_ISUID | S_ISGID)
    if (dropsOnlyPrivileges && mode !== current && permits(inode, subject, MAY_WRITE)) return mode
    throw new FsError(Errno.EPERM)
  }
  if (!subject.isRoot && (mode & S_ISGID) !== 0 && !subject.inGroup(inode.gid)) return mode & ~S_ISGID
  return mode
}

/** chown: only root gives a file away; the owner may change its group to one of its own groups. */
export function checkChown (inode: Inode, subject: Subject, uid: number | undefined, gid: number | undefined): void {
  if (subject.isRoot) return
  if (uid !== undefined && uid !== inode.uid) throw new FsError(Errno.EPERM)
  if (uid !== undefined && !subject.owns(inode)) throw new FsError(Errno.EPERM)
  if (gid !== undefined && (!subject.owns(inode) || (gid !== inode.gid && !subject.inGroup(gid)))) throw new FsError(Errno.EPERM)
}

/** utimens: setting both times to now needs ownership or write permission; anything else ownership. */
export function checkTimes (inode: Inode, subject: Subject, touch: boolean): void {
  if (subject.isRoot || subject.owns(inode)) return
  if (!touch) throw new FsError(Errno.EPERM)
  check(inode, subject, MAY_WRITE)
}

/** Hard links to someone else's file (fs.protected_hardlinks): a plain file the caller may read and write. */
export function checkLink (inode: Inode, subject: Subject): void {
  if (subject.isRoot || subject.owns(inode)) return
  const setuidOrSetgidExec = (inode.mode & S_ISUID) !== 0 || (inode.mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)
  if (fileType(inode.mode) !== S_IFREG || setuidOrSetgidExec || !permits(inode, subject, MAY_READ | MAY_WRITE)) {
    throw new FsError(Errno.EPERM)
  }
}

/** user.* extended attributes follow the file's read/write permission; other namespaces the VFS checks. */
export function checkXattr (inode: Inode, subject: Subject, name: string, mask: number): void {
  if (name.startsWith('user.')) check(inode, subject, mask)
}
