// The mount helper as mount(8) would run it (`mount -t fuse.swarmfs DATA MNT -o …` execs
// /sbin/mount.fuse.swarmfs DATA MNT -o …; here the helper is run directly instead of being installed):
// it returns once MNT is mounted by a daemon of its own that logs to DATA/swarmfs.log and takes its
// settings from -o and DATA/swarmfs.conf; the mount works; `umount MNT` stops the daemon. A daemon
// that cannot start makes the helper fail with mount's failure code and the end of the log.
import test from 'brittle'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { DAEMON_NODE_FLAGS } from '../../peer/node-flags.js'
import { CLI, run, sh, tempDirectory } from '../helpers/peer.js'

const HELPER = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../peer/mount-helper.js')
const STOP_WAIT_MS = 60_000

async function mounted (mountpoint: string): Promise<boolean> {
  return (await readFile('/proc/self/mounts', 'utf8')).split('\n').some((line) => line.split(' ')[1] === mountpoint && line.split(' ')[2] === 'fuse.swarmfs')
}

function running (pid: number): Promise<boolean> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((status) => !/^State:\s+Z/m.test(status), () => false)
}

test('mount.fuse.swarmfs mounts a configured peer in the background, and umount stops it', async (t) => {
  const base = await tempDirectory()
  const data = path.join(base, 'data')
  const mnt = path.join(base, 'mnt')
  let pid = 0
  t.teardown(async () => {
    if (pid !== 0 && await running(pid)) process.kill(pid, 'SIGKILL')
    if (await mounted(mnt)) await sh(`fusermount -uz ${mnt}`)
    await sh(`rm -rf ${base}`)
  })
  await mkdir(mnt)
  await run(`node ${CLI} init --data ${data}`)
  await writeFile(path.join(data, 'swarmfs.conf'), '# settings for this peer\nlog-level = debug\n')

  const helper = await sh(`node ${HELPER} ${data} ${mnt} -o rw,defaults,_netdev,cache_mb=16`, { timeoutMs: 180_000 })
  t.is(helper.code, 0, `the helper exits 0 ${helper.stderr}`)
  t.ok(await mounted(mnt), 'and MNT is mounted when it returns')
  await run(`echo hello through fstab > ${mnt}/greeting && mkdir ${mnt}/dir`)
  t.is((await run(`cat ${mnt}/greeting`)).trim(), 'hello through fstab', 'the mount works')

  const status = JSON.parse(await run(`node ${CLI} status --data ${data} --json`)) as { pid: number, mountpoint: string, chunks: { cache: { bytesMax: number } } }
  pid = status.pid
  t.is(status.mountpoint, mnt, 'a daemon runs on DATA')
  t.is(status.chunks.cache.bytesMax, 16 * 1024 * 1024, 'with the cache size from -o cache_mb')
  const commandLine = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
  t.ok(DAEMON_NODE_FLAGS.every((flag) => commandLine.includes(flag)), `and with ${DAEMON_NODE_FLAGS.join(' ')}`)
  const log = await readFile(path.join(data, 'swarmfs.log'), 'utf8')
  t.ok(log.includes('event=daemon.mounted'), 'it logs to DATA/swarmfs.log')
  t.ok(/event=setting key=log-level from=".*swarmfs\.conf line 2"/.test(log), 'log-level came from DATA/swarmfs.conf')

  t.is((await sh(`umount ${mnt}`)).code, 0, 'umount succeeds')
  const deadline = Date.now() + STOP_WAIT_MS
  while (await running(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
  t.absent(await running(pid), 'the daemon stops after umount')
  const after = await readFile(path.join(data, 'swarmfs.log'), 'utf8')
  t.ok(after.includes('event=daemon.unmounted_from_outside') && after.includes('event=daemon.stopped'), 'and says so in its log')

  const again = await sh(`node ${HELPER} ${data} ${mnt}`, { timeoutMs: 180_000 })
  t.is(again.code, 0, 'mounting again works (the data survived)')
  t.is((await run(`cat ${mnt}/greeting`)).trim(), 'hello through fstab')
  pid = (JSON.parse(await run(`node ${CLI} status --data ${data} --json`)) as { pid: number }).pid
  await run(`umount ${mnt}`)
  const secondDeadline = Date.now() + STOP_WAIT_MS
  while (await running(pid) && Date.now() < secondDeadline) await new Promise((resolve) => setTimeout(resolve, 200))
  t.absent(await running(pid), 'stopped again')
})

test('mount.fuse.swarmfs fails clearly: a daemon that cannot start, bad options, --help', async (t) => {
  const base = await tempDirectory()
  t.teardown(async () => { await sh(`rm -rf ${base}`) })
  const data = path.join(base, 'data')
  await run(`node ${CLI} init --data ${data}`)
  const missing = await sh(`node ${HELPER} ${data} ${base}/nowhere`, { timeoutMs: 180_000 })
  t.is(missing.code, 32, 'mount(8)\'s failure code')
  t.ok(missing.stderr.includes('does not exist (create it: mkdir -p'), 'with the end of the daemon\'s log')
  const bad = await sh(`node ${HELPER} ${data} ${base} -o cache_mbb=5`)
  t.is(bad.code, 1, 'an unknown option is a usage error')
  t.ok(bad.stderr.includes("unknown option 'cache_mbb=5'"))
  const help = await sh(`node ${HELPER} --help`)
  t.is(help.code, 0)
  t.ok(help.stdout.startsWith('Usage: mount.fuse.swarmfs'))
})
