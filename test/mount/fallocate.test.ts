// fallocate(2): what each mode does to a file's size and bytes (planFallocate, pure), then the same on a
// real mount through util-linux's `fallocate` and Python's posix_fallocate, with the errors Linux users
// know (EOPNOTSUPP for collapse, ENOSPC past the disk), and the bytes intact after a restart. The
// unpatched fuse-native has no fallocate at all: every mode fails with EOPNOTSUPP there.
import path from 'node:path'
import test from 'brittle'
import { Errno, FsError } from '../../native/errno.js'
import { FALLOC_FL_KEEP_SIZE as KEEP, FALLOC_FL_PUNCH_HOLE as PUNCH, FALLOC_FL_ZERO_RANGE as ZERO, planFallocate } from '../../mount/fallocate.js'
import { q, shOk, startPeer } from '../helpers/mount.js'
import { sh } from '../helpers/peer.js'

const MIB = 1024 * 1024

function errnoOf (run: () => unknown): number | null {
  try {
    run()
    return null
  } catch (error) {
    return error instanceof FsError ? error.errno : -1
  }
}

test('planFallocate: allocation grows the size unless KEEP_SIZE; punch and zero clear bytes inside the file only', (t) => {
  t.alike(planFallocate(0, 100, 50, 1000), { zeroFrom: 0, zeroTo: 0, newSize: null, allocatedBytes: 0 }, 'inside the file: nothing to do')
  t.alike(planFallocate(0, 900, 500, 1000), { zeroFrom: 0, zeroTo: 0, newSize: 1400, allocatedBytes: 400 }, 'across the end: grows')
  t.alike(planFallocate(0, 5000, 100, 1000), { zeroFrom: 0, zeroTo: 0, newSize: 5100, allocatedBytes: 100 }, 'past the end: grows, the gap reads zeros')
  t.alike(planFallocate(KEEP, 900, 500, 1000), { zeroFrom: 0, zeroTo: 0, newSize: null, allocatedBytes: 400 }, 'KEEP_SIZE: room checked, size kept')
  t.alike(planFallocate(PUNCH | KEEP, 100, 50, 1000), { zeroFrom: 100, zeroTo: 150, newSize: null, allocatedBytes: 0 }, 'punch inside')
  t.alike(planFallocate(PUNCH | KEEP, 900, 500, 1000), { zeroFrom: 900, zeroTo: 1000, newSize: null, allocatedBytes: 0 }, 'punch across the end stops there')
  t.alike(planFallocate(PUNCH | KEEP, 2000, 500, 1000), { zeroFrom: 2000, zeroTo: 1000, newSize: null, allocatedBytes: 0 }, 'punch past the end: nothing')
  t.alike(planFallocate(ZERO, 900, 500, 1000), { zeroFrom: 900, zeroTo: 1000, newSize: 1400, allocatedBytes: 400 }, 'zero range across the end: zeros, then grows')
  t.alike(planFallocate(ZERO | KEEP, 900, 500, 1000), { zeroFrom: 900, zeroTo: 1000, newSize: null, allocatedBytes: 400 }, 'zero range with KEEP_SIZE')

  t.is(errnoOf(() => planFallocate(PUNCH, 0, 10, 100)), Errno.EOPNOTSUPP, 'punch without KEEP_SIZE')
  t.is(errnoOf(() => planFallocate(PUNCH | ZERO | KEEP, 0, 10, 100)), Errno.EOPNOTSUPP, 'punch and zero at once')
  t.is(errnoOf(() => planFallocate(0x08, 0, 4096, 8192)), Errno.EOPNOTSUPP, 'collapse range')
  t.is(errnoOf(() => planFallocate(0x20, 0, 4096, 8192)), Errno.EOPNOTSUPP, 'insert range')
  t.is(errnoOf(() => planFallocate(0, 0, 0, 100)), Errno.EINVAL, 'zero length')
  t.is(errnoOf(() => planFallocate(0, -1, 10, 100)), Errno.EINVAL, 'negative offset')
  t.is(errnoOf(() => planFallocate(0, 2 ** 50, 1, 0)), Errno.EFBIG, 'past the largest file')
})

