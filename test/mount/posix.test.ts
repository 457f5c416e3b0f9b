// POSIX semantics through a real mount, checked from child processes: exact errnos (errno-probe),
// times, link counts, attributes of hard links, unlinked-but-open files, xattrs, FIFOs, setgid
// directories and statfs.
import test from 'brittle'
import type { Test } from 'brittle'
import { errnoOf, fieldOf, lstat, okOf, probe, valueOf, python, q, shOk, startPeer, tick } from '../helpers/mount.js'
import type { ProbeStat, ProbeStep } from '../helpers/mount.js'
import { sh } from '../helpers/peer.js'

const T = { timeout: 120_000 }

/** Runs each [step, expected errno] pair as its own probe call, asserting the errno ('OK' for success). */
async function expectErrnos (t: Test, cases: Array<[ProbeStep, string]>): Promise<void> {
  const results = await probe(cases.map(([step]) => step))
  cases.forEach(([step, expected], i) => {
    t.is(errnoOf(results[i]), expected, `${step[0]}(${step.slice(1).map((arg) => String(arg).replace(/^.*\/mnt/, '')).join(', ')}) → ${expected}`)
  })
}

test('errnos: ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, EINVAL', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `mkdir -p ${m}/d/sub ${m}/empty && echo x > ${m}/f && echo y > ${m}/d/g`, 'fixture')
  await expectErrnos(t, [
    [['stat', `${m}/missing`], 'ENOENT'],
    [['open', `${m}/missing`, 'r'], 'ENOENT'],
    [['unlink', `${m}/missing`], 'ENOENT'],
    [['rmdir', `${m}/missing`], 'ENOENT'],
    [['mkdir', `${m}/missing/x`], 'ENOENT'],
    [['rename', `${m}/missing`, `${m}/other`], 'ENOENT'],
    [['link', `${m}/missing`, `${m}/other`], 'ENOENT'],
    [['open', `${m}/missing/x`, 'w'], 'ENOENT'],
    [['readlink', `${m}/missing`], 'ENOENT'],
    [['chmod', `${m}/missing`, 0o644], 'ENOENT'],
    [['mkdir', `${m}/d`], 'EEXIST'],
    [['mkdir', `${m}/f`], 'EEXIST'],
    [['open', `${m}/f`, 'wx'], 'EEXIST'],
    [['link', `${m}/f`, `${m}/d/g`], 'EEXIST'],
    [['symlink', 'anything', `${m}/f`], 'EEXIST'],
    [['rmdir', `${m}/d`], 'ENOTEMPTY'],
    [['rename', `${m}/empty`, `${m}/d`], 'ENOTEMPTY'],
    [['mkdir', `${m}/f/x`], 'ENOTDIR'],
    [['stat', `${m}/f/x`], 'ENOTDIR'],
    [['open', `${m}/f/x`, 'w'], 'ENOTDIR'],
    [['rmdir', `${m}/f`], 'ENOTDIR'],
    [['readdir', `${m}/f`], 'ENOTDIR'],
    [['rename', `${m}/empty`, `${m}/f`], 'ENOTDIR'],
    [['open', `${m}/d`, 'r+'], 'EISDIR'],
    [['open', `${m}/d`, 'w'], 'EISDIR'],
    [['rename', `${m}/f`, `${m}/d`], 'EISDIR'],
    [['unlink', `${m}/d`], 'EISDIR'],
    [['rename', `${m}/d`, `${m}/d/sub/inside`], 'EINVAL'],
    [['rename', `${m}/d`, `${m}/d/inside`], 'EINVAL'],
    [['readlink', `${m}/f`], 'EINVAL'],
    [['rmdir', `${m}/d/sub/.`], 'EINVAL']
  ])
  t.is(await shOk(t, `find ${m} | sort | sed 's|^${m}||'`, 'listing'), '\n/d\n/d/g\n/d/sub\n/empty\n/f\n', 'failed calls changed nothing')
  const rm = await sh(`rm ${m}/d 2>&1`)
  t.ok(rm.code !== 0 && rm.stdout.includes('Is a directory'), `rm of a directory fails: ${rm.stdout.trim()}`)
})

