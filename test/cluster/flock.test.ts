// flock(2) across a 3-peer cluster, through util-linux's flock(1) on three mounts: an exclusive lock
// on one peer excludes shared and exclusive requests on the others, shared locks coexist, a blocked
// request gets the lock once the holder lets go (never before), a holder killed with -9 lets go, a
// waiter killed with -9 exits at once while the lock is still held (its command never runs), and a
// peer whose daemon crashed drops its locks when it starts again.
import { rm } from 'node:fs/promises'
import path from 'node:path'
import test from 'brittle'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'
import { sh, tempDirectory } from '../helpers/peer.js'

/** Waits until `condition` holds (checked every 100 ms), failing after `ms`. */
async function until (condition: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

test('flock across peers: exclusion, sharing, waiting, killed holders and waiters, a crashed peer', failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(3)
  t.teardown(async () => await cluster.destroy(), { force: true })
  const [a, b, c] = cluster.peers as [ClusterPeer, ClusterPeer, ClusterPeer]
  const marks = await tempDirectory() // on the local disk: markers the lock holders leave
  t.teardown(async () => { await rm(marks, { recursive: true, force: true }) })
  const mark = (name: string): string => path.join(marks, name)
  const exists = async (name: string): Promise<boolean> => (await sh(`test -e ${mark(name)}`)).code === 0
  const file = (peer: ClusterPeer): string => path.join(peer.mountpoint, 'lock')
  /** Starts `flock ARGS lock -c SCRIPT` on `peer` in the background, in a process group of its own; resolves with its id. */
  const hold = async (peer: ClusterPeer, args: string, script: string): Promise<number> => {
    const started = await sh(`setsid flock ${args} ${file(peer)} -c '${script}' >/dev/null 2>&1 & echo $!`)
    return Number(started.stdout.trim())
  }
  const tryLock = async (peer: ClusterPeer, args: string): Promise<number> => (await sh(`flock -n ${args} ${file(peer)} true`)).code
  /** kill -9 of flock and everything it started (its script inherits the locked descriptor). */
  const killTree = async (group: number): Promise<void> => { await sh(`kill -9 -- -${group} 2>/dev/null; true`) }
  /** Whether process `pid` still runs (a zombie waiting to be reaped does not). */
  const alive = async (pid: number): Promise<boolean> => (await sh(`test -e /proc/${pid} && ! grep -q '^State:.*Z' /proc/${pid}/status`)).code === 0

  t.is((await a.sh('echo x > lock')).code, 0, 'the file to lock')
  await until(async () => (await sh(`test -e ${file(c)}`)).code === 0, 'the file on every peer')

  await hold(a, '-x', `touch ${mark('held')}; sleep 3; touch ${mark('released')}`)
  await until(async () => await exists('held'), 'A to hold the lock')
  t.is(await tryLock(b, '-x'), 1, 'B: exclusive refused while A holds it exclusively')
  t.is(await tryLock(c, '-s'), 1, 'C: shared refused too')
  const waited = await sh(`flock -x ${file(b)} -c 'test -e ${mark('released')}'`)
  t.is(waited.code, 0, 'B: a blocking request gets the lock, and only after A let go')
  t.is(await tryLock(c, '-x'), 0, 'C: free again')

  const sharer = await hold(a, '-s', `touch ${mark('shared')}; sleep 60`)
  await until(async () => await exists('shared'), 'A to share the lock')
  t.is(await tryLock(b, '-s'), 0, 'B: shared beside A\'s shared lock')
  t.is(await tryLock(c, '-x'), 1, 'C: exclusive refused while A shares')
  await killTree(sharer)
  await until(async () => await tryLock(c, '-x') === 0, 'A\'s lock to go with its killed holder')
  t.pass('a holder killed with -9 lets go: the last close drops its lock')

  await hold(a, '-x', `touch ${mark('held2')}; sleep 6; touch ${mark('released2')}`)
  await until(async () => await exists('held2'), 'A to hold the lock again')
  const waiter = await hold(b, '-x', `touch ${mark('taken-by-killed-waiter')}`)
  await new Promise((resolve) => setTimeout(resolve, 500)) // B's request is waiting now
  t.ok(await alive(waiter), 'B: a blocking request waits while A holds the lock')
  await killTree(waiter)
  await until(async () => !(await alive(waiter)), 'the killed waiter to exit', 3000)
  t.absent(await exists('released2'), 'a waiter killed with -9 exits at once, while A still holds the lock')
  await until(async () => await exists('released2'), 'A to let go')
  await until(async () => await tryLock(c, '-x') === 0, 'the lock to be free after A let go')
  t.is(await tryLock(c, '-x'), 0, 'C: free, the killed waiter took nothing')
  t.absent(await exists('taken-by-killed-waiter'), 'and its command never ran')

  const crashedHolder = await hold(a, '-x', `touch ${mark('held3')}; sleep 600`)
  await until(async () => await exists('held3'), 'A to hold the lock before its crash')
  await a.crash()
  await killTree(crashedHolder)
  t.is(await tryLock(b, '-x'), 1, 'B: A\'s lock outlives A\'s crash while A is down (as NFS locks do)')
  await a.start()
  await until(async () => await tryLock(b, '-x') === 0, 'A\'s locks to go when A starts again')
  t.pass('a crashed peer drops its locks when it starts again')
}))
