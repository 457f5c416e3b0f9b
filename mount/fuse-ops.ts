// The FUSE operation table: each op resolves a path (or fd) to a file_id, makes one metadata or
// open-file call, and lets errors surface as FsError — native/fuse turns them into -errno.
import { Errno, FsError } from '../native/errno.js'
import type { Caller, FuseOperations, Opened, StatFs, TimeChange } from '../native/fuse.js'
import type { AttributeChanges, Command } from '../metadata/fs/commands.js'
import type { FileId, Inode } from '../metadata/fs/inode.js'
import { NAME_BYTES_MAX, PERMISSION_BITS, S_IFDIR, S_IFLNK, S_IFREG, XATTR_NAME_BYTES_MAX, XATTR_VALUE_BYTES_MAX, fileType, isDirectory } from '../metadata/fs/inode.js'
import type { Logger } from '../peer/log.js'
import { planFallocate } from './fallocate.js'
import { Flocks } from './flock.js'
import { NameTypes } from './name-types.js'
import { Handles } from './handles.js'
import { LOCATIONS_XATTR, isVirtualXattr, locationsOf } from './locations-xattr.js'
import type { OpenFile } from './open-file.js'
import { resolve, resolveParent } from './path-resolver.js'
import type { ParentAndName } from './path-resolver.js'
import {
  MAY_WRITE, MAY_READ, Subject, check, checkChown, checkCreate, checkDelete, checkLink, checkTimes, checkXattr, chmodMode,
  openMask, procGroups
} from './permissions.js'
import type { GroupsOf } from './permissions.js'
import type { ChunkService, MetadataService } from './services.js'
import { statOf } from './stat.js'
import { nowNs } from './time.js'
import { WriteBudget } from './write-budget.js'
import { Writeback } from './writeback.js'

/** Daemon-wide bound on buffered, not yet sealed file bytes (backpressure beyond it). */
export const WRITE_BUFFER_BYTES_MAX = 96 * 1024 * 1024
/** Closed files whose commit may run in the background at once; more closes wait (backpressure). */
const WRITEBACK_FILES_MAX = 64
/** Versions of files whose pages this mount's page cache may hold, for keep_cache on the next open. */
const CACHED_VERSIONS_MAX = 100_000
const UNCHANGED_ID = 0xffffffff // chown's "leave as is"
const O_APPEND = 0o2000
const HIDDEN_PREFIX = '.fuse_hidden'
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.']
/** Zeros for punched holes and zeroed ranges, written a piece at a time (untouched pages cost no memory). */
const ZEROS = Buffer.alloc(1024 * 1024)

export interface Mount {
  operations: FuseOperations
  /** Commits every open file (used before unmounting). */
  commitAll (): Promise<void>
}

export interface MountOptions {
  /** This peer's id, named as the holder of files unlinked while open here (only its release frees them). */
  peerId: string
  /** Other peers share the filesystem: close commits before returning, open refreshes first. */
  closeToOpen: boolean
  logger: Logger
}

