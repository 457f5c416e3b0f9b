// The filesystem state machine: inodes by file_id, directory entries, chunk reference counts.
// Pure and deterministic: `apply` depends only on the state and the command (the proposer fixed the
// time), so every replica that applies the same log reaches the same state. POSIX rules on names,
// link counts and times live here; permission checks are the mount's (mount/permissions.ts).
import { Errno } from '../../native/errno.js'
import type { AttributeChanges, ChunkUpdate, Command, LocationUpdate, StagedAttributes } from './commands.js'
import {
  HOLDERS_MAX, LOCATION_UPDATES_MAX, LOCK_OWNER_BYTES_MAX, PEER_ID_BYTES_MAX, RENAME_EXCHANGE, RENAME_NOREPLACE, XATTR_CREATE, XATTR_REPLACE
} from './commands.js'
import type { ChunkRef, FileId, Inode } from './inode.js'
import {
  CAPABILITY_XATTR, CHUNK_BYTES, FILE_BYTES_MAX, NAME_BYTES_MAX, PERMISSION_BITS, ROOT_ID, S_IFDIR, S_IFLNK,
  S_ISGID, SYMLINK_BYTES_MAX, XATTR_TOTAL_BYTES_MAX, chunkKey, fileType, isDirectory, isRegular, setOwnerModeAtime
} from './inode.js'
import { FileLocks, LOCK_EXCLUSIVE, LOCK_SHARED, LOCK_UNLOCK, lockHolder } from './file-locks.js'
import { ChunkLocations, validPeerId } from './locations.js'
import { runSteps } from '../steps.js'

export interface ApplyResult {
  errno: number // 0 on success
  fileId?: FileId
}

/** Peers a cluster may remove over its lifetime; a removePeer beyond it fails with ENOSPC. */
export const REMOVED_PEERS_MAX = 65_536

const CHUNK_ID_BYTES = 32

const INVARIANT_STEP_ITEMS = 2048
const OK: ApplyResult = { errno: 0 }
const failed = (errno: number): ApplyResult => ({ errno })

export class FsState {
  readonly inodes = new Map<FileId, Inode>()
  /** Directory id → (name → child id). */
  readonly entries = new Map<FileId, Map<string, FileId>>()
  /** Chunk id (hex) → number of slots referencing it. */
  readonly chunkReferences = new Map<string, number>()
  /**
   * Inodes with no name left that a peer still has open: file id → id of the holding peer.
   * Invariant: each is a non-directory inode with nlink 0, held by a non-empty id of a peer not removed.
   */
  readonly orphans = new Map<FileId, string>()
  /** Peers removed from the cluster for good: every peer refuses their connections. At most REMOVED_PEERS_MAX. */
  readonly removedPeers = new Set<string>()
  /** Which peers hold a copy of each referenced chunk (see locations.ts for its invariants). */
  readonly chunkLocations = new ChunkLocations()
  /** flock(2) locks held through the peers' mounts (file-locks.ts). */
  readonly locks = new FileLocks()
  nextFileId: FileId = ROOT_ID + 1
  /** Inodes with a security.capability attribute: while none has one, a mount may answer the kernel's probe itself. */
  private capabilityXattrs = 0
  /** Chunks whose last reference went away since the last takeFreedChunks(); the store may delete them. */
  private freedChunks: string[] = []
  private applied = 0

  constructor (rootTimeNs = 0n) {
    this.inodes.set(ROOT_ID, newInode(ROOT_ID, S_IFDIR | 0o755, 0, 0, rootTimeNs, ROOT_ID))
    this.entries.set(ROOT_ID, new Map())
  }

  /** Commands applied so far by this object: a snapshot being taken checks that none came meanwhile. */
  get changes (): number {
    return this.applied
  }

