// flock(2) across the cluster. A lock is a replicated command (metadata/fs/file-locks.ts), so a lock
// taken through this mount excludes processes on every peer's mount. The kernel's lock owner names
// the open file description, and the last close of one that took a flock asks for its lock to be
// dropped (LOCK_UN, passed on by the binding from release). A request that has to wait tries again
// only once this peer's copy of the lock table shows the lock free (looked at every few milliseconds,
// proposing nothing meanwhile). A process killed while blocked stays in the kernel until the answer
// comes (the request is ours by then): it gets the lock, and its last close drops it at once.
import { Errno, FsError } from '../native/errno.js'
import { LOCK_EXCLUSIVE, LOCK_SHARED, LOCK_UNLOCK, lockOwner } from '../metadata/fs/file-locks.js'
import type { LockMode } from '../metadata/fs/file-locks.js'
import type { FileId } from '../metadata/fs/inode.js'
import type { MetadataService } from './services.js'

const LOCK_SH = 1
const LOCK_EX = 2
const LOCK_NB = 4
const LOCK_UN = 8
const WAIT_POLL_MS = 20

export class Flocks {
  private readonly metadata: MetadataService
  private readonly peerId: string

  constructor (metadata: MetadataService, peerId: string) {
    this.metadata = metadata
    this.peerId = peerId
  }

  /** flock(2) `operation` on `fileId` by the kernel's lock owner `kernelOwner` (hex). */
  async flock (fileId: FileId, operation: number, kernelOwner: string): Promise<void> {
    const owner = lockOwner(this.peerId, kernelOwner)
    if ((operation & LOCK_UN) !== 0) {
      await this.unlock(fileId, owner)
      return
    }
    const mode: LockMode | null = (operation & LOCK_EX) !== 0 ? LOCK_EXCLUSIVE : (operation & LOCK_SH) !== 0 ? LOCK_SHARED : null
    if (mode === null) throw new FsError(Errno.EINVAL)
    await this.take(fileId, owner, mode, (operation & LOCK_NB) === 0)
  }

  private async take (fileId: FileId, owner: string, mode: LockMode, wait: boolean): Promise<void> {
    // The first try is always proposed: this peer's state may lag behind a release elsewhere.
    for (let tries = 0; ; tries++) {
      if (tries === 0 || !this.metadata.state.locks.conflicts(fileId, owner, mode)) {
        const { errno } = await this.metadata.propose({ type: 'flock', fileId, owner, mode }).catch(noQuorumIsNoLocks)
        if (errno === 0) return
        if (errno !== Errno.EWOULDBLOCK) throw new FsError(errno)
        if (!wait) throw new FsError(Errno.EWOULDBLOCK)
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS))
    }
  }

  private async unlock (fileId: FileId, owner: string): Promise<void> {
    // Only this mount takes locks for its owners, and it applies each before answering: the local
    // state knows whether there is anything to drop (a close of a file that took none costs nothing).
    if (!this.metadata.state.locks.of(fileId).has(owner)) return
    const { errno } = await this.metadata.propose({ type: 'flock', fileId, owner, mode: LOCK_UNLOCK })
    if (errno !== 0 && errno !== Errno.ENOENT) throw new FsError(errno) // a file gone took its locks along
  }
}

/** No quorum to ask (a partition, say): "no locks available", as NFS answers without its lock manager. */
function noQuorumIsNoLocks (error: unknown): never {
  if (error instanceof FsError && (error.errno === Errno.ETIMEDOUT || error.errno === Errno.EAGAIN)) throw new FsError(Errno.ENOLCK)
  throw error
}
