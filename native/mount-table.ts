// Whether a directory is a swarmfs mount point right now, read from the kernel's mount table
// (/proc/self/mounts): the daemon notices an `umount` from outside, the demo and the mount helper wait
// for a mount to appear. The table escapes space, tab, newline and backslash as octal (\040 …).
import { readFile } from 'node:fs/promises'
import path from 'node:path'

export const SWARMFS_MOUNT_TYPE = 'fuse.swarmfs'

/** The path as /proc/self/mounts writes it. */
export function escapeMountPath (mountpoint: string): string {
  return mountpoint.replace(/[\\ \t\n]/g, (character) => '\\' + character.charCodeAt(0).toString(8).padStart(3, '0'))
}

/** True if `table` (the text of /proc/self/mounts) lists a swarmfs mount at `mountpoint`. Pure. */
export function tableHasMount (table: string, mountpoint: string): boolean {
  const escaped = escapeMountPath(path.resolve(mountpoint))
  return table.split('\n').some((line) => {
    const fields = line.split(' ')
    return fields[1] === escaped && fields[2] === SWARMFS_MOUNT_TYPE
  })
}

export async function isSwarmfsMounted (mountpoint: string): Promise<boolean> {
  return tableHasMount(await readFile('/proc/self/mounts', 'utf8'), mountpoint)
}