test('ENAMETOOLONG for a 256-byte name, 255 bytes work (ASCII and UTF-8)', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  const ok255 = 'a'.repeat(255)
  const long256 = 'b'.repeat(256)
  const utf255 = 'é'.repeat(127) + 'a' // 255 bytes
  const utf256 = 'é'.repeat(128) // 256 bytes
  await shOk(t, `echo x > ${m}/f && mkdir ${m}/d`, 'fixture')
  await expectErrnos(t, [
    [['writeFile', `${m}/${ok255}`, 'ok'], 'OK'],
    [['readFile', `${m}/${ok255}`], 'OK'],
    [['mkdir', `${m}/d/${ok255}`], 'OK'],
    [['writeFile', `${m}/${utf255}`, 'ok'], 'OK'],
    [['writeFile', `${m}/${long256}`, 'no'], 'ENAMETOOLONG'],
    [['writeFile', `${m}/${utf256}`, 'no'], 'ENAMETOOLONG'],
    [['stat', `${m}/${long256}`], 'ENAMETOOLONG'],
    [['mkdir', `${m}/${long256}`], 'ENAMETOOLONG'],
    [['symlink', 'f', `${m}/${long256}`], 'ENAMETOOLONG'],
    [['link', `${m}/f`, `${m}/${long256}`], 'ENAMETOOLONG'],
    [['rename', `${m}/f`, `${m}/${long256}`], 'ENAMETOOLONG'],
    [['rename', `${m}/f`, `${m}/d/${ok255}.x`], 'ENAMETOOLONG']
  ])
  const names = okOf<string[]>((await probe([['readdir', m]]))[0])
  t.alike(names, ['d', 'f', ok255, utf255].sort(), 'the 255-byte names are listed; no 256-byte entry exists')
})

