// Inode attributes (already overlaid with staged owner and mode, see OpenFile.overlay) → the stat FUSE
// answers, with the size and times this peer's writers have not committed.
import type { Stat } from '../native/fuse.js'
import type { Inode } from '../metadata/fs/inode.js'
import type { OpenFile } from './open-file.js'

/** st_blksize: the preferred I/O size; tools like cp size their buffers from it. */
export const PREFERRED_IO_BYTES = 128 * 1024

export function statOf (inode: Inode, open: OpenFile | undefined): Stat {
  const size = open?.size ?? inode.size
  const pendingMtimeNs = open?.pendingMtimeNs ?? null
  const pendingCtimeNs = open?.pendingCtimeNs ?? null
  return {
    mode: inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    size,
    nlink: inode.nlink,
    ino: inode.id,
    rdev: inode.rdev,
    blksize: PREFERRED_IO_BYTES,
    blocks: Math.ceil(allocatedBytes(inode, open) / 512),
    atimeNs: inode.atimeNs,
    mtimeNs: pendingMtimeNs ?? inode.mtimeNs,
    ctimeNs: pendingCtimeNs !== null && pendingCtimeNs > inode.ctimeNs ? pendingCtimeNs : inode.ctimeNs
  }
}

/** Bytes stored for the file, holes excluded, so `du` tells sparse files apart. */
function allocatedBytes (inode: Inode, open: OpenFile | undefined): number {
  if (open?.hasUncommittedData === true) return open.size
  let bytes = 0
  for (const ref of inode.chunks) if (ref !== null) bytes += ref.length
  return bytes
}