  apply (command: Command): ApplyResult {
    this.applied++
    switch (command.type) {
      case 'create': return this.create(command.parent, command.name, command.mode, command.uid, command.gid, command.rdev, '', command.nowNs)
      case 'mkdir': return this.create(command.parent, command.name, S_IFDIR | (command.mode & PERMISSION_BITS), command.uid, command.gid, 0, '', command.nowNs)
      case 'symlink': return this.symlink(command)
      case 'link': return this.link(command.fileId, command.parent, command.name, command.nowNs)
      case 'unlink': return this.unlink(command.parent, command.name, command.holder, command.nowNs)
      case 'rmdir': return this.rmdir(command.parent, command.name, command.nowNs)
      case 'rename': return this.rename(command)
      case 'setattr': return this.setattr(command.fileId, command.changes, command.nowNs)
      case 'setxattr': return this.setxattr(command.fileId, command.name, command.value, command.flags, command.nowNs)
      case 'removexattr': return this.removexattr(command.fileId, command.name, command.nowNs)
      case 'commitChunks': return this.commitChunks(command.fileId, command.size, command.updates, command.mtimeNs, command.attributes, command.nowNs)
      case 'release': return this.release(command.fileId)
      case 'purgeOrphans': return this.purgeOrphans(command.holder)
      case 'removePeer': return this.removePeer(command.peerId)
      case 'setLocations': return this.setLocations(command.updates)
      case 'flock': return this.flock(command.fileId, command.owner, command.mode)
    }
  }

  // Queries on applied state

  get (id: FileId): Inode | undefined {
    return this.inodes.get(id)
  }

  lookup (parent: FileId, name: string): FileId | undefined {
    return this.entries.get(parent)?.get(name)
  }

  children (directory: FileId): ReadonlyMap<string, FileId> | undefined {
    return this.entries.get(directory)
  }

  /** Peer ids recorded as holding a copy of the chunk (hex id), in peer table order; [] if none known. */
  holdersOf (chunkHex: string): string[] {
    return this.chunkLocations.holdersOf(chunkHex)
  }

  /** Chunk ids (hex) the peer is recorded as holding. O(chunks with a known location). */
  chunksHeldBy (peerId: string): string[] {
    return this.chunkLocations.chunksHeldBy(peerId)
  }

  /** Chunks with at least one recorded holder. */
  locationCount (): number {
    return this.chunkLocations.locations.size
  }

  /** Chunk ids released since the last call: no slot references them any more. */
  takeFreedChunks (): string[] {
    const freed = this.freedChunks
    this.freedChunks = []
    return freed
  }

  // Commands

  private create (parent: FileId, name: string, mode: number, uid: number, gid: number, rdev: number, target: string, nowNs: bigint): ApplyResult {
    const directory = this.directoryFor(parent, name)
    if (typeof directory === 'number') return failed(directory)
    if (directory.has(name)) return failed(Errno.EEXIST)
    const parentInode = this.inodes.get(parent)!
    let inheritedMode = mode
    // BSD group semantics under a setgid directory: the new entry takes the directory's group, and a new
    // directory inherits the setgid bit so the rule propagates (what ext4 does).
    if ((parentInode.mode & S_ISGID) !== 0) {
      gid = parentInode.gid
      if (fileType(mode) === S_IFDIR) inheritedMode |= S_ISGID
    }
    const id = this.nextFileId++
    const inode = newInode(id, inheritedMode, uid, gid, nowNs, fileType(mode) === S_IFDIR ? parent : 0)
    inode.rdev = rdev
    inode.target = target
    if (target !== '') inode.size = Buffer.byteLength(target)
    this.inodes.set(id, inode)
    directory.set(name, id)
    if (isDirectory(inode)) {
      this.entries.set(id, new Map())
      parentInode.nlink++
    }
    touchDirectory(parentInode, nowNs)
    return { errno: 0, fileId: id }
  }

  private symlink (command: Extract<Command, { type: 'symlink' }>): ApplyResult {
    const length = Buffer.byteLength(command.target)
    if (length === 0) return failed(Errno.ENOENT)
    if (length > SYMLINK_BYTES_MAX) return failed(Errno.ENAMETOOLONG)
    return this.create(command.parent, command.name, S_IFLNK | 0o777, command.uid, command.gid, 0, command.target, command.nowNs)
  }

  private link (fileId: FileId, parent: FileId, name: string, nowNs: bigint): ApplyResult {
    const inode = this.inodes.get(fileId)
    if (inode === undefined) return failed(Errno.ENOENT)
    if (isDirectory(inode)) return failed(Errno.EPERM)
    if (inode.nlink === 0) return failed(Errno.ENOENT) // linkat of an unlinked open file
    const directory = this.directoryFor(parent, name)
    if (typeof directory === 'number') return failed(directory)
    if (directory.has(name)) return failed(Errno.EEXIST)
    directory.set(name, fileId)
    inode.nlink++
    inode.ctimeNs = nowNs
    touchDirectory(this.inodes.get(parent)!, nowNs)
    return { errno: 0, fileId }
  }

