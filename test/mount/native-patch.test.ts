// Proves swarmfs's fuse-native patch (native/patches) is in effect, through behaviour the unpatched
// fuse-native 2.2.6 cannot produce: it loses mtime in utimens (atime passed twice) and libfuse2 skips
// utimens for touch -a/-m without utime_omit_ok; it rounds every time to milliseconds; it never tells
// the caller's uid/gid (so files a user creates would belong to the daemon, root); and it crashes or
// fails on the null path libfuse2 hands over for an unlinked-but-open file. The patch also lets create
// answer the fgetattr libfuse2 sends right after it: those attributes must be the new file's, and must
// serve only that one fgetattr (later ones see later writes). libfuse2 ends a worker thread once more
// than 10 are idle and starts new ones at the next burst: the binding must hand an exited thread's state
// on to the next thread, not allocate one more that nothing frees (the unpatched binding does).
import path from 'node:path'
import test from 'brittle'
import { NOBODY, fieldOf, probe, q, shOk, startPeer, valueOf } from '../helpers/mount.js'
import { CLI, sh } from '../helpers/peer.js'

const T = { timeout: 120_000 }

test('the loaded fuse-native binding is the patched build', T, async (t) => {
  const out = await shOk(t, `cd ${q(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..'))} && node -e "const d = require('path').dirname(require.resolve('fuse-native/package.json')); const b = require('node-gyp-build')(d); console.log(b.swarmfs_patch, typeof b.offsetof_fuse_thread_locals_t_caller_uid)"`, 'load the binding in a child')
  t.is(out, '8 number\n', 'swarmfs_patch = 8 and caller offsets exported')
})

test('patched behaviour on a real mount: independent ns atime/mtime, caller ownership, fstat of an unlinked open file', T, async (t) => {
  const peer = await startPeer(t, { allowOther: true })
  const m = peer.mountpoint
  await shOk(t, `chmod 755 ${q(path.dirname(m))} ${q(m)} && mkdir -m 777 ${m}/pub && chmod 777 ${m}/pub && echo x > ${m}/f`, 'fixture')

  // utimens: mtime not lost, UTIME_OMIT honoured, nanoseconds kept.
  await shOk(t, `TZ=UTC touch -d '2004-04-04 04:04:04.444444444' ${m}/f && TZ=UTC touch -a -d '2005-05-05 05:05:05.555555555' ${m}/f`, 'touch -d, then touch -a -d')
  t.is(await shOk(t, `TZ=UTC stat -c '%x|%y' ${m}/f | sed 's/ +0000//g'`, 'stat'), '2005-05-05 05:05:05.555555555|2004-04-04 04:04:04.444444444\n', 'atime set alone; mtime kept with ns (unpatched: mtime = atime or unchanged, ms only)')
  await shOk(t, `TZ=UTC touch -m -d '2006-06-06 06:06:06.666666666' ${m}/f`, 'touch -m -d')
  t.is(await shOk(t, `TZ=UTC stat -c '%x|%y' ${m}/f | sed 's/ +0000//g'`, 'stat'), '2005-05-05 05:05:05.555555555|2006-06-06 06:06:06.666666666\n', 'mtime set alone; atime kept')

  // Nanosecond times of ordinary files: with ms rounding every ns field would end in 000000.
  await shOk(t, `for i in 1 2 3 4 5; do echo $i > ${m}/t$i; done`, 'five new files')
  const subMs = await shOk(t, `stat -c '%.9Y %.9Z' ${m}/t1 ${m}/t2 ${m}/t3 ${m}/t4 ${m}/t5 | tr ' ' '\\n' | grep -vc '000000$' || true`, 'stat ns')
  t.ok(Number(subMs.trim()) > 0, `file times carry sub-millisecond digits (${subMs.trim()} of 10)`)

  // Caller uid/gid: a non-root user's new entries are its own.
  await shOk(t, `setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups bash -c 'echo n > ${m}/pub/file && mkdir ${m}/pub/dir && ln -s file ${m}/pub/sym && mknod ${m}/pub/fifo p'`, 'nobody creates entries')
  t.is(await shOk(t, `stat -c '%u:%g' ${m}/pub/file ${m}/pub/dir ${m}/pub/sym ${m}/pub/fifo | sort -u`, 'stat owners'), '65534:65534\n', 'all owned by 65534 (unpatched: 0:0)')

  // Null path of an unlinked open file: the daemon must survive and serve it by fd.
  const r = await probe([['open', `${m}/u`, 'w+'], ['write', '$0', 'abc', 0], ['unlink', `${m}/u`], ['fstat', '$0'], ['read', '$0', 10, 0], ['write', '$0', 'de', 3], ['fstat', '$0'], ['close', '$0']])
  t.is(valueOf(r[4]), 'abc', 'read through the fd after unlink')
  t.is(valueOf(r[5]), 2, 'write through the fd after unlink')
  t.is(fieldOf(r[3], 'nlink'), '0', 'fstat after unlink answers, nlink 0')
  t.is(fieldOf(r[6], 'size'), '5', 'fstat after unlink sees the new size')
  t.ok(peer.process !== null && peer.process.exitCode === null, 'the daemon is still running')
  const still = await sh(`cat ${m}/f > /dev/null && echo alive`)
  t.is(still.stdout, 'alive\n', 'the mount still answers')
})

