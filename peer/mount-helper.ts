#!/usr/bin/env node
// mount.fuse.swarmfs: the helper mount(8) runs for `mount -t fuse.swarmfs DATA MNT` and for fstab lines
// of type fuse.swarmfs. It starts `swarmfs up --data DATA --mount MNT …` as a daemon of its own (new
// session, output appended to DATA/swarmfs.log) and returns once MNT is mounted, or fails with the tail
// of the log when the daemon exits first or does not mount in time. `umount MNT` stops the daemon.
// Install: ln -s "$(command -v mount.fuse.swarmfs)" /sbin/mount.fuse.swarmfs
import { spawn } from 'node:child_process'
import { open, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isSwarmfsMounted } from '../native/mount-table.js'
import { MOUNT_USAGE, MountUsageError, parseMountArguments } from './mount-options.js'
import { DAEMON_NODE_FLAGS } from './node-flags.js'

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url))
const LOG_FILE_NAME = 'swarmfs.log'
/** A joining peer mounts only once the cluster has admitted it and sent it the metadata. */
const MOUNT_WAIT_MS = 120_000
const LOG_TAIL_LINES = 20
// mount(8)'s conventions for helpers.
const EXIT_USAGE = 1
const EXIT_MOUNT_FAILURE = 32

async function logTail (file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text.trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n')
}

async function main (argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(MOUNT_USAGE)
    return 0
  }
  const request = parseMountArguments(argv)
  const data = path.resolve(request.data)
  const mountpoint = path.resolve(request.mountpoint)
  const logFile = path.resolve(request.logFile ?? path.join(data, LOG_FILE_NAME))
  const args = [...DAEMON_NODE_FLAGS, CLI, 'up', '--data', data, '--mount', mountpoint, ...request.flags]
  if (request.verbose) {
    console.error(`mount.fuse.swarmfs: ${process.execPath} ${args.join(' ')} >> ${logFile} 2>&1`)
    if (request.ignored.length > 0) console.error(`mount.fuse.swarmfs: ignored options: ${request.ignored.join(',')}`)
  }
  if (await isSwarmfsMounted(mountpoint)) {
    console.error(`mount.fuse.swarmfs: ${mountpoint} is already a swarmfs mount`)
    return EXIT_MOUNT_FAILURE
  }
  if (request.fake) return 0
  const log = await open(logFile, 'a', 0o600).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot open the log file ${logFile} (${error.code ?? error.message}); does ${data} exist?`)
  })
  // A session of its own: the daemon outlives this helper and is not hit by its terminal's signals.
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', log.fd, log.fd] })
  await log.close()
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let exitCode: number | null | undefined
  void exited.then((code) => { exitCode = code })
  const deadline = Date.now() + MOUNT_WAIT_MS
  while (!(await isSwarmfsMounted(mountpoint))) {
    if (exitCode !== undefined) {
      console.error(`mount.fuse.swarmfs: the daemon exited with ${String(exitCode)} before mounting ${mountpoint}; ${logFile} ends with:\n${await logTail(logFile)}`)
      return EXIT_MOUNT_FAILURE
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM')
      console.error(`mount.fuse.swarmfs: ${mountpoint} was not mounted within ${MOUNT_WAIT_MS / 1000} s; stopped the daemon; ${logFile} ends with:\n${await logTail(logFile)}`)
      return EXIT_MOUNT_FAILURE
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.unref()
  if (request.verbose) console.error(`mount.fuse.swarmfs: mounted ${mountpoint} (daemon pid ${String(child.pid)}, log ${logFile})`)
  return 0
}

main(process.argv.slice(2)).then((code) => { process.exit(code) }, (error: unknown) => {
  if (error instanceof MountUsageError) {
    console.error(`mount.fuse.swarmfs: ${error.message}\n\n${MOUNT_USAGE}`)
    process.exit(EXIT_USAGE)
  }
  console.error(`mount.fuse.swarmfs: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(EXIT_MOUNT_FAILURE)
})