  private unlink (parent: FileId, name: string, holder: string, nowNs: bigint): ApplyResult {
    const directory = this.directoryFor(parent, name)
    if (typeof directory === 'number') return failed(directory)
    const id = directory.get(name)
    if (id === undefined) return failed(Errno.ENOENT)
    const inode = this.inodes.get(id)!
    if (isDirectory(inode)) return failed(Errno.EISDIR)
    directory.delete(name)
    touchDirectory(this.inodes.get(parent)!, nowNs)
    this.dropLink(inode, holder, nowNs)
    return { errno: 0, fileId: id }
  }

  private rmdir (parent: FileId, name: string, nowNs: bigint): ApplyResult {
    if (name === '.') return failed(Errno.EINVAL)
    if (name === '..') return failed(Errno.ENOTEMPTY)
    const directory = this.directoryFor(parent, name)
    if (typeof directory === 'number') return failed(directory)
    const id = directory.get(name)
    if (id === undefined) return failed(Errno.ENOENT)
    const inode = this.inodes.get(id)!
    if (!isDirectory(inode)) return failed(Errno.ENOTDIR)
    if (this.entries.get(id)!.size > 0) return failed(Errno.ENOTEMPTY)
    directory.delete(name)
    this.removeDirectory(inode)
    const parentInode = this.inodes.get(parent)!
    parentInode.nlink--
    touchDirectory(parentInode, nowNs)
    return { errno: 0, fileId: id }
  }

  private rename (command: Extract<Command, { type: 'rename' }>): ApplyResult {
    const { parent, name, newParent, newName, flags, holder, nowNs } = command
    const sourceDirectory = this.directoryFor(parent, name)
    if (typeof sourceDirectory === 'number') return failed(sourceDirectory)
    const targetDirectory = this.directoryFor(newParent, newName)
    if (typeof targetDirectory === 'number') return failed(targetDirectory)
    const id = sourceDirectory.get(name)
    if (id === undefined) return failed(Errno.ENOENT)
    const inode = this.inodes.get(id)!
    const replacedId = targetDirectory.get(newName)
    if ((flags & RENAME_NOREPLACE) !== 0 && replacedId !== undefined) return failed(Errno.EEXIST)
    if ((flags & RENAME_EXCHANGE) !== 0) return this.exchange(command, id, replacedId)
    if (replacedId === id) return OK // two names of one file: POSIX says do nothing
    if (isDirectory(inode) && this.isAncestor(id, newParent)) return failed(Errno.EINVAL)
    if (replacedId !== undefined) {
      const errno = this.checkReplace(inode, this.inodes.get(replacedId)!)
      if (errno !== 0) return failed(errno)
    }
    if (replacedId !== undefined) {
      const replaced = this.inodes.get(replacedId)!
      if (isDirectory(replaced)) {
        this.removeDirectory(replaced)
        this.inodes.get(newParent)!.nlink--
      } else {
        this.dropLink(replaced, holder, nowNs)
      }
    }
    sourceDirectory.delete(name)
    targetDirectory.set(newName, id)
    if (isDirectory(inode) && parent !== newParent) {
      inode.parent = newParent
      this.inodes.get(parent)!.nlink--
      this.inodes.get(newParent)!.nlink++
    }
    inode.ctimeNs = nowNs // Linux updates ctime of the moved inode, and tools (rsync, make) expect it
    touchDirectory(this.inodes.get(parent)!, nowNs)
    touchDirectory(this.inodes.get(newParent)!, nowNs)
    return { errno: 0, fileId: id }
  }