test('create answers the fgetattr that follows it with the new file\'s attributes, and only that one', T, async (t) => {
  const peer = await startPeer(t, { allowOther: true })
  const m = peer.mountpoint
  await shOk(t, `chmod 755 ${q(path.dirname(m))} ${q(m)} && mkdir -m 777 ${m}/pub && chmod 777 ${m}/pub`, 'fixture')
  const steps = (file: string): Array<[string, ...unknown[]]> => [['open', file, 'wx', 0o640], ['fstat', '$0'], ['write', '$0', 'hello'], ['fstat', '$0'], ['close', '$0'], ['stat', file]]
  for (const [who, uid] of [['root', undefined], ['nobody', NOBODY]] as const) {
    const file = `${m}/pub/new-${who}`
    const r = await probe(steps(file), uid === undefined ? {} : { uid })
    t.is(typeof valueOf(r[0]), 'number', `${who}: created`)
    t.is(fieldOf(r[1], 'mode'), String(0o100640), `${who}: fstat after create has the mode`)
    t.is(fieldOf(r[1], 'uid'), String(uid ?? 0), `${who}: and the caller as owner`)
    t.is(fieldOf(r[1], 'size'), '0', `${who}: and size 0`)
    t.is(fieldOf(r[3], 'size'), '5', `${who}: a later fstat sees the write`)
    t.is(fieldOf(r[5], 'size'), '5', `${who}: so does stat after close`)
  }
})

test('FUSE threads that libfuse2 ends and starts again reuse their states instead of piling up', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `for i in 1 2 3 4 5 6; do head -c 8388608 /dev/urandom > ${m}/f$i; done`, 'six files of 8 MiB')
  let threads = { started: 0, states: 0 }
  for (let round = 0; round < 6; round++) {
    // Six cold readers at once, each with 1 MiB of kernel read-ahead in flight: dozens of threads,
    // most of which libfuse2 ends again once the burst is over.
    await shOk(t, `sync; echo 1 > /proc/sys/vm/drop_caches; for i in 1 2 3 4 5 6; do cat ${m}/f$i > /dev/null & done; wait`, `round ${round}: parallel cold reads`)
    threads = (JSON.parse((await sh(`node ${CLI} status --data ${peer.data} --json`)).stdout) as { fuseThreads: { started: number, states: number } }).fuseThreads
    t.comment(`round ${round}: ${threads.started} threads started, ${threads.states} states`)
  }
  t.ok(threads.started > threads.states, 'threads started later took over the states of ended ones (unpatched: one new state per thread)')
})
