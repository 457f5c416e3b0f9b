// Which operations may run at once: each declares the paths it changes (exclusive) and the directories
// it needs to stay put (shared). Two operations conflict when they hold the same path and one holds it
// exclusively, or one holds an ancestor of the other's path exclusively (a directory being renamed or
// removed). So concurrent operations never touch the same path, and the model is updated in the same
// order the filesystem applied them.
import { isWithin } from './paths.js'

export interface PathLock {
  path: string
  exclusive: boolean
}

export function exclusive (path: string): PathLock {
  return { path, exclusive: true }
}

export function shared (path: string): PathLock {
  return { path, exclusive: false }
}

function conflicts (a: PathLock, b: PathLock): boolean {
  if (a.path === b.path) return a.exclusive || b.exclusive
  if (isWithin(b.path, a.path)) return a.exclusive
  if (isWithin(a.path, b.path)) return b.exclusive
  return false
}

export class PathLocks {
  private readonly held = new Set<PathLock[]>()

  /** Takes all of `locks` or none. */
  tryAcquire (locks: PathLock[]): boolean {
    for (const other of this.held) {
      if (locks.some((lock) => other.some((taken) => conflicts(lock, taken)))) return false
    }
    this.held.add(locks)
    return true
  }

  release (locks: PathLock[]): void {
    this.held.delete(locks)
  }
}
