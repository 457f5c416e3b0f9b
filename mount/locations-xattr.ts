// `user.swarmfs.locations`: a read-only virtual extended attribute telling which peers hold each chunk
// of a file, one line per chunk: "<chunk index> <chunk id> <peer>,<peer>,…". Like CephFS's layout
// xattrs it is not listed, so `cp -a` and `rsync -X` don't copy it to other filesystems.
import type { Inode } from '../metadata/fs/inode.js'
import type { FsState } from '../metadata/fs/state.js'

export const LOCATIONS_XATTR = 'user.swarmfs.locations'

export function isVirtualXattr (name: string): boolean {
  return name.startsWith('user.swarmfs.')
}

export function locationsOf (state: FsState, inode: Inode): Buffer {
  const lines = inode.chunks.map((ref, index) => {
    if (ref === null) return `${index} hole -`
    const key = ref.id.toString('hex')
    const holders = state.holdersOf(key)
    return `${index} ${key} ${holders.length === 0 ? 'local' : holders.join(',')}`
  })
  return Buffer.from(lines.join('\n') + (lines.length > 0 ? '\n' : ''))
}