test('hostile names and sizes: invalid UTF-8 gets EILSEQ (never a merged name), huge xattrs E2BIG, bad offsets EINVAL/EFBIG', T, async (t) => {
  const peer = await startPeer(t)
  const result = await python(`
import errno, json, os, sys
os.chdir(sys.argv[1])
out = {}
def attempt(key, call):
    try:
        value = call()
        out[key] = 'OK' if value is None or isinstance(value, int) else value.decode('latin-1')
    except OSError as error:
        out[key] = errno.errorcode[error.errno]
def create(name, data):
    fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)
attempt('create a-ff', lambda: create(b'a\\xff', b'one'))
attempt('create a-fe', lambda: create(b'a\\xfe', b'two'))
attempt('create overlong /', lambda: create(b'\\xc0\\xaf', b'x'))
attempt('create surrogate', lambda: create(b'\\xed\\xa0\\x80', b'x'))
attempt('create U+FFFD itself', lambda: create('\\ufffd'.encode(), b'fffd'))
attempt('create emoji', lambda: create('\\U0001F600'.encode(), b'smile'))
attempt('mkdir invalid', lambda: os.mkdir(b'd\\xff'))
attempt('symlink to invalid', lambda: os.symlink(b't\\xff', b'link'))
attempt('rename to invalid', lambda: os.rename('\\ufffd', b'r\\xff'))
attempt('xattr name invalid', lambda: os.setxattr('\\ufffd', b'user.\\xff', b'v'))
attempt('xattr 64 KiB', lambda: os.setxattr('\\ufffd', 'user.big', b'x' * 65536))
attempt('xattr 64 KiB + 1', lambda: os.setxattr('\\ufffd', 'user.bigger', b'x' * 65537))
attempt('empty name', lambda: create(b'', b'x'))
fd = os.open('\\ufffd', os.O_RDWR)
attempt('pwrite at -1', lambda: os.pwrite(fd, b'z', -1))
attempt('pread at -1', lambda: os.pread(fd, 4, -1))
attempt('pwrite at 2**63-1', lambda: os.pwrite(fd, b'z', 2**63 - 1))
attempt('pread far past the end', lambda: os.pread(fd, 4, 2**62))
os.close(fd)
out['names'] = sorted(name.decode('utf-8') for name in os.listdir(b'.'))
out['fffd'] = open('\\ufffd', 'rb').read().decode()
out['big'] = len(os.getxattr('\\ufffd', 'user.big'))
print(json.dumps(out))
`, [peer.mountpoint])
  t.is(result.code, 0, result.stderr)
  const out = JSON.parse(result.stdout) as Record<string, unknown>
  for (const key of ['create a-ff', 'create a-fe', 'create overlong /', 'create surrogate', 'mkdir invalid', 'symlink to invalid', 'rename to invalid', 'xattr name invalid']) {
    t.is(out[key], 'EILSEQ', `${key} → EILSEQ`)
  }
  t.is(out['create U+FFFD itself'], 'OK', 'a name that really is U+FFFD is fine')
  t.is(out['create emoji'], 'OK', 'four-byte UTF-8 is fine')
  t.is(out['xattr 64 KiB'], 'OK', 'a 64 KiB xattr value is stored')
  t.is(out['xattr 64 KiB + 1'], 'E2BIG', 'a larger one is refused')
  t.is(out['empty name'], 'ENOENT', 'an empty name is ENOENT')
  t.is(out['pwrite at -1'], 'EINVAL', 'negative write offset')
  t.is(out['pread at -1'], 'EINVAL', 'negative read offset')
  t.is(out['pwrite at 2**63-1'], 'EINVAL', 'a write ending past the largest offset')
  t.is(out['pread far past the end'], '', 'a read past the end reads nothing')
  t.alike((out.names as string[]).sort(), ['\ufffd', '\u{1F600}'].sort(), 'only the two valid names exist')
  t.is(out.fffd, 'fffd', 'the U+FFFD file holds its own bytes, not another name\'s')
  t.is(out.big, 65536, 'the 64 KiB xattr reads back whole')
})

test('rename of one hard link onto another of the same file is a no-op', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `echo data > ${m}/a && ln ${m}/a ${m}/b && mkdir ${m}/d && ln ${m}/a ${m}/d/c`, 'three links')
  const results = await probe([['rename', `${m}/a`, `${m}/b`], ['rename', `${m}/d/c`, `${m}/a`], ['readFile', `${m}/a`], ['readFile', `${m}/b`], ['readFile', `${m}/d/c`], ['stat', `${m}/a`]])
  t.is(errnoOf(results[0]), 'OK', 'rename(a, b) succeeds')
  t.is(errnoOf(results[1]), 'OK', 'rename(d/c, a) succeeds')
  t.alike(results.slice(2, 5).map((r) => errnoOf(r) === 'OK' ? okOf(r) : errnoOf(r)), ['data\n', 'data\n', 'data\n'], 'all three names remain and read the data')
  t.is(okOf<ProbeStat>(results[5]).nlink, '3', 'nlink still 3')
})

/** Asserts that `field` of `path` grew after `action` (BigInt compare of ns times). */
async function timeGrows (t: Test, path: string, fields: Array<'ctimeNs' | 'mtimeNs'>, action: string, label: string): Promise<void> {
  const before = await lstat(path)
  await tick()
  await shOk(t, action, label)
  const after = await lstat(path)
  for (const field of fields) t.ok(BigInt(after[field]) > BigInt(before[field]), `${label}: ${field.replace('Ns', '')} of ${path.replace(/^.*\/mnt/, '')} advanced (${before[field]} → ${after[field]})`)
}

