// The file type this mount last answered for each path. libfuse2 keeps one kernel inode per name for
// as long as the kernel caches the name (entry_timeout), so when another peer replaces a name with one
// of another type (a directory by a file, say), the kernel's next getattr of that inode sees its type
// change and fails with EIO. Answering ESTALE instead makes the kernel look the path up afresh (a new
// inode) and retry the call, as for NFS. This mount's own changes to a name forget it first: the
// kernel knows about those, and libfuse2 follows each with a getattr that must not fail.
import { LRUCache } from 'lru-cache'

/** Paths remembered; one evicted costs nothing worse than the EIO it would have saved. */
const PATHS_MAX = 65_536

export class NameTypes {
  private readonly types = new LRUCache<string, number>({ max: PATHS_MAX })

  /** Records `type` as the one answered for `path`; whether another type was answered before. */
  changed (path: string, type: number): boolean {
    const before = this.types.get(path)
    this.types.set(path, type)
    return before !== undefined && before !== type
  }

  forget (path: string): void {
    this.types.delete(path)
  }
}