  private exchange (command: Extract<Command, { type: 'rename' }>, id: FileId, otherId: FileId | undefined): ApplyResult {
    if (otherId === undefined) return failed(Errno.ENOENT)
    const inode = this.inodes.get(id)!
    const other = this.inodes.get(otherId)!
    if ((isDirectory(inode) && this.isAncestor(id, command.newParent)) || (isDirectory(other) && this.isAncestor(otherId, command.parent))) return failed(Errno.EINVAL)
    this.entries.get(command.parent)!.set(command.name, otherId)
    this.entries.get(command.newParent)!.set(command.newName, id)
    if (command.parent !== command.newParent) {
      for (const [moved, to] of [[inode, command.newParent], [other, command.parent]] as const) {
        if (!isDirectory(moved)) continue
        this.inodes.get(moved.parent)!.nlink--
        moved.parent = to
        this.inodes.get(to)!.nlink++
      }
    }
    inode.ctimeNs = other.ctimeNs = command.nowNs
    touchDirectory(this.inodes.get(command.parent)!, command.nowNs)
    touchDirectory(this.inodes.get(command.newParent)!, command.nowNs)
    return { errno: 0, fileId: id }
  }

  private checkReplace (source: Inode, replaced: Inode): number {
    if (isDirectory(source) && !isDirectory(replaced)) return Errno.ENOTDIR
    if (!isDirectory(source) && isDirectory(replaced)) return Errno.EISDIR
    if (isDirectory(replaced) && this.entries.get(replaced.id)!.size > 0) return Errno.ENOTEMPTY
    return 0
  }

  private setattr (fileId: FileId, changes: AttributeChanges, nowNs: bigint): ApplyResult {
    const inode = this.inodes.get(fileId)
    if (inode === undefined) return failed(Errno.ENOENT)
    if (changes.size !== undefined) {
      if (isDirectory(inode)) return failed(Errno.EISDIR)
      if (!isRegular(inode)) return failed(Errno.EINVAL)
      if (changes.size > FILE_BYTES_MAX) return failed(Errno.EFBIG)
      this.truncate(inode, changes.size)
      inode.mtimeNs = nowNs
      inode.version++
    }
    setOwnerModeAtime(inode, changes)
    if (changes.mtimeNs !== undefined) inode.mtimeNs = changes.mtimeNs
    inode.ctimeNs = nowNs
    return { errno: 0, fileId }
  }

  private setxattr (fileId: FileId, name: string, value: Buffer, flags: number, nowNs: bigint): ApplyResult {
    const inode = this.inodes.get(fileId)
    if (inode === undefined) return failed(Errno.ENOENT)
    const old = inode.xattrs?.get(name)
    const exists = old !== undefined
    if ((flags & XATTR_CREATE) !== 0 && exists) return failed(Errno.EEXIST)
    if ((flags & XATTR_REPLACE) !== 0 && !exists) return failed(Errno.ENODATA)
    const total = xattrBytes(inode) - (exists ? Buffer.byteLength(name) + old.length : 0)
    if (total + Buffer.byteLength(name) + value.length > XATTR_TOTAL_BYTES_MAX) return failed(Errno.ENOSPC)
    inode.xattrs ??= new Map()
    inode.xattrs.set(name, value)
    if (name === CAPABILITY_XATTR && !exists) this.capabilityXattrs++
    inode.ctimeNs = nowNs
    return { errno: 0, fileId }
  }

  private removexattr (fileId: FileId, name: string, nowNs: bigint): ApplyResult {
    const inode = this.inodes.get(fileId)
    if (inode === undefined) return failed(Errno.ENOENT)
    if (inode.xattrs?.delete(name) !== true) return failed(Errno.ENODATA)
    if (inode.xattrs.size === 0) inode.xattrs = null
    if (name === CAPABILITY_XATTR) this.capabilityXattrs--
    inode.ctimeNs = nowNs
    return { errno: 0, fileId }
  }