export function createOperations (metadata: MetadataService, chunks: ChunkService, options: MountOptions, budget = new WriteBudget(WRITE_BUFFER_BYTES_MAX), groupsOf: GroupsOf = procGroups): Mount {
  const { peerId, logger } = options
  const handles = new Handles(metadata, chunks, budget)
  const writeback = new Writeback(WRITEBACK_FILES_MAX, (error) => { logger.error('writeback.failed', { error: error instanceof Error ? error : String(error) }) })
  const cachedVersions = new Map<string, number>()
  // Names whose kernel pages hold bytes at offsets other than where they went: an O_APPEND write the
  // kernel placed at a stale end and we moved to the real one. Their next open drops the cache.
  const misplacedPages = new Set<string>()
  const state = (): typeof metadata.state => metadata.state

  async function propose (command: Command): Promise<FileId> {
    const result = await metadata.propose(command)
    if (result.errno !== 0) throw new FsError(result.errno)
    return result.fileId ?? 0
  }

  /** The inode as this mount sees it: with what its writers changed but have not committed yet. */
  function inodeOf (id: FileId): Inode {
    const inode = state().get(id)
    if (inode === undefined) throw new FsError(Errno.ENOENT)
    return handles.fileOf(id)?.overlay(inode) ?? inode
  }

  // libfuse2 keeps a file that is unlinked while open alive under a hidden name (.fuse_hidden…) and
  // unlinks that name at the last close. The hidden name is this mount's business alone: the
  // replicated namespace sees a plain unlink (the inode lives on as an orphan until released), and the
  // hidden path maps to the orphan here, so fstat, fchmod and friends keep working with nlink 0.
  const hiddenNames = new Map<string, FileId>()
  // Shared with other peers, a cached name may change type under the kernel (name-types.ts).
  const nameTypes = options.closeToOpen ? new NameTypes() : null

  const subjectOf = (caller: Caller): Subject => new Subject(caller, groupsOf)

  /** The file at `path`; with a subject, every directory on the way must be searchable by it. */
  function fileIdAt (path: string, subject?: Subject): FileId {
    return hiddenNames.get(path) ?? resolve(state(), path, subject)
  }

  function inodeAt (path: string, subject?: Subject): Inode {
    return inodeOf(fileIdAt(path, subject))
  }

  /** The parent of a new entry at `path`, which `subject` must be allowed to add to. */
  function creatableParent (path: string, subject: Subject): ParentAndName {
    const where = resolveParent(state(), path, subject)
    checkCreate(inodeOf(where.parent), subject)
    return where
  }

  /** The entry at `path` (it must exist), which `subject` must be allowed to remove from its directory. */
  function deletableEntry (path: string, subject: Subject): ParentAndName & { id: FileId } {
    const where = resolveParent(state(), path, subject)
    const id = state().lookup(where.parent, where.name)
    if (id === undefined) throw new FsError(Errno.ENOENT)
    checkDelete(inodeOf(where.parent), inodeOf(id), subject)
    return { ...where, id }
  }

  function isHiddenName (path: string): boolean {
    return path.slice(path.lastIndexOf('/') + 1).startsWith(HIDDEN_PREFIX)
  }

  function checkName (name: string): void {
    if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw new FsError(Errno.ENAMETOOLONG)
  }

  /**
   * Changes to a file being written here ride on the commit of its data when they may (OpenFile.
   * stageAttributes); those that touch size or times otherwise land after its uncommitted writes.
   */
  async function setattr (id: FileId, changes: AttributeChanges): Promise<void> {
    const open = handles.fileOf(id)
    if (open !== undefined && changes.size !== undefined) {
      const { size, ...rest } = changes
      await open.truncate(size, rest.mtimeNs !== undefined ? { mtimeNs: rest.mtimeNs } : {})
      if (Object.keys(rest).length === 0) return
      changes = rest
    } else if (open !== undefined) {
      if (await open.stageAttributes(changes, nowNs())) return
      if (changes.mtimeNs !== undefined || changes.atimeNs !== undefined) await open.commit()
    }
    await propose({ type: 'setattr', fileId: id, changes, nowNs: nowNs() })
  }

  // Pages the kernel cached for a file stay valid while its version is the one this mount last saw
  // through the same name: libfuse2 gives each name of a hard link its own kernel inode and page cache.
  async function openHandle (path: string, id: FileId, flags: number): Promise<Opened> {
    const inode = inodeOf(id)
    if (isDirectory(inode)) throw new FsError(Errno.EISDIR)
    const handle = handles.open(id, flags, path)
    const misplaced = misplacedPages.delete(cacheKey(id, path)) // this open drops those pages
    const keepCache = cachedVersions.get(cacheKey(id, path)) === inode.version && !misplaced
    rememberVersion(id, path)
    return { fd: handle.fd, keepCache }
  }

  function cacheKey (id: FileId, path: string): string {
    return `${id}:${path}`
  }

  function rememberVersion (id: FileId, path: string): void {
    const inode = state().get(id)
    if (inode === undefined) return
    if (cachedVersions.size >= CACHED_VERSIONS_MAX) cachedVersions.clear()
    cachedVersions.set(cacheKey(id, path), inode.version)
  }

  /** Commits what `file` has buffered; with `fsync`, makes all of its chunks durable first. */
  async function commitFile (file: OpenFile, fsync = false): Promise<void> {
    try {
      await (fsync ? file.sync() : file.commit())
    } catch (error) {
      // The file was removed (by us or a peer) while data was buffered: nothing is left to commit it to.
      if (error instanceof FsError && error.errno === Errno.ENOENT && state().get(file.fileId) === undefined) return
      throw error
    }
  }

  // The last close of a file commits it in the background; until then the open file stays registered,
  // so a new open on this mount sees its data, and fsync or unmount wait for it.
  async function releaseHandle (fd: number): Promise<void> {
    const { path } = handles.get(fd)
    const file = handles.close(fd)
    if (file === undefined) return
    await writeback.schedule(async () => {
      let committed = false
      try {
        await commitFile(file).catch(async (error: unknown) => {
          // Nobody is left to retry: keep what was stored, then report the failure (logged).
          await file.salvage().catch(() => {})
          throw error
        })
        committed = true
        rememberVersion(file.fileId, path)
      } finally {
        if (handles.forget(file)) {
          await releaseUnlinked(file)
          if (!committed) file.discard() // its sealed chunks stay pinned otherwise, their space never freed
        }
      }
    })
  }

  /**
   * The kernel opens only names it has cached, for up to entry_timeout: one another peer removed or
   * renamed meanwhile is stale, not missing. ESTALE makes the kernel look the path up afresh and retry
   * the open once, as it does for NFS: `echo x > f` then creates the f another peer just removed,
   * instead of failing with ENOENT.
   */
  function staleIfMissing (resolve: () => FileId): FileId {
    try {
      return resolve()
    } catch (error) {
      if (error instanceof FsError && error.errno === Errno.ENOENT) throw new FsError(Errno.ESTALE)
      throw error
    }
  }

  /** A file unlinked while open is freed when its last handle goes. */
  async function releaseUnlinked (file: OpenFile): Promise<void> {
    const inode = state().get(file.fileId)
    if (inode !== undefined && inode.nlink === 0) await propose({ type: 'release', fileId: file.fileId })
    if (inode === undefined || inode.nlink === 0) file.discard()
  }

  function timeOf (change: TimeChange, now: bigint): bigint | undefined {
    if (change === 'omit') return undefined
    return change === 'now' ? now : change.ns
  }

  function checkXattrName (name: string): void {
    if (isVirtualXattr(name)) throw new FsError(Errno.EPERM) // computed, read-only
    if (Buffer.byteLength(name) > XATTR_NAME_BYTES_MAX) throw new FsError(Errno.ERANGE)
    if (!XATTR_NAMESPACES.some((prefix) => name.startsWith(prefix) && name.length > prefix.length)) throw new FsError(Errno.EOPNOTSUPP)
  }

  const operations: FuseOperations = {
    async getattr (path, caller) {
      const inode = inodeAt(path, subjectOf(caller))
      if (nameTypes?.changed(path, fileType(inode.mode)) === true) throw new FsError(Errno.ESTALE)
      return statOf(inode, handles.fileOf(inode.id))
    },
    async fgetattr (path, fd, caller) {
      if (fd === 0) return await operations.getattr(path, caller)
      const handle = handles.get(fd)
      return statOf(inodeOf(handle.file.fileId), handle.file)
    },
    async access (path, mode, caller) {
      const subject = subjectOf(caller)
      const inode = inodeAt(path, subject)
      if ((mode & 7) !== 0) check(inode, subject, mode & 7) // F_OK (0) asks only whether it exists
    },
    async statfs () {
      return await statfsOf(chunks, state().inodes.size)
    },
    async opendir (path, flags, caller) {
      const subject = subjectOf(caller)
      const inode = inodeAt(path, subject)
      if (!isDirectory(inode)) throw new FsError(Errno.ENOTDIR)
      check(inode, subject, openMask(flags))
      return 0
    },
    async readdir (path, caller) {
      const inode = inodeAt(path, subjectOf(caller))
      if (!isDirectory(inode)) throw new FsError(Errno.ENOTDIR)
      return ['.', '..', ...state().children(inode.id)!.keys()]
    },
    async releasedir () {},
    async open (path, flags, caller) {
      if (options.closeToOpen) await metadata.refresh() // what another peer closed before this open is visible
      const subject = subjectOf(caller)
      const id = staleIfMissing(() => fileIdAt(path, subject))
      const inode = inodeOf(id)
      if (!isDirectory(inode)) check(inode, subject, openMask(flags))
      return await openHandle(path, id, flags)
    },
    async create (path, mode, flags, caller) {
      nameTypes?.forget(path)
      const { parent, name } = creatableParent(path, subjectOf(caller))
      checkName(name)
      const id = await propose({ type: 'create', parent, name, mode: S_IFREG | (mode & PERMISSION_BITS), rdev: 0, uid: caller.uid, gid: caller.gid, nowNs: nowNs() })
      const opened = await openHandle(path, id, flags)
      return { ...opened, stat: statOf(inodeOf(id), handles.fileOf(id)) }
    },
    async read (_path, fd, buffer, position) {
      return await handles.get(fd).file.read(buffer, position)
    },
    async write (_path, fd, buffer, position) {
      const handle = handles.get(fd)
      if ((handle.flags & O_APPEND) === 0) return await handle.file.write(buffer, position)
      // Without writeback caching O_APPEND is ours to honour (libfuse): the kernel's offset is the size
      // it last fetched, stale once another peer's close grew the file, and would overwrite those bytes.
      const appended = await handle.file.append(buffer)
      if (appended.position !== position) misplacedPages.add(cacheKey(handle.file.fileId, handle.path))
      return appended.written
    },
    async fsync (_path, _dataOnly, fd) {
      await commitFile(handles.get(fd).file, true)
      await metadata.sync()
    },
    async fsyncdir () {
      await metadata.sync()
    },
    async release (_path, fd) {
      await releaseHandle(fd)
    },
    async truncate (path, size, caller) {
      const subject = subjectOf(caller)
      const id = fileIdAt(path, subject)
      check(inodeOf(id), subject, MAY_WRITE)
      await setattr(id, { size })
    },
    async ftruncate (path, fd, size, caller) {
      if (fd === 0) { await operations.truncate(path, size, caller); return }
      await setattr(handles.get(fd).file.fileId, { size }) // the open checked write permission
    },
    async fallocate (_path, fd, mode, offset, length) {
      const file = handles.get(fd).file // the kernel refuses a descriptor not open for writing (EBADF)
      const plan = planFallocate(mode, offset, length, file.size)
      if (plan.allocatedBytes > 0 && plan.allocatedBytes > (await chunks.capacity()).availableBytes) throw new FsError(Errno.ENOSPC)
      for (let at = plan.zeroFrom; at < plan.zeroTo; at += ZEROS.length) {
        await file.write(ZEROS.subarray(0, Math.min(ZEROS.length, plan.zeroTo - at)), at)
      }
      if (plan.newSize !== null) await setattr(file.fileId, { size: plan.newSize })
    },
    async utimens (path, atime, mtime, caller) {
      const subject = subjectOf(caller)
      const id = fileIdAt(path, subject)
      checkTimes(inodeOf(id), subject, atime === 'now' && mtime === 'now')
      const now = nowNs()
      const changes: AttributeChanges = {}
      const atimeNs = timeOf(atime, now)
      const mtimeNs = timeOf(mtime, now)
      if (atimeNs !== undefined) changes.atimeNs = atimeNs
      if (mtimeNs !== undefined) changes.mtimeNs = mtimeNs
      await setattr(id, changes)
    },
    async readlink (path, caller) {
      const inode = inodeAt(path, subjectOf(caller))
      if (fileType(inode.mode) !== S_IFLNK) throw new FsError(Errno.EINVAL)
      return inode.target
    },
    async chown (path, uid, gid, caller) {
      const subject = subjectOf(caller)
      const id = fileIdAt(path, subject)
      const changes: AttributeChanges = {}
      if (uid !== UNCHANGED_ID) changes.uid = uid
      if (gid !== UNCHANGED_ID) changes.gid = gid
      checkChown(inodeOf(id), subject, changes.uid, changes.gid)
      await setattr(id, changes)
    },
    async chmod (path, mode, caller) {
      const subject = subjectOf(caller)
      const id = fileIdAt(path, subject)
      await setattr(id, { mode: chmodMode(inodeOf(id), subject, mode & PERMISSION_BITS) })
    },
    async mknod (path, mode, device, caller) {
      nameTypes?.forget(path)
      const { parent, name } = creatableParent(path, subjectOf(caller))
      checkName(name)
      const type = fileType(mode)
      if (type === S_IFDIR || type === S_IFLNK) throw new FsError(Errno.EINVAL)
      await propose({ type: 'create', parent, name, mode: (type === 0 ? S_IFREG : type) | (mode & PERMISSION_BITS), rdev: device, uid: caller.uid, gid: caller.gid, nowNs: nowNs() })
    },
    async setxattr (path, name, value, flags, caller) {
      const subject = subjectOf(caller)
      const id = fileIdAt(path, subject)
      checkXattrName(name)
      checkXattr(inodeOf(id), subject, name, MAY_WRITE)
      if (value.length > XATTR_VALUE_BYTES_MAX) throw new FsError(Errno.E2BIG)
      await propose({ type: 'setxattr', fileId: id, name, value, flags, nowNs: nowNs() })
    },
    async getxattr (path, name, caller) {
      const subject = subjectOf(caller)
      const inode = inodeAt(path, subject)
      if (name === LOCATIONS_XATTR && !isDirectory(inode)) return locationsOf(state(), inode)
      checkXattr(inode, subject, name, MAY_READ)
      const value = inode.xattrs?.get(name)
      if (value === undefined) throw new FsError(Errno.ENODATA)
      return value
    },
    async listxattr (path, caller) {
      return [...inodeAt(path, subjectOf(caller)).xattrs?.keys() ?? []]
    },
    async removexattr (path, name, caller) {
      const subject = subjectOf(caller)
      const id = fileIdAt(path, subject)
      checkXattrName(name)
      checkXattr(inodeOf(id), subject, name, MAY_WRITE)
      await propose({ type: 'removexattr', fileId: id, name, nowNs: nowNs() })
    },
    async unlink (path, caller) {
      nameTypes?.forget(path)
      if (hiddenNames.delete(path)) return // the last close of an unlinked file: its orphan is released then
      const { parent, name, id } = deletableEntry(path, subjectOf(caller))
      await propose({ type: 'unlink', parent, name, holder: handles.isOpen(id) ? peerId : '', nowNs: nowNs() })
    },
    async rmdir (path, caller) {
      nameTypes?.forget(path)
      const { parent, name } = deletableEntry(path, subjectOf(caller))
      await propose({ type: 'rmdir', parent, name, nowNs: nowNs() })
    },
    async rename (source, target, caller) {
      nameTypes?.forget(source)
      nameTypes?.forget(target)
      const subject = subjectOf(caller)
      const from = deletableEntry(source, subject)
      if (isHiddenName(target)) {
        // libfuse2 hides a file that is still open instead of unlinking it (see hiddenNames).
        await propose({ type: 'unlink', parent: from.parent, name: from.name, holder: peerId, nowNs: nowNs() })
        hiddenNames.set(target, from.id)
        return
      }
      const to = resolveParent(state(), target, subject)
      checkName(to.name)
      const replaced = state().lookup(to.parent, to.name)
      if (replaced === undefined) checkCreate(inodeOf(to.parent), subject)
      else checkDelete(inodeOf(to.parent), inodeOf(replaced), subject)
      // A directory moving to another parent rewrites its '..': it must be writable (Linux's may_rename).
      const moved = inodeOf(from.id)
      if (isDirectory(moved) && from.parent !== to.parent) check(moved, subject, MAY_WRITE)
      await propose({
        type: 'rename', parent: from.parent, name: from.name, newParent: to.parent, newName: to.name, flags: 0,
        holder: replaced !== undefined && handles.isOpen(replaced) ? peerId : '', nowNs: nowNs()
      })
    },
    async link (source, target, caller) {
      nameTypes?.forget(target)
      const subject = subjectOf(caller)
      const id = fileIdAt(source, subject)
      checkLink(inodeOf(id), subject)
      const { parent, name } = creatableParent(target, subject)
      checkName(name)
      await propose({ type: 'link', fileId: id, parent, name, nowNs: nowNs() })
    },
    async symlink (target, linkPath, caller) {
      nameTypes?.forget(linkPath)
      const { parent, name } = creatableParent(linkPath, subjectOf(caller))
      checkName(name)
      await propose({ type: 'symlink', parent, name, target, uid: caller.uid, gid: caller.gid, nowNs: nowNs() })
    },
    async mkdir (path, mode, caller) {
      nameTypes?.forget(path)
      const { parent, name } = creatableParent(path, subjectOf(caller))
      checkName(name)
      await propose({ type: 'mkdir', parent, name, mode: mode & PERMISSION_BITS, uid: caller.uid, gid: caller.gid, nowNs: nowNs() })
    }
  }

  // Shared with other peers, close commits before it returns (close-to-open: their next open sees it),
  // and flock(2) locks are the cluster's (flock.ts). Alone, the last close commits in the background
  // (release), FLUSH is not even asked for, and the kernel keeps flocks itself.
  if (options.closeToOpen) {
    operations.flush = async (_path, fd) => { await commitFile(handles.get(fd).file) }
    const flocks = new Flocks(metadata, peerId, logger)
    operations.flock = async (_path, fd, operation, owner, interrupted) => { await flocks.flock(handles.get(fd).file.fileId, operation, owner, interrupted) }
  }

  return {
    operations,
    async commitAll () {
      await writeback.drain()
      for (const file of handles.openFiles()) await commitFile(file)
      await metadata.sync()
    }
  }
}

async function statfsOf (chunks: ChunkService, inodes: number): Promise<StatFs> {
  const blockBytes = 4096
  const capacity = await chunks.capacity()
  return {
    blockBytes,
    blocks: Math.floor(capacity.totalBytes / blockBytes),
    blocksFree: Math.floor(capacity.freeBytes / blockBytes),
    blocksAvailable: Math.floor(capacity.availableBytes / blockBytes),
    files: inodes + 1_000_000,
    filesFree: 1_000_000,
    nameBytesMax: NAME_BYTES_MAX
  }
}