test('fallocate on a real mount: allocate, keep size, punch, zero range, posix_fallocate; errors; bytes kept over a restart', { timeout: 180_000 }, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  const local = path.join(path.dirname(m), 'fallocate-expected') // on the local disk, beside the mount
  const size = async (file: string): Promise<number> => Number(await shOk(t, `stat -c %s ${q(file)}`, 'stat'))

  await shOk(t, `fallocate -l ${10 * MIB} ${m}/allocated`, 'fallocate -l 10M')
  t.is(await size(`${m}/allocated`), 10 * MIB, 'a new file takes the allocated size')
  await shOk(t, `cmp -n ${10 * MIB} ${m}/allocated /dev/zero`, 'and reads zeros')
  await shOk(t, `fallocate -n -l ${20 * MIB} ${m}/allocated`, 'fallocate -n (keep size)')
  t.is(await size(`${m}/allocated`), 10 * MIB, 'KEEP_SIZE leaves the size alone')

  // A file of random bytes over three chunks; the expected result is built beside it on the local disk.
  await shOk(t, `head -c ${9 * MIB + 12345} /dev/urandom > ${q(local)} && cp ${q(local)} ${m}/data`, 'a 9 MiB file')
  const mtimeBefore = await shOk(t, `stat -c %.9Y ${m}/data`, 'mtime')
  await shOk(t, `fallocate -p -o 4000 -l ${5 * MIB} ${m}/data && fallocate -p -o ${9 * MIB} -l ${MIB} ${m}/data`, 'punch two holes, one across the end')
  await shOk(t, `fallocate -z -o ${8 * MIB + 7} -l ${2 * MIB} ${m}/data`, 'zero a range across the end (grows the file)')
  await shOk(t, `fallocate -z -n -o 100 -l 200 ${m}/data`, 'zero a range with -n')
  await shOk(t, `python3 -c ${q(`
import os
p = ${JSON.stringify(local)}
d = bytearray(open(p, 'rb').read())
def zero(a, b): d[a:min(b, len(d))] = bytes(max(0, min(b, len(d)) - a))
zero(4000, 4000 + ${5 * MIB}); zero(${9 * MIB}, ${10 * MIB}); zero(${8 * MIB + 7}, ${10 * MIB + 7})
d.extend(bytes(${10 * MIB + 7} - len(d))); zero(100, 300)
open(p, 'wb').write(d)`)}`, 'the expected bytes')
  t.is(await size(`${m}/data`), 10 * MIB + 7, 'zero range without -n grew the file to its end')
  await shOk(t, `cmp ${m}/data ${q(local)}`, 'every byte as expected: holes zero, the rest untouched')
  t.not(await shOk(t, `stat -c %.9Y ${m}/data`, 'mtime'), mtimeBefore, 'punching changed mtime')

  const collapse = await sh(`fallocate -c -o 0 -l 65536 ${m}/data`)
  t.ok(collapse.code !== 0 && collapse.stderr.includes('Operation not supported'), `collapse range: EOPNOTSUPP (${collapse.stderr.trim()})`)
  const huge = await sh(`fallocate -l 100T ${m}/huge`)
  t.ok(huge.code !== 0 && huge.stderr.includes('No space left on device'), `100 TiB: ENOSPC (${huge.stderr.trim()})`)
  t.is(await size(`${m}/huge`), 0, 'and the file stays empty')
  t.is(await shOk(t, `python3 -c ${q(`import os; fd = os.open('${m}/posix', os.O_RDWR | os.O_CREAT); os.posix_fallocate(fd, 100, 5000); print(os.fstat(fd).st_size)`)}`, 'posix_fallocate'), '5100\n', 'posix_fallocate grows the file in one call')

  t.is(await peer.stop(), 0, 'the daemon stops cleanly')
  await peer.restart()
  await shOk(t, `cmp ${m}/data ${q(local)} && cmp -n ${10 * MIB} ${m}/allocated /dev/zero`, 'the same bytes after a restart')
  t.is(await size(`${m}/allocated`), 10 * MIB, 'and the same sizes')
  await sh(`rm -f ${q(local)}`)
})