test('POSIX times: ctime on chmod/chown/link/unlink/rename/write; parent mtime+ctime on create/unlink/rename', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `mkdir ${m}/p ${m}/q && echo x > ${m}/p/f && echo y > ${m}/keep`, 'fixture')
  const f = `${m}/p/f`
  await timeGrows(t, f, ['ctimeNs'], `chmod 600 ${f}`, 'chmod')
  await timeGrows(t, f, ['ctimeNs'], `chown 7:7 ${f}`, 'chown')
  await timeGrows(t, f, ['ctimeNs'], `ln ${f} ${m}/p/f2`, 'link')
  await timeGrows(t, f, ['ctimeNs'], `rm ${m}/p/f2`, 'unlink of the other name')
  await timeGrows(t, f, ['ctimeNs', 'mtimeNs'], `echo more >> ${f}`, 'write')
  await timeGrows(t, f, ['ctimeNs', 'mtimeNs'], `truncate -s 1 ${f}`, 'truncate')
  await timeGrows(t, f, ['ctimeNs'], `python3 -c "import os; os.setxattr('${f}', 'user.k', b'v')"`, 'setxattr')
  await timeGrows(t, f, ['ctimeNs'], `mv ${f} ${m}/p/g && mv ${m}/p/g ${f}`, 'rename of the file')
  const p = `${m}/p`
  await timeGrows(t, p, ['mtimeNs', 'ctimeNs'], `touch ${p}/new`, 'create in parent')
  await timeGrows(t, p, ['mtimeNs', 'ctimeNs'], `rm ${p}/new`, 'unlink in parent')
  await timeGrows(t, p, ['mtimeNs', 'ctimeNs'], `mkdir ${p}/sd`, 'mkdir in parent')
  await timeGrows(t, p, ['mtimeNs', 'ctimeNs'], `rmdir ${p}/sd`, 'rmdir in parent')
  await timeGrows(t, p, ['mtimeNs', 'ctimeNs'], `ln -s x ${p}/sl`, 'symlink in parent')
  await timeGrows(t, p, ['mtimeNs', 'ctimeNs'], `mv ${p}/sl ${p}/sl2`, 'rename within parent')
  await timeGrows(t, p, ['mtimeNs', 'ctimeNs'], `mv ${p}/sl2 ${m}/q/`, 'rename out of parent (source dir)')
  await timeGrows(t, `${m}/q`, ['mtimeNs', 'ctimeNs'], `mv ${m}/q/sl2 ${p}/`, 'rename out of q (source dir)')
  await timeGrows(t, p, ['mtimeNs', 'ctimeNs'], `mv ${m}/keep ${p}/`, 'rename into parent (target dir)')
  const keep = await lstat(`${p}/keep`)
  const file = await lstat(f)
  t.ok(BigInt(file.ctimeNs) >= BigInt(file.mtimeNs), 'ctime is never before mtime')
  t.ok(BigInt(keep.mtimeNs) < BigInt(keep.ctimeNs), 'rename changed the ctime but not the mtime of the moved file')
})

test('an mtime set while written data is still buffered: the data and that mtime both land; a later write moves it again', T, async (t) => {
  const peer = await startPeer(t)
  const f = `${peer.mountpoint}/buffered`
  const script = [
    'import os, subprocess, sys',
    `f = ${JSON.stringify(f)}`,
    'touch = lambda: subprocess.run(["touch", "-m", "-d", "2001-02-03 04:05:06.123456789", f], check=True, env={"TZ": "UTC"})',
    'fd = os.open(f, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)',
    'os.write(fd, b"a" * 100000)',
    'touch()',
    'open_mtime = os.fstat(fd).st_mtime_ns',
    'os.close(fd)',
    'st = os.stat(f)',
    'fd = os.open(f, os.O_WRONLY | os.O_APPEND)',
    'os.write(fd, b"b")',
    'touch()',
    'os.write(fd, b"c")',
    'os.close(fd)',
    'after = os.stat(f)',
    'print(open_mtime, st.st_mtime_ns, st.st_size, after.st_mtime_ns > st.st_mtime_ns, after.st_size)'
  ].join('\n')
  const out = (await shOk(t, `python3 -c ${q(script)}`, 'write, touch -m while buffered, close; append, touch -m, append')).trim().split(' ')
  t.is(out[0], '981173106123456789', 'fstat of the open file shows the mtime set')
  t.is(out[1], '981173106123456789', 'it stays after close')
  t.is(out[2], '100000', 'with every byte written before it')
  t.is(out[3], 'True', 'a write after setting it moves the mtime again')
  t.is(out[4], '100002', 'and both appends land')
  t.is((await shOk(t, `tail -c 2 ${q(f)}`, 'tail')), 'bc', 'in order')
})

