// fuse-native's high-level API speaks paths; metadata speaks file_ids. Resolution walks the locally
// applied directory entries (in memory), so it costs a few map lookups and never a round trip. Given a
// subject, it also checks search permission on every directory it passes (see permissions.ts).
import { Errno, FsError } from '../native/errno.js'
import type { FileId } from '../metadata/fs/inode.js'
import { NAME_BYTES_MAX, ROOT_ID, isDirectory } from '../metadata/fs/inode.js'
import type { FsState } from '../metadata/fs/state.js'
import { MAY_EXEC, check } from './permissions.js'
import type { Subject } from './permissions.js'

export interface ParentAndName {
  parent: FileId
  name: string
}

/** The file_id at `path`, or FsError ENOENT / ENOTDIR / ENAMETOOLONG / EACCES (a directory on the way not searchable). */
export function resolve (state: FsState, path: string, subject?: Subject): FileId {
  return walk(state, components(path), subject)
}

/** The directory that holds (or would hold) the last component of `path`, and that component. */
export function resolveParent (state: FsState, path: string, subject?: Subject): ParentAndName {
  const names = components(path)
  const name = names.pop()
  if (name === undefined) throw new FsError(Errno.EBUSY) // the root itself
  const parent = walk(state, names, subject)
  if (!isDirectory(state.get(parent)!)) throw new FsError(Errno.ENOTDIR)
  return { parent, name }
}

function walk (state: FsState, names: string[], subject: Subject | undefined): FileId {
  let current = ROOT_ID
  for (const name of names) {
    const directory = state.get(current)
    if (directory === undefined) throw new FsError(Errno.ENOENT)
    if (!isDirectory(directory)) throw new FsError(Errno.ENOTDIR)
    if (subject !== undefined) check(directory, subject, MAY_EXEC)
    const child = state.lookup(current, name)
    if (child === undefined) throw new FsError(Errno.ENOENT)
    current = child
  }
  return current
}

function components (path: string): string[] {
  const names = path.split('/').filter((name) => name !== '')
  for (const name of names) if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw new FsError(Errno.ENAMETOOLONG)
  return names
}
