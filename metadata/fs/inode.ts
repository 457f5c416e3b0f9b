// An inode of the replicated filesystem state: everything about a file except its bytes, which live
// in chunks referenced by id. Keyed by a global file_id that every peer agrees on (assigned at apply).

export type FileId = number
export const ROOT_ID: FileId = 1

/** Files are cut into chunks of this many plaintext bytes; chunk slot i covers [i·CHUNK_BYTES, (i+1)·CHUNK_BYTES). */
export const CHUNK_BYTES = 4 * 1024 * 1024
export const NAME_BYTES_MAX = 255
export const SYMLINK_BYTES_MAX = 4095
export const XATTR_NAME_BYTES_MAX = 255
/** The attribute holding a file's capabilities, which the kernel looks for before every write. */
export const CAPABILITY_XATTR = 'security.capability'
export const XATTR_VALUE_BYTES_MAX = 64 * 1024
export const XATTR_TOTAL_BYTES_MAX = 256 * 1024
export const FILE_BYTES_MAX = 2 ** 50 // far beyond any disk here, and exact in a JS number

export const S_IFMT = 0o170000
export const S_IFREG = 0o100000
export const S_IFDIR = 0o040000
export const S_IFLNK = 0o120000
export const S_IFIFO = 0o010000
export const S_IFSOCK = 0o140000
export const S_IFCHR = 0o020000
export const S_IFBLK = 0o060000
export const S_ISUID = 0o4000
export const S_ISGID = 0o2000
export const PERMISSION_BITS = 0o7777

/**
 * A reference from a chunk slot to stored bytes: the chunk's id and how many of its plaintext bytes
 * belong to the file. Bytes of the slot past `length` read as zeros (a truncate shortens `length`
 * instead of rewriting the chunk).
 */
export interface ChunkRef {
  id: Buffer
  length: number
  /**
   * Only in a commitChunks command: the peers that hold a durable copy, added to the chunk's locations
   * when the command applies. Never kept in an inode (the state strips it), so inodes stay small and
   * snapshots do not carry holders twice.
   */
  holders?: string[]
}

export interface Inode {
  id: FileId
  mode: number // file type bits and permission bits, as in st_mode
  uid: number
  gid: number
  rdev: number
  nlink: number
  size: number
  atimeNs: bigint
  mtimeNs: bigint
  ctimeNs: bigint
  /** Bumped by every change of the file's bytes; lets a reader know its cached pages are still good. */
  version: number
  /** Chunk slots in order; null is a hole. Never longer than ceil(size / CHUNK_BYTES). */
  chunks: Array<ChunkRef | null>
  /** The target of a symlink; '' otherwise. */
  target: string
  /** Extended attributes; null while there are none (most files: an empty Map costs ~190 bytes). */
  xattrs: Map<string, Buffer> | null
  /** For a directory: the parent's id ('..'); the root is its own parent. 0 for other kinds. */
  parent: FileId
}

/** Sets the owner, permission bits and atime that `changes` names (a setattr's, or a commit's staged ones). */
export function setOwnerModeAtime (inode: Inode, changes: { mode?: number, uid?: number, gid?: number, atimeNs?: bigint }): void {
  if (changes.mode !== undefined) inode.mode = (inode.mode & S_IFMT) | (changes.mode & PERMISSION_BITS)
  if (changes.uid !== undefined) inode.uid = changes.uid
  if (changes.gid !== undefined) inode.gid = changes.gid
  if (changes.atimeNs !== undefined) inode.atimeNs = changes.atimeNs
}

export function fileType (mode: number): number {
  return mode & S_IFMT
}

export function isDirectory (inode: Inode): boolean {
  return fileType(inode.mode) === S_IFDIR
}

export function isRegular (inode: Inode): boolean {
  return fileType(inode.mode) === S_IFREG
}

export function chunkKey (id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
}
