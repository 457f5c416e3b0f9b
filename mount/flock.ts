// flock(2) across the cluster. A lock is a replicated command (metadata/fs/file-locks.ts), so a lock
// taken through this mount excludes processes on every peer's mount. The kernel's lock owner names
// the open file description, and the last close of one that took a flock asks for its lock to be
// dropped (LOCK_UN, passed on by the binding from release). A request that has to wait tries again
// only once this peer's copy of the lock table shows the lock free (looked at every few milliseconds,
// proposing nothing meanwhile). A waiter whose process got a signal (^C, kill -9) is answered EINTR
// at once: the kernel waits for our answer even then, the request being ours already.
//
// An unlock is never lost: the kernel forgets the owner once it asked (a close cannot fail), so an
// unlock the cluster could not take yet (no quorum) is proposed again until it commits. A lock request
// that failed without an answer may still commit later; its owner's unlock is proposed all the same.
import { Errno, FsError } from '../native/errno.js'
import { LOCK_EXCLUSIVE, LOCK_SHARED, LOCK_UNLOCK, lockOwner } from '../metadata/fs/file-locks.js'
import type { LockMode } from '../metadata/fs/file-locks.js'
import type { FileId } from '../metadata/fs/inode.js'
import type { Logger } from '../peer/log.js'
import type { MetadataService } from './services.js'

/** flock(2)'s operation bits, as <sys/file.h> defines them. */
export const LOCK_SH = 1
export const LOCK_EX = 2
export const LOCK_NB = 4
export const LOCK_UN = 8
const WAIT_POLL_MS = 20
const UNLOCK_RETRY_MS = 1000

export class Flocks {
  private readonly metadata: MetadataService
  private readonly peerId: string
  private readonly logger: Logger
  /** `fileId/owner` of lock requests that failed without an answer: they may be in the log all the same. */
  private readonly unanswered = new Set<string>()
  /** `fileId/owner` of unlocks not committed yet, proposed again every so often. */
  private readonly unlocking = new Set<string>()

  constructor (metadata: MetadataService, peerId: string, logger: Logger) {
    this.metadata = metadata
    this.peerId = peerId
    this.logger = logger
  }

  /**
   * flock(2) `operation` on `fileId` by the kernel's lock owner `kernelOwner` (hex); a wait ends with
   * EINTR once `interrupted` (the caller got a signal).
   */
  async flock (fileId: FileId, operation: number, kernelOwner: string, interrupted: () => boolean = () => false): Promise<void> {
    const owner = lockOwner(this.peerId, kernelOwner)
    if ((operation & LOCK_UN) !== 0) {
      await this.unlock(fileId, owner)
      return
    }
    const mode: LockMode | null = (operation & LOCK_EX) !== 0 ? LOCK_EXCLUSIVE : (operation & LOCK_SH) !== 0 ? LOCK_SHARED : null
    if (mode === null) throw new FsError(Errno.EINVAL)
    // An earlier unlock still on its way would drop this lock once it commits: there is no quorum yet.
    if (this.unlocking.has(keyOf(fileId, owner))) throw new FsError(Errno.ENOLCK)
    await this.take(fileId, owner, mode, (operation & LOCK_NB) === 0, interrupted)
  }

  private async take (fileId: FileId, owner: string, mode: LockMode, wait: boolean, interrupted: () => boolean): Promise<void> {
    // The first try is always proposed: this peer's state may lag behind a release elsewhere.
    for (let tries = 0; ; tries++) {
      if (tries === 0 || !this.metadata.state.locks.conflicts(fileId, owner, mode)) {
        const { errno } = await this.metadata.propose({ type: 'flock', fileId, owner, mode }).catch((error: unknown) => {
          this.unanswered.add(keyOf(fileId, owner))
          return noQuorumIsNoLocks(error)
        })
        if (errno === 0) return
        if (errno !== Errno.EWOULDBLOCK) throw new FsError(errno)
        if (!wait) throw new FsError(Errno.EWOULDBLOCK)
      }
      if (interrupted()) throw new FsError(Errno.EINTR)
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS))
    }
  }

  /** Resolves once the unlock committed, or once it failed for the first time (it goes on meanwhile). */
  private async unlock (fileId: FileId, owner: string): Promise<void> {
    const key = keyOf(fileId, owner)
    if (this.unlocking.has(key)) return // already on its way
    // Only this mount takes locks for its owners, and it applies each before answering: the local
    // state knows whether there is anything to drop (a close of a file that took none costs nothing).
    if (!this.metadata.state.locks.of(fileId).has(owner) && !this.unanswered.has(key)) return
    if (await this.proposeUnlock(fileId, owner)) {
      this.unanswered.delete(key)
      return
    }
    this.logger.warn('flock.unlock_deferred', { fileId, owner, retryMs: UNLOCK_RETRY_MS })
    this.unlocking.add(key)
    void this.unlockLater(fileId, owner, key)
  }

  private async unlockLater (fileId: FileId, owner: string, key: string): Promise<void> {
    do await new Promise((resolve) => setTimeout(resolve, UNLOCK_RETRY_MS).unref())
    while (!(await this.proposeUnlock(fileId, owner)))
    this.unlocking.delete(key)
    this.unanswered.delete(key)
    this.logger.info('flock.unlock_committed', { fileId, owner })
  }

  /** Whether the unlock was answered: any answer is final (ENOENT: a file gone took its locks along). */
  private async proposeUnlock (fileId: FileId, owner: string): Promise<boolean> {
    return await this.metadata.propose({ type: 'flock', fileId, owner, mode: LOCK_UNLOCK }).then(() => true, () => false)
  }
}

function keyOf (fileId: FileId, owner: string): string {
  return `${fileId}/${owner}`
}

/** No quorum to ask (a partition, say): "no locks available", as NFS answers without its lock manager. */
function noQuorumIsNoLocks (error: unknown): never {
  if (error instanceof FsError && (error.errno === Errno.ETIMEDOUT || error.errno === Errno.EAGAIN)) throw new FsError(Errno.ENOLCK)
  throw error
}
