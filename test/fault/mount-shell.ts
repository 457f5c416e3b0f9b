// Shell commands on a peer's mount. A peer killed a moment ago leaves a bare directory where its mount
// was, and a command started there would write to the local disk and "succeed"; so every command first
// checks that its working directory is the FUSE mount. Once there, it stays on that mount: if the
// daemon dies, the command's calls fail (ENOTCONN) instead of falling through to the directory.
import type { ClusterPeer } from '../helpers/cluster.js'
import type { ShellResult } from '../helpers/peer.js'

/** The exit code of a command that never ran: no mount under it, or none to enter at all. */
export const NOT_ON_MOUNT_EXIT = 97

export async function onMount (peer: ClusterPeer, command: string, timeoutMs: number): Promise<ShellResult> {
  const guard = `[ "$(stat -f -c %T . 2>/dev/null)" = fuseblk ] || { echo 'not on the mount' >&2; exit ${NOT_ON_MOUNT_EXIT}; }`
  try {
    return await peer.sh(`${guard}\n${command}`, timeoutMs)
  } catch (error) {
    // spawn throws when it can't even enter the working directory: a mount aborted by a kill (ECONNABORTED).
    return { code: NOT_ON_MOUNT_EXIT, stdout: '', stderr: `could not start on the mount: ${(error as Error).message}` }
  }
}
