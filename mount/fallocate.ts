// fallocate(2) for copy-on-write, replicated files. There are no blocks to reserve ahead: a write
// always lands in new chunks, on several peers. So allocating checks that the room exists (ENOSPC
// otherwise, as users of `fallocate -l` expect) and grows the size unless KEEP_SIZE is given. Punching
// a hole or zeroing a range writes zeros; whole chunks of zeros share one stored chunk (content
// addressing), so a hole costs a chunk reference, not its bytes.
import { Errno, FsError } from '../native/errno.js'
import { FILE_BYTES_MAX } from '../metadata/fs/inode.js'

export const FALLOC_FL_KEEP_SIZE = 0x01
export const FALLOC_FL_PUNCH_HOLE = 0x02
export const FALLOC_FL_ZERO_RANGE = 0x10
const SUPPORTED = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE

export interface FallocatePlan {
  /** Bytes [zeroFrom, zeroTo) read as zeros afterwards (empty when zeroFrom >= zeroTo). */
  zeroFrom: number
  zeroTo: number
  /** The new size, or null to keep it. */
  newSize: number | null
  /** Bytes beyond the end of the file the call allocates: they must fit on the disk. */
  allocatedBytes: number
}

/** What fallocate(mode, offset, length) does to a file of `size` bytes; throws the errno Linux gives. */
export function planFallocate (mode: number, offset: number, length: number, size: number): FallocatePlan {
  if (offset < 0 || length <= 0) throw new FsError(Errno.EINVAL)
  // Collapse and insert range, unshare, and the rest: the flags Linux checks before any file system.
  if ((mode & ~SUPPORTED) !== 0) throw new FsError(Errno.EOPNOTSUPP)
  const punch = (mode & FALLOC_FL_PUNCH_HOLE) !== 0
  const zero = (mode & FALLOC_FL_ZERO_RANGE) !== 0
  const keepSize = (mode & FALLOC_FL_KEEP_SIZE) !== 0
  if ((punch && zero) || (punch && !keepSize)) throw new FsError(Errno.EOPNOTSUPP)
  const end = offset + length
  if (end > FILE_BYTES_MAX) throw new FsError(Errno.EFBIG)
  const zeroTo = punch || zero ? Math.min(end, size) : 0
  return {
    zeroFrom: punch || zero ? offset : 0,
    zeroTo,
    newSize: !keepSize && end > size ? end : null,
    allocatedBytes: punch ? 0 : Math.max(0, end - Math.max(offset, size))
  }
}