  private commitChunks (fileId: FileId, size: number, updates: ChunkUpdate[], mtimeNs: bigint, attributes: StagedAttributes, nowNs: bigint): ApplyResult {
    const inode = this.inodes.get(fileId)
    if (inode === undefined) return failed(Errno.ENOENT)
    if (!isRegular(inode)) return failed(Errno.EINVAL)
    if (size > FILE_BYTES_MAX) return failed(Errno.EFBIG)
    if (!updates.every((update) => update.ref?.holders === undefined || validHolders(update.ref.holders))) return failed(Errno.EINVAL)
    const slots = Math.ceil(size / CHUNK_BYTES)
    const keys = new Map<ChunkUpdate, string>() // one string per new chunk id, shared by both tables
    for (const update of updates) {
      if (update.index >= slots) continue // truncated away by a later setattr on another handle
      while (inode.chunks.length <= update.index) inode.chunks.push(null)
      const key = this.replaceSlot(inode, update.index, update.ref)
      if (key !== null) keys.set(update, key)
    }
    this.truncate(inode, size)
    // Holders after every slot moved: a chunk this commit both dropped and re-referenced keeps them.
    for (const [update, key] of keys) {
      const holders = update.ref?.holders
      if (holders !== undefined && this.chunkReferences.has(key)) this.chunkLocations.add(key, holders, this.removedPeers)
    }
    inode.mtimeNs = mtimeNs
    setOwnerModeAtime(inode, attributes)
    inode.ctimeNs = nowNs
    inode.version++
    return { errno: 0, fileId }
  }

  private release (fileId: FileId): ApplyResult {
    const inode = this.inodes.get(fileId)
    if (inode === undefined || !this.orphans.has(fileId)) return OK // already gone, or relinked meanwhile
    this.orphans.delete(fileId)
    if (inode.nlink === 0) this.removeInode(inode)
    return OK
  }

  /**
   * Releases only `holder`'s orphans and flocks: a peer restarting must not close files, or drop locks,
   * that other peers hold.
   */
  private purgeOrphans (holder: string): ApplyResult {
    for (const [id, orphanHolder] of [...this.orphans]) if (orphanHolder === holder) this.release(id)
    this.locks.dropHolder(holder)
    return OK
  }

  private flock (fileId: FileId, owner: string, mode: number): ApplyResult {
    const holder = lockHolder(owner)
    if (holder === '' || Buffer.byteLength(owner) > LOCK_OWNER_BYTES_MAX) return failed(Errno.EINVAL)
    if (mode !== LOCK_UNLOCK && mode !== LOCK_SHARED && mode !== LOCK_EXCLUSIVE) return failed(Errno.EINVAL)
    if (this.removedPeers.has(holder)) return failed(Errno.EPERM) // it would hold the lock for good
    if (!this.inodes.has(fileId)) return failed(Errno.ENOENT)
    if (mode === LOCK_UNLOCK) {
      this.locks.release(fileId, owner)
      return OK
    }
    return this.locks.take(fileId, owner, mode) ? OK : failed(Errno.EWOULDBLOCK)
  }

  /** A removed peer never comes back to release what it held open, so its orphans are released now. */
  private removePeer (peerId: string): ApplyResult {
    if (peerId === '' || Buffer.byteLength(peerId) > PEER_ID_BYTES_MAX) return failed(Errno.EINVAL)
    if (this.removedPeers.has(peerId)) return OK
    if (this.removedPeers.size >= REMOVED_PEERS_MAX) return failed(Errno.ENOSPC)
    this.removedPeers.add(peerId)
    this.chunkLocations.dropPeer(peerId)
    return this.purgeOrphans(peerId)
  }

  /**
   * Validated whole before any change, so a bad update leaves the state untouched. A chunk nobody
   * references is skipped, not refused: repair may report a copy of a chunk freed since it looked.
   */
  private setLocations (updates: LocationUpdate[]): ApplyResult {
    if (updates.length > LOCATION_UPDATES_MAX) return failed(Errno.EINVAL)
    for (const update of updates) {
      if (update.chunk.length !== CHUNK_ID_BYTES || !validHolders(update.add) || !validHolders(update.remove)) return failed(Errno.EINVAL)
    }
    for (const update of updates) {
      const key = chunkKey(update.chunk)
      if (!this.chunkReferences.has(key)) continue
      this.chunkLocations.remove(key, update.remove)
      this.chunkLocations.add(key, update.add, this.removedPeers)
    }
    return OK
  }

  // Helpers

  /** The entries of `parent` if a name may be looked up or created there, else an errno. */
  private directoryFor (parent: FileId, name: string): Map<string, FileId> | number {
    const inode = this.inodes.get(parent)
    if (inode === undefined) return Errno.ENOENT
    if (!isDirectory(inode)) return Errno.ENOTDIR
    if (inode.nlink === 0) return Errno.ENOENT // a removed directory still held open
    if (name === '' || name.includes('/') || name.includes('\0')) return Errno.EINVAL
    if (Buffer.byteLength(name) > NAME_BYTES_MAX) return Errno.ENAMETOOLONG
    return this.entries.get(parent)!
  }

