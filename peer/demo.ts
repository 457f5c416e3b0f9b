// `swarmfs demo`: a working swarmfs in one command. It creates a throwaway data directory, starts a
// peer daemon as a child process with its mount under DIR, prints what to try, and on Ctrl-C stops the
// daemon (which unmounts) and removes everything it created.
import { spawn } from 'node:child_process'
import { mkdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url))
const MOUNT_WAIT_MS = 20_000

async function isMounted (mountpoint: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8')
  return mounts.split('\n').some((line) => line.split(' ')[1] === mountpoint)
}

async function runCli (args: string[]): Promise<void> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: 'inherit' })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`swarmfs ${args[0]} failed`)
}

export async function demo (directory: string): Promise<number> {
  const root = path.resolve(directory)
  const data = path.join(root, 'peer-1')
  const mountpoint = path.join(root, 'mnt')
  await rm(data, { recursive: true, force: true })
  await mkdir(mountpoint, { recursive: true })
  await runCli(['init', '--data', data])
  const daemon = spawn(process.execPath, [CLI, 'up', '--data', data, '--mount', mountpoint], { stdio: ['ignore', 'inherit', 'inherit'] })
  const exited = new Promise<number | null>((resolve) => daemon.once('exit', resolve))
  const deadline = Date.now() + MOUNT_WAIT_MS
  while (!(await isMounted(mountpoint))) {
    if (daemon.exitCode !== null || Date.now() > deadline) throw new Error('the demo peer did not come up')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  console.log(`
swarmfs is mounted at ${mountpoint} (data in ${data}). Try, in another terminal:

  cd ${mountpoint}
  echo hello > hello.txt && cat hello.txt
  cp -a /usr/share/doc/git . && du -sh git && find git | wc -l
  sqlite3 test.db 'create table t(x); insert into t values (42); select * from t'
  node ${CLI} status --data ${data}

Press Ctrl-C to stop: the peer unmounts and the demo removes ${root}.
`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
    daemon.once('exit', () => resolve())
  })
  if (daemon.exitCode === null) daemon.kill('SIGTERM')
  const code = await exited
  await rm(root, { recursive: true, force: true })
  console.log(code === 0 ? 'demo stopped; nothing left mounted or running' : `the peer exited with ${String(code)}`)
  return code === 0 ? 0 : 1
}