test('link counts of files and directories are right at once; the other name of a hard link is never stale', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  const nlink = async (path: string): Promise<string> => (await lstat(path)).nlink
  await shOk(t, `echo x > ${m}/a && mkdir ${m}/d`, 'fixture')
  t.is(await nlink(`${m}/a`), '1', 'new file: 1')
  t.is(await nlink(`${m}/d`), '2', 'new directory: 2')
  const root = Number(await nlink(m))
  await shOk(t, `ln ${m}/a ${m}/b`, 'ln')
  t.is(await nlink(`${m}/a`), '2', 'after link: a has 2')
  t.is(await nlink(`${m}/b`), '2', 'after link: b has 2')
  await shOk(t, `ln ${m}/b ${m}/d/c`, 'ln into d')
  t.alike([await nlink(`${m}/a`), await nlink(`${m}/b`), await nlink(`${m}/d/c`)], ['3', '3', '3'], 'three names: 3 everywhere')
  await shOk(t, `rm ${m}/a`, 'rm a')
  t.alike([await nlink(`${m}/b`), await nlink(`${m}/d/c`)], ['2', '2'], 'after unlink: 2')
  await shOk(t, `mkdir ${m}/d/s1 ${m}/d/s2 && touch ${m}/d/notdir`, 'mkdir two subdirs')
  t.is(await nlink(`${m}/d`), '4', 'directory with two subdirs: 4')
  t.is(await nlink(m), String(root), 'root unchanged by grandchildren')
  await shOk(t, `rmdir ${m}/d/s1`, 'rmdir')
  t.is(await nlink(`${m}/d`), '3', 'after rmdir: 3')
  await shOk(t, `mv ${m}/d/s2 ${m}/s2`, 'move a subdir to the root')
  t.is(await nlink(`${m}/d`), '2', 'after moving the subdir out: 2')
  t.is(await nlink(m), String(root + 1), 'root gained one')
  await shOk(t, `mkdir ${m}/d/s3 && mv -T ${m}/s2 ${m}/d/s3`, 'rename a dir over an empty dir')
  t.is(await nlink(`${m}/d`), '3', 'after replacing: 3')
  t.is(await nlink(m), String(root), 'root back to its count')

  // Attributes through the other name, read right after each change through the first name.
  const [b, c] = [`${m}/b`, `${m}/d/c`]
  await lstat(c) // make the kernel know the second name
  await shOk(t, `chmod 640 ${b}`, 'chmod through b')
  t.is((Number((await lstat(c)).mode) & 0o7777).toString(8), '640', 'c shows the new mode at once')
  await shOk(t, `ln ${b} ${m}/e`, 'another link through b')
  t.is(await nlink(c), '3', 'c shows nlink 3 at once')
  await shOk(t, `touch -m -d '2011-11-11 11:11:11.5' ${b} && chown 5:6 ${b}`, 'touch and chown through b')
  const sc = await lstat(c)
  t.is(sc.mtimeNs, String(BigInt(Date.UTC(2011, 10, 11, 11, 11, 11)) * 1_000_000n + 500_000_000n - BigInt(new Date(2011, 10, 11).getTimezoneOffset() * 60) * 1_000_000_000n), 'c shows the new mtime at once')
  t.alike([sc.uid, sc.gid], ['5', '6'], 'c shows the new owner at once')
  await shOk(t, `echo longer-content > ${b}`, 'rewrite through b')
  t.is(await shOk(t, `cat ${c}; stat -c %s ${c}`, 'read through c'), 'longer-content\n15\n', 'c reads the new bytes and size')
  await shOk(t, `: > ${b}`, 'O_TRUNC through b')
  t.is(await shOk(t, `cat ${c} | wc -c; stat -c %s ${c}`, 'read through c after truncate'), '0\n0\n', 'c is empty right after O_TRUNC through b')
})