  private isAncestor (ancestor: FileId, id: FileId): boolean {
    for (let current = id; ; current = this.inodes.get(current)!.parent) {
      if (current === ancestor) return true
      if (current === ROOT_ID) return false
    }
  }

  /**
   * The last name gone: the file lives on as `holder`'s orphan, or is freed now if no peer holds it
   * (a removed peer's hold is void: it could never release it). The holder recorded is the one named by
   * the command that removed the last name, whoever else may have the file open.
   */
  private dropLink (inode: Inode, holder: string, nowNs: bigint): void {
    inode.nlink--
    inode.ctimeNs = nowNs
    if (inode.nlink > 0) return
    if (holder !== '' && !this.removedPeers.has(holder)) this.orphans.set(inode.id, holder)
    else this.removeInode(inode)
  }

  private removeDirectory (inode: Inode): void {
    this.entries.delete(inode.id)
    inode.nlink = 0
    this.forget(inode)
  }

  private removeInode (inode: Inode): void {
    for (let index = 0; index < inode.chunks.length; index++) this.replaceSlot(inode, index, null)
    this.forget(inode)
  }

  private forget (inode: Inode): void {
    if (inode.xattrs?.has(CAPABILITY_XATTR) === true) this.capabilityXattrs--
    this.locks.dropFile(inode.id)
    this.inodes.delete(inode.id)
  }

  /** Whether any inode has a security.capability attribute (the kernel asks before every write). */
  get hasCapabilityXattrs (): boolean {
    return this.capabilityXattrs > 0
  }

  /** Recounts what is derived from the inodes, after they were loaded wholesale (a snapshot). */
  recountDerived (): void {
    this.capabilityXattrs = countCapabilityXattrs(this.inodes.values())
  }

  private truncate (inode: Inode, size: number): void {
    const slots = Math.ceil(size / CHUNK_BYTES)
    for (let index = slots; index < inode.chunks.length; index++) this.replaceSlot(inode, index, null)
    inode.chunks.length = Math.min(inode.chunks.length, slots)
    const last = inode.chunks[slots - 1]
    if (last !== undefined && last !== null) last.length = Math.min(last.length, size - (slots - 1) * CHUNK_BYTES)
    inode.size = size
  }

  /** Points slot `index` at `ref`, counting references; returns the new chunk's key, if any. */
  private replaceSlot (inode: Inode, index: number, ref: ChunkRef | null): string | null {
    const old = inode.chunks[index]
    const key = ref === null ? null : chunkKey(ref.id)
    if (key !== null) this.chunkReferences.set(key, (this.chunkReferences.get(key) ?? 0) + 1)
    if (old !== undefined && old !== null) {
      const oldKey = chunkKey(old.id)
      const count = this.chunkReferences.get(oldKey)! - 1
      if (count === 0) {
        this.chunkReferences.delete(oldKey)
        this.chunkLocations.forget(oldKey)
        this.freedChunks.push(oldKey)
      } else {
        this.chunkReferences.set(oldKey, count)
      }
    }
    inode.chunks[index] = ref === null ? null : { id: ref.id, length: ref.length }
    return key
  }

  /** Invariants a test or simulator can assert after every step. Throws on the first violation. */
  checkInvariants (): void {
    runSteps(this.invariantSteps())
  }

