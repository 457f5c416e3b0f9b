// flock(2) across the cluster. A lock is a replicated command (metadata/fs/file-locks.ts), so a lock
// taken through this mount excludes processes on every peer's mount. A request that has to wait tries
// again only once this peer's state shows the lock free (looked at every few milliseconds, proposing
// nothing meanwhile). When the open file description a waiter asked for is closed (its process was
// killed while blocked), the wait ends, and a lock its last try took is dropped again.
import { Errno, FsError } from '../native/errno.js'
import { LOCK_EXCLUSIVE, LOCK_SHARED, LOCK_UNLOCK, lockOwner } from '../metadata/fs/file-locks.js'
import type { LockMode } from '../metadata/fs/file-locks.js'
import type { FileId } from '../metadata/fs/inode.js'
import type { MetadataService } from './services.js'

const LOCK_SH = 1
const LOCK_EX = 2
const LOCK_NB = 4
const LOCK_UN = 8
/** Set by the binding on the LOCK_UN of a last close: the open file description is gone. */
const LOCK_RELEASE = 0x100
const WAIT_POLL_MS = 20

export class Flocks {
  private readonly metadata: MetadataService
  private readonly peerId: string
  /** Waiters per `fileId owner`, and those whose open file description was closed under them. */
  private readonly waiters = new Map<string, number>()
  private readonly closed = new Set<string>()

  constructor (metadata: MetadataService, peerId: string) {
    this.metadata = metadata
    this.peerId = peerId
  }

  /** flock(2) `operation` on `fileId` by the kernel's lock owner `kernelOwner` (hex). */
  async flock (fileId: FileId, operation: number, kernelOwner: string): Promise<void> {
    const owner = lockOwner(this.peerId, kernelOwner)
    const key = `${fileId} ${owner}`
    if ((operation & LOCK_UN) !== 0) {
      if ((operation & LOCK_RELEASE) !== 0 && this.waiters.has(key)) this.closed.add(key)
      await this.unlock(fileId, owner)
      return
    }
    const mode: LockMode | null = (operation & LOCK_EX) !== 0 ? LOCK_EXCLUSIVE : (operation & LOCK_SH) !== 0 ? LOCK_SHARED : null
    if (mode === null) throw new FsError(Errno.EINVAL)
    this.waiters.set(key, (this.waiters.get(key) ?? 0) + 1)
    try {
      await this.take(fileId, owner, mode, (operation & LOCK_NB) === 0, key)
    } finally {
      const left = this.waiters.get(key)! - 1
      if (left > 0) this.waiters.set(key, left)
      else {
        this.waiters.delete(key)
        this.closed.delete(key)
      }
    }
  }

  private async take (fileId: FileId, owner: string, mode: LockMode, wait: boolean, key: string): Promise<void> {
    // The first try is always proposed: this peer's state may lag behind a release elsewhere.
    for (let tries = 0; ; tries++) {
      if (this.closed.has(key)) throw new FsError(Errno.EINTR)
      if (tries === 0 || !this.metadata.state.locks.conflicts(fileId, owner, mode)) {
        const { errno } = await this.metadata.propose({ type: 'flock', fileId, owner, mode }).catch((error: unknown) => {
          // No quorum to ask (a partition, say): "no locks available", as NFS answers without its lock manager.
          if (error instanceof FsError && (error.errno === Errno.ETIMEDOUT || error.errno === Errno.EAGAIN)) throw new FsError(Errno.ENOLCK)
          throw error
        })
        if (errno === 0 && this.closed.has(key)) {
          await this.unlock(fileId, owner)
          throw new FsError(Errno.EINTR)
        }
        if (errno === 0) return
        if (errno !== Errno.EWOULDBLOCK) throw new FsError(errno)
        if (!wait) throw new FsError(Errno.EWOULDBLOCK)
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS))
    }
  }

  private async unlock (fileId: FileId, owner: string): Promise<void> {
    const { errno } = await this.metadata.propose({ type: 'flock', fileId, owner, mode: LOCK_UNLOCK })
    if (errno !== 0 && errno !== Errno.ENOENT) throw new FsError(errno) // a file gone took its locks along
  }
}