test('an unlinked but open file stays readable, writable and fstat-able; its space is reclaimed after close', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `mkdir ${m}/d`, 'fixture')
  const f = `${m}/d/f`
  const r = await probe([
    ['open', f, 'w+'], ['write', '$0', 'hello', 0], ['unlink', f], ['fstat', '$0'], ['write', '$0', ' world', 5],
    ['read', '$0', 100, 0], ['fstat', '$0'], ['readdir', `${m}/d`], ['ftruncate', '$0', 4], ['read', '$0', 100, 0],
    ['fsync', '$0'], ['rmdir', `${m}/d`], ['read', '$0', 100, 0], ['close', '$0'], ['exists', f]
  ])
  t.is(errnoOf(r[2]), 'OK', 'unlink while open')
  t.is(fieldOf(r[3], 'nlink'), '0', 'fstat after unlink: nlink 0')
  t.is(fieldOf(r[3], 'size'), '5', 'fstat after unlink: size 5')
  t.is(valueOf(r[4]), 6, 'write after unlink')
  t.is(valueOf(r[5]), 'hello world', 'read after unlink sees both writes')
  t.is(fieldOf(r[6], 'size'), '11', 'fstat sees the new size')
  t.alike(valueOf(r[7]), [], 'no .fuse_hidden file is left in the directory')
  t.is(valueOf(r[9]), 'hell', 'ftruncate through the fd')
  t.is(errnoOf(r[10]), 'OK', 'fsync through the fd')
  t.is(errnoOf(r[11]), 'OK', 'rmdir of its (empty) directory while it is open')
  // Reads and writes go by file handle and keep working. (fstat here is answered by libfuse2, which
  // cannot build a path through the removed directory: ENOENT — a documented limit of libfuse2.)
  t.is(valueOf(r[12]), 'hell', 'the fd still reads after its directory is gone')
  t.is(errnoOf(r[13]), 'OK', 'close')
  t.is(valueOf(r[14]), false, 'the name stays gone')

  // Space: 24 MiB written, fsync'd, unlinked while open: held until close, then reclaimed.
  const script = `
import os, subprocess, sys, time, json
path, data = sys.argv[1], sys.argv[2]
du = lambda: int(subprocess.run(['du', '-sb', data], capture_output=True, text=True).stdout.split()[0])
start = du()
payload = os.urandom(24 << 20)
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, payload)
os.fsync(fd)
written = du()
os.unlink(path)
try:
    st = os.fstat(fd)
    nlink, size = st.st_nlink, st.st_size
except OSError as e:
    nlink, size = -1, -1
same = os.pread(fd, len(payload), 0) == payload
held = du()
os.close(fd)
after = held
for _ in range(100):
    after = du()
    if after < written - (20 << 20): break
    time.sleep(0.1)
print(json.dumps({'start': start, 'written': written, 'held': held, 'after': after, 'nlink': nlink, 'size': size, 'same': same}))
`
  const result = await python(script, [`${m}/big`, peer.data])
  t.is(result.code, 0, `python script ran ${result.stderr}`)
  const space = JSON.parse(result.stdout) as { start: number, written: number, held: number, after: number, nlink: number, size: number, same: boolean }
  t.comment(`data dir bytes: start ${space.start}, written ${space.written}, unlinked-open ${space.held}, after close ${space.after}`)
  t.ok(space.same, 'big unlinked file: full read back through the fd')
  t.alike([space.size, space.nlink], [24 << 20, 0], 'big unlinked file: fstat gives size and nlink 0')
  t.ok(space.written - space.start >= 24 << 20, 'the data dir grew by the file')
  t.ok(space.held >= space.written - (1 << 20), 'space is still held while the file is open')
  t.ok(space.after < space.written - (20 << 20), 'space reclaimed after close')
})