  /** checkInvariants a part at a time: yields every few thousand inodes, for a big state restored in steps. */
  * invariantSteps (): Generator<void, void, undefined> {
    let visited = 0
    const references = new Map<string, number>()
    const linkCounts = new Map<FileId, number>()
    const subdirectories = new Map<FileId, number>()
    let capabilities = 0
    for (const [directoryId, children] of this.entries) {
      const directory = this.inodes.get(directoryId)
      assert(directory !== undefined && isDirectory(directory), `entries of missing directory ${directoryId}`)
      for (const childId of children.values()) {
        if (++visited % INVARIANT_STEP_ITEMS === 0) yield
        const child = this.inodes.get(childId)
        assert(child !== undefined, `entry to missing inode ${childId}`)
        linkCounts.set(childId, (linkCounts.get(childId) ?? 0) + 1)
        if (!isDirectory(child)) continue
        assert(child.parent === directoryId, `directory ${childId} has wrong parent`)
        subdirectories.set(directoryId, (subdirectories.get(directoryId) ?? 0) + 1)
      }
    }
    for (const inode of this.inodes.values()) {
      if (++visited % INVARIANT_STEP_ITEMS === 0) yield
      if (isDirectory(inode)) {
        assert(this.entries.has(inode.id), `directory ${inode.id} has no entries`)
        assert(inode.nlink === 2 + (subdirectories.get(inode.id) ?? 0), `directory ${inode.id} nlink ${inode.nlink}`)
      } else {
        assert(inode.nlink === (linkCounts.get(inode.id) ?? 0), `inode ${inode.id} nlink ${inode.nlink}`)
        assert(inode.nlink > 0 || this.orphans.has(inode.id), `unreferenced inode ${inode.id}`)
      }
      if (inode.xattrs?.has(CAPABILITY_XATTR) === true) capabilities++
      assert(inode.chunks.length <= Math.ceil(inode.size / CHUNK_BYTES), `inode ${inode.id} has chunks past its size`)
      for (const ref of inode.chunks) {
        if (ref === null) continue
        assert(ref.holders === undefined, `inode ${inode.id} keeps holders in a chunk ref`)
        const key = chunkKey(ref.id)
        references.set(key, (references.get(key) ?? 0) + 1)
      }
    }
    for (const [id, holder] of this.orphans) {
      const inode = this.inodes.get(id)
      assert(inode !== undefined && !isDirectory(inode) && inode.nlink === 0, `orphan ${id} is not an unlinked file`)
      assert(holder !== '' && Buffer.byteLength(holder) <= PEER_ID_BYTES_MAX, `orphan ${id} has a bad holder`)
      assert(!this.removedPeers.has(holder), `orphan ${id} held by removed peer ${holder}`)
    }
    assert(this.removedPeers.size <= REMOVED_PEERS_MAX, 'too many removed peers')
    for (const peerId of this.removedPeers) assert(peerId !== '' && Buffer.byteLength(peerId) <= PEER_ID_BYTES_MAX, 'bad removed peer id')
    assert(references.size === this.chunkReferences.size, 'chunk reference table size')
    for (const [key, count] of references) {
      if (++visited % INVARIANT_STEP_ITEMS === 0) yield
      assert(this.chunkReferences.get(key) === count, `chunk ${key} refcount`)
    }
    yield * this.chunkLocations.invariantSteps((key) => this.chunkReferences.has(key), this.removedPeers, INVARIANT_STEP_ITEMS)
    this.locks.checkInvariants((fileId) => this.inodes.has(fileId))
    for (const [, owner] of this.locks.entries()) assert(!this.removedPeers.has(lockHolder(owner)), `lock held by removed peer ${owner}`)
    assert(this.capabilityXattrs === capabilities, 'capability attribute count is off')
  }
}

function countCapabilityXattrs (inodes: Iterable<Inode>): number {
  let count = 0
  for (const inode of inodes) if (inode.xattrs?.has(CAPABILITY_XATTR) === true) count++
  return count
}

function newInode (id: FileId, mode: number, uid: number, gid: number, nowNs: bigint, parent: FileId): Inode {
  const directory = fileType(mode) === S_IFDIR
  return {
    id, mode, uid, gid, rdev: 0, nlink: directory ? 2 : 1, size: 0, atimeNs: nowNs, mtimeNs: nowNs, ctimeNs: nowNs,
    version: 0, chunks: [], target: '', xattrs: null, parent: directory ? parent : 0
  }
}

/** A holder list a command may carry: at most HOLDERS_MAX well-formed peer ids. */
function validHolders (peerIds: readonly string[]): boolean {
  return peerIds.length <= HOLDERS_MAX && peerIds.every(validPeerId)
}

function touchDirectory (directory: Inode, nowNs: bigint): void {
  directory.mtimeNs = nowNs
  directory.ctimeNs = nowNs
}

function xattrBytes (inode: Inode): number {
  let total = 0
  for (const [name, value] of inode.xattrs ?? []) total += Buffer.byteLength(name) + value.length
  return total
}

function assert (condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`filesystem invariant violated: ${message}`)
}

