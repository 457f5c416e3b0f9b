// Whole-file advisory locks (flock(2)) as part of the replicated state, so a lock taken through one
// peer's mount excludes processes on every other peer. An owner is `<peer id>/<kernel lock owner>`:
// the kernel names an open file description, the prefix names the peer whose mount holds it, so a
// peer that restarts (or is removed) drops exactly its own locks, as an NFS server drops a rebooted
// client's. Pure: the state machine applies changes in log order on every replica.
import type { FileId } from './inode.js'

export const LOCK_UNLOCK = 0
export const LOCK_SHARED = 1
export const LOCK_EXCLUSIVE = 2
export type LockMode = typeof LOCK_SHARED | typeof LOCK_EXCLUSIVE

/** The owner id of the kernel's lock owner `ownerHex` on `peerId`'s mount. */
export function lockOwner (peerId: string, ownerHex: string): string {
  return `${peerId}/${ownerHex}`
}

/** The peer whose mount holds `owner`'s lock ('' for an owner without one). */
export function lockHolder (owner: string): string {
  const slash = owner.indexOf('/')
  return slash < 0 ? '' : owner.slice(0, slash)
}

export class FileLocks {
  /** File id → (owner → mode); a file without locks has no entry. */
  private readonly byFile = new Map<FileId, Map<string, LockMode>>()

  /** Whether `owner` asking for `mode` on the file would wait: another owner's lock is in the way. */
  conflicts (fileId: FileId, owner: string, mode: LockMode): boolean {
    const holders = this.byFile.get(fileId)
    if (holders === undefined) return false
    for (const [other, held] of holders) {
      if (other !== owner && (mode === LOCK_EXCLUSIVE || held === LOCK_EXCLUSIVE)) return true
    }
    return false
  }

  /**
   * Takes `mode` for `owner`, converting a lock it holds; false (and no change, the lock it held
   * stays) when another owner's lock conflicts.
   */
  take (fileId: FileId, owner: string, mode: LockMode): boolean {
    if (this.conflicts(fileId, owner, mode)) return false
    let holders = this.byFile.get(fileId)
    if (holders === undefined) {
      holders = new Map()
      this.byFile.set(fileId, holders)
    }
    holders.set(owner, mode)
    return true
  }

  release (fileId: FileId, owner: string): void {
    const holders = this.byFile.get(fileId)
    if (holders === undefined) return
    holders.delete(owner)
    if (holders.size === 0) this.byFile.delete(fileId)
  }

  /** The file is gone: nobody holds a lock on it any more. */
  dropFile (fileId: FileId): void {
    this.byFile.delete(fileId)
  }

  /** Every lock held through `peerId`'s mount. */
  dropHolder (peerId: string): void {
    for (const [fileId, holders] of [...this.byFile]) {
      for (const owner of [...holders.keys()]) if (lockHolder(owner) === peerId) this.release(fileId, owner)
    }
  }

  /** The locks on one file, owner → mode (empty when none). */
  of (fileId: FileId): ReadonlyMap<string, LockMode> {
    return this.byFile.get(fileId) ?? new Map()
  }

  /** Every lock, for snapshots: [file id, owner, mode], files in id order. */
  entries (): Array<[FileId, string, LockMode]> {
    const all: Array<[FileId, string, LockMode]> = []
    for (const fileId of [...this.byFile.keys()].sort((a, b) => a - b)) {
      for (const [owner, mode] of this.byFile.get(fileId)!) all.push([fileId, owner, mode])
    }
    return all
  }

  /** At most one exclusive lock per file, and never beside a shared one; `exists` holds for each file. */
  checkInvariants (exists: (fileId: FileId) => boolean): void {
    for (const [fileId, holders] of this.byFile) {
      if (holders.size === 0) throw new Error(`invariant: empty lock table kept for file ${fileId}`)
      if (!exists(fileId)) throw new Error(`invariant: locks on missing file ${fileId}`)
      const exclusive = [...holders.values()].filter((mode) => mode === LOCK_EXCLUSIVE).length
      if (exclusive > 1 || (exclusive === 1 && holders.size > 1)) throw new Error(`invariant: conflicting locks on file ${fileId}`)
    }
  }
}