test('xattrs: set/get/list/remove, XATTR_CREATE/REPLACE errors, ENODATA', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `echo x > ${m}/f && mkdir ${m}/d`, 'fixture')
  const script = `
import os, sys, json, errno
f, d = sys.argv[1], sys.argv[2]
out = {}
def attempt(key, fn):
    try:
        r = fn()
        out[key] = r.decode('latin1') if isinstance(r, bytes) else (sorted(r) if isinstance(r, list) else 'OK')
    except OSError as e:
        out[key] = errno.errorcode[e.errno]
attempt('set', lambda: os.setxattr(f, 'user.color', b'blue'))
attempt('get', lambda: os.getxattr(f, 'user.color'))
attempt('set_bin', lambda: os.setxattr(f, 'user.bin', bytes(range(256))))
attempt('get_bin_ok', lambda: b'yes' if os.getxattr(f, 'user.bin') == bytes(range(256)) else b'no')
attempt('set_empty', lambda: os.setxattr(f, 'user.empty', b''))
attempt('get_empty', lambda: os.getxattr(f, 'user.empty'))
attempt('list', lambda: os.listxattr(f))
attempt('create_existing', lambda: os.setxattr(f, 'user.color', b'red', os.XATTR_CREATE))
attempt('get_after_create_fail', lambda: os.getxattr(f, 'user.color'))
attempt('replace_missing', lambda: os.setxattr(f, 'user.nothere', b'x', os.XATTR_REPLACE))
attempt('create_new', lambda: os.setxattr(f, 'user.fresh', b'1', os.XATTR_CREATE))
attempt('replace_existing', lambda: os.setxattr(f, 'user.color', b'green', os.XATTR_REPLACE))
attempt('get_replaced', lambda: os.getxattr(f, 'user.color'))
attempt('get_missing', lambda: os.getxattr(f, 'user.missing'))
attempt('remove', lambda: os.removexattr(f, 'user.color'))
attempt('get_removed', lambda: os.getxattr(f, 'user.color'))
attempt('remove_missing', lambda: os.removexattr(f, 'user.color'))
attempt('list_after', lambda: os.listxattr(f))
attempt('dir_set', lambda: os.setxattr(d, 'user.dir', b'D'))
attempt('dir_get', lambda: os.getxattr(d, 'user.dir'))
attempt('bad_namespace', lambda: os.setxattr(f, 'bogus.name', b'x'))
print(json.dumps(out))
`
  const result = await python(script, [`${m}/f`, `${m}/d`])
  t.is(result.code, 0, `python ran ${result.stderr}`)
  const out = JSON.parse(result.stdout) as Record<string, unknown>
  t.alike(out, {
    set: 'OK',
    get: 'blue',
    set_bin: 'OK',
    get_bin_ok: 'yes',
    set_empty: 'OK',
    get_empty: '',
    list: ['user.bin', 'user.color', 'user.empty'],
    create_existing: 'EEXIST',
    get_after_create_fail: 'blue',
    replace_missing: 'ENODATA',
    create_new: 'OK',
    replace_existing: 'OK',
    get_replaced: 'green',
    get_missing: 'ENODATA',
    remove: 'OK',
    get_removed: 'ENODATA',
    remove_missing: 'ENODATA',
    list_after: ['user.bin', 'user.empty', 'user.fresh'],
    dir_set: 'OK',
    dir_get: 'D',
    bad_namespace: 'ENOTSUP' // = EOPNOTSUPP on Linux
  }, 'every xattr call gives the expected value or errno')
  await shOk(t, `cp -a --preserve=xattr ${m}/f ${m}/g && python3 -c "import os,sys; assert os.getxattr(sys.argv[1], 'user.fresh') == b'1'" ${m}/g`, 'cp --preserve=xattr carries xattrs')
})

test('mkfifo makes a working FIFO; mknod makes a device node (not usable: FUSE mounts are nodev)', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `mkfifo -m 620 ${m}/pipe`, 'mkfifo')
  t.is(await shOk(t, `stat -c '%F %a' ${m}/pipe`, 'stat fifo'), 'fifo 620\n', 'type fifo, mode 620')
  t.is(await shOk(t, `(echo through-the-pipe > ${m}/pipe &) ; timeout 20 cat ${m}/pipe`, 'write and read through the FIFO'), 'through-the-pipe\n', 'data passes through the FIFO')
  await shOk(t, `mknod ${m}/null c 1 3 && test -c ${m}/null`, 'mknod c 1 3')
  t.is(await shOk(t, `stat -c '%F %t:%T' ${m}/null`, 'stat the device'), 'character special file 1:3\n', 'type and device numbers kept')
})

test('setgid directory: new entries take its group, subdirectories inherit the bit', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `mkdir ${m}/shared && chown 0:4321 ${m}/shared && chmod 2775 ${m}/shared`, 'setgid directory')
  await shOk(t, `touch ${m}/shared/file && mkdir ${m}/shared/sub && touch ${m}/shared/sub/deep && ln -s x ${m}/shared/link && mkdir ${m}/plain && touch ${m}/plain/file`, 'create entries')
  t.is(await shOk(t, `stat -c '%n %g %A' ${m}/shared/file ${m}/shared/sub ${m}/shared/sub/deep ${m}/plain/file | sed 's|^${m}/||'`, 'stat'),
    'shared/file 4321 -rw-r--r--\nshared/sub 4321 drwxr-sr-x\nshared/sub/deep 4321 -rw-r--r--\nplain/file 0 -rw-r--r--\n', 'group inherited, setgid bit propagated to subdirectories only')
})

test('statfs via df shows real numbers', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  const out = await shOk(t, `df -B1 --output=size,used,avail,itotal,iavail ${m} | tail -1; stat -f -c '%l %S %T' ${m}`, 'df and stat -f')
  const [line, fsLine] = out.trim().split('\n')
  const [size, used, avail, itotal, ifree] = line!.trim().split(/\s+/).map(Number)
  t.comment(`df: size ${size} used ${used} avail ${avail} inodes ${itotal} free ${ifree}; stat -f: ${fsLine}`)
  t.ok(size! > 0, 'size > 0')
  t.ok(avail! > 0 && avail! <= size!, '0 < avail <= size')
  t.ok(used! >= 0 && used! <= size!, '0 <= used <= size')
  t.ok(itotal! > 0 && ifree! > 0, 'inode counts > 0')
  t.is(fsLine!.split(' ')[0], '255', 'max name length 255')
  const df = await shOk(t, `df -h ${m} | tail -1`, 'df -h')
  t.ok(df.includes('swarmfs'), `df names the filesystem: ${df.trim()}`)
})

test('chmod 4711 on an odd name (quotes, backslash) keeps the file type', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  const odd = `${m}/it's a "name" with\\backslash`
  await shOk(t, `echo x > ${q(odd)} && chmod 4711 ${q(odd)} && test -f ${q(odd)} && test -u ${q(odd)}`, 'setuid on an odd name')
  t.is(await shOk(t, `stat -c '%a %F' ${q(odd)}`, 'stat'), '4711 regular file\n', 'mode and type')
})
