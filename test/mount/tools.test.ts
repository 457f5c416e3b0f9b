// Everyday tools on a real mount: copies, archives, rsync, git, sqlite, and the coreutils that change
// names, modes, owners, sizes and times. Each test has its own peer; every command runs in a child.
import test from 'brittle'
import type { Test } from 'brittle'
import { localDir, q, shOk, startPeer } from '../helpers/mount.js'
import { CLI, sh } from '../helpers/peer.js'

const T = { timeout: 180_000 }

/** A tree with every kind of entry cp/tar/rsync must carry: returns its path. */
async function makeTree (t: Test): Promise<string> {
  const base = await localDir(t)
  const src = `${base}/src`
  await shOk(t, `set -e
    mkdir -p ${q(src)} && cd ${q(src)}
    mkdir -p 'dir one/nested/deeper' 'ünï cødé/日本' empty-dir
    printf 'hello\\n' > plain.txt
    : > empty
    head -c 5242880 /dev/urandom > big.bin
    head -c 100000 /dev/urandom > 'dir one/nested/deeper/mid.bin'
    printf 'x%.0s' $(seq 1 5000) > 'dir one/with space.txt'
    echo data > 'ünï cødé/日本/ファイル.txt'
    echo q > "quote'n\\"dq.txt"
    echo dash > ./-leading-dash
    echo tab > "$(printf 'tab\\there')"
    ln -s plain.txt link-rel
    ln -s ../big.bin 'dir one/link up'
    ln -s /nonexistent/target dangling
    ln -s 'ünï cødé' link-to-dir
    ln big.bin big-hardlink
    ln plain.txt 'dir one/nested/plain hard'
    chmod 600 plain.txt; chmod 750 'dir one'; chmod 4755 'dir one/nested/deeper/mid.bin'
    touch -h -d '2001-02-03 04:05:06.123456789' 'dir one/with space.txt' dangling
    touch -d '1999-12-31 23:59:59.5' empty-dir`, 'source tree created')
  return src
}

/** Type, mode, size (not of directories), links, target, owner and mtime (ns) of every entry, sorted. */
function listing (directory: string): string {
  return `cd ${q(directory)} && find . \\( -type d -printf '%P|%y|%m|-|%n|%l|%U:%G|%T@\\n' \\) -o -printf '%P|%y|%m|%s|%n|%l|%U:%G|%T@\\n' | LC_ALL=C sort`
}

test('cp -a of a mixed tree, then diff -r and an identical listing', T, async (t) => {
  const peer = await startPeer(t)
  const src = await makeTree(t)
  const dst = `${peer.mountpoint}/copy`
  await shOk(t, `cp -a ${q(src)} ${q(dst)}`, 'cp -a into the mount')
  await shOk(t, `diff -r --no-dereference ${q(src)} ${q(dst)}`, 'diff -r finds no difference')
  const [a, b] = await Promise.all([sh(listing(src)), sh(listing(dst))])
  t.is(b.stdout, a.stdout, 'types, modes, sizes, link counts, targets, owners and ns mtimes are identical')
  const inodes = await shOk(t, `stat -c %i ${q(dst)}/big.bin ${q(dst)}/big-hardlink`, 'stat hard links')
  const [i1, i2] = inodes.trim().split('\n')
  t.is(i1, i2, 'hard links copied as one inode')
  await shOk(t, `cmp ${q(src)}/big.bin ${q(dst)}/big.bin`, '5 MiB random file identical')
  await shOk(t, `cp -a ${q(dst)} ${q(src)}.back && diff -r --no-dereference ${q(src)} ${q(src)}.back`, 'cp -a back out of the mount is identical too')
})

test('tar c | tar x (pax, ns times) round trip into and out of the mount; tar -d finds no difference', T, async (t) => {
  const peer = await startPeer(t)
  const src = await makeTree(t)
  const m = peer.mountpoint
  await shOk(t, `mkdir ${m}/t && tar --format=posix -C ${q(src)} -cf - . | tar -C ${m}/t -xpf -`, 'tar c | tar x into the mount')
  await shOk(t, `diff -r --no-dereference ${q(src)} ${m}/t`, 'diff -r after tar x')
  await shOk(t, `tar --format=posix -C ${q(src)} -cf ${q(src)}.tar . && tar -C ${m}/t -df ${q(src)}.tar`, 'tar --compare: same contents, modes, mtimes')
  await shOk(t, `mkdir ${q(src)}.out && tar --format=posix -C ${m}/t -cf - . | tar -C ${q(src)}.out -xpf - && diff -r --no-dereference ${q(src)} ${q(src)}.out`, 'tar out of the mount round-trips')
  const [a, b] = await Promise.all([sh(listing(src)), sh(listing(`${m}/t`))])
  t.is(b.stdout, a.stdout, 'listing identical after tar x')
})

test('tar -x as root restores owners, modes and times with two metadata commands per file, kept across a restart', T, async (t) => {
  const peer = await startPeer(t)
  const base = await localDir(t)
  const m = peer.mountpoint
  const files = 30
  await shOk(t, `set -e
    mkdir -p ${base}/src/a ${base}/src/b && cd ${base}/src
    for i in $(seq 1 ${files}); do d=a; [ $i -gt 15 ] && d=b; head -c $((i * 1000)) /dev/urandom > $d/f$i
      chown $((1000 + i)):$((2000 + i)) $d/f$i; chmod $(printf '%o' $((0400 + i * 9))) $d/f$i; done
    chown root:root a/f1 && chmod 4755 a/f1 && chmod 2750 b/f20
    touch -d '2001-02-03 04:05:06.5' a/* b/*
    tar --format=posix -cf ${base}/t.tar a b`, 'a tarball of files with many owners and modes')
  const committed = async (): Promise<number> => JSON.parse(await shOk(t, `node ${CLI} status --data ${peer.data} --json`, 'status')).commitIndex as number
  // The archive holds a and b, not their parent: its line is left out.
  const entries = async (directory: string): Promise<string> => (await shOk(t, listing(directory), `listing of ${directory}`)).split('\n').filter((line) => !line.startsWith('|')).join('\n')
  const expected = await entries(`${base}/src`)
  const before = await committed()
  await shOk(t, `mkdir ${m}/x && tar -C ${m}/x -xpf ${base}/t.tar`, 'tar -x as root (owners restored)')
  t.is(await entries(`${m}/x`), expected, 'owners, modes and mtimes right at once')
  await peer.restart() // a clean stop commits what was still being written back
  t.is(await entries(`${m}/x`), expected, 'and committed')
  // Per file: the create, then its data with mtime, owner and mode (no longer one command each).
  const commands = await committed() - before
  t.ok(commands <= 2 * files + 20, `${commands} metadata commands for ${files} files and 3 directories (at most ${2 * files + 20})`)
})

test('rsync -a, then a second rsync -a --itemize-changes has nothing to do', T, async (t) => {
  const peer = await startPeer(t)
  const src = await makeTree(t)
  const m = peer.mountpoint
  await shOk(t, 'command -v rsync', 'rsync is installed')
  await shOk(t, `rsync -a ${q(src)}/ ${m}/r/`, 'first rsync -a')
  await shOk(t, `diff -r --no-dereference ${q(src)} ${m}/r`, 'diff -r after rsync')
  const second = await shOk(t, `rsync -a --itemize-changes ${q(src)}/ ${m}/r/`, 'second rsync -a')
  t.is(second, '', 'second rsync itemizes no change')
  const third = await shOk(t, `rsync -a -H --checksum --itemize-changes ${q(src)}/ ${m}/r/`, 'rsync --checksum')
  t.is(third.split('\n').filter((line) => line !== '' && !line.startsWith('hf')).join('\n'), '', 'rsync --checksum finds equal contents')
})

test('git init, add, commit, gc, fsck on the mount', T, async (t) => {
  const peer = await startPeer(t)
  const home = await localDir(t)
  const m = peer.mountpoint
  const env = `export HOME=${q(home)} GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid`
  await shOk(t, `${env}; set -e; mkdir ${m}/repo && cd ${m}/repo && git init -q
    for i in $(seq 1 50); do mkdir -p d$((i % 5)); echo "file $i" > d$((i % 5))/f$i.txt; done
    head -c 1048576 /dev/urandom > blob.bin
    git add -A && git commit -qm first
    echo changed >> d1/f1.txt && git mv d2 moved && git commit -qam second
    git gc -q
    git fsck --full --strict`, 'git init/add/commit/gc/fsck')
  const log = await shOk(t, `${env}; cd ${m}/repo && git log --oneline | wc -l && git status --porcelain`, 'git log and status')
  t.is(log.trim(), '2', 'two commits, clean work tree')
  await shOk(t, `${env}; set -e; cd ${m}/repo && git checkout -q HEAD~1 && test -d d2 && test ! -e moved && git checkout -q - && git fsck --full`, 'git checkout back and forth, fsck again')
  if (peer.log.includes('unexpected_error')) t.comment(peer.log)
})

test('sqlite3: 10,000 rows, integrity_check ok (rollback journal and WAL)', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  for (const mode of ['DELETE', 'WAL']) {
    const db = `${m}/db-${mode}.sqlite`
    await shOk(t, `set -e; { echo "PRAGMA journal_mode=${mode}; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL); CREATE INDEX tv ON t(v); BEGIN;"
      for i in $(seq 1 10000); do echo "INSERT INTO t VALUES($i, 'row $i $RANDOM');"; done
      echo "COMMIT;"
      for i in $(seq 10001 10020); do echo "INSERT INTO t VALUES($i, 'autocommit $i');"; done
      echo "DELETE FROM t WHERE id > 10000;"; } | sqlite3 ${q(db)} > /dev/null`, `${mode}: create table, insert 10,000 rows`)
    const check = await shOk(t, `sqlite3 ${q(db)} 'PRAGMA integrity_check; SELECT count(*), sum(id) FROM t;'`, `${mode}: integrity check runs`)
    t.is(check, 'ok\n10000|50005000\n', `${mode}: integrity_check ok, all rows there`)
  }
})

test('mv over an existing file, rm -r, ln, ln -s, readlink', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `echo old > ${m}/target && echo new > ${m}/source && mv ${m}/source ${m}/target`, 'mv over an existing file')
  t.is(await shOk(t, `cat ${m}/target; ls ${m}`, 'read after mv'), 'new\ntarget\n', 'target has the new content, source is gone')
  await shOk(t, `mkdir -p ${m}/d1 && echo x > ${m}/d1/f && mv -T ${m}/d1 ${m}/d2 && test -f ${m}/d2/f && test ! -e ${m}/d1`, 'mv of a directory')
  await shOk(t, `set -e; mkdir -p ${m}/tree/a/b/c ${m}/tree/e; for i in 1 2 3; do echo $i > ${m}/tree/a/b/c/f$i; done; ln -s a ${m}/tree/link; ln ${m}/tree/a/b/c/f1 ${m}/tree/e/hard; rm -r ${m}/tree`, 'rm -r of a tree')
  t.is(await shOk(t, `ls -A ${m}`, 'ls after rm -r'), 'd2\ntarget\n', 'the tree is gone')
  await shOk(t, `ln ${m}/target ${m}/hard && ln -s target ${m}/soft && ln -s /some/absolute/path ${m}/abs`, 'ln and ln -s')
  t.is(await shOk(t, `readlink ${m}/soft ${m}/abs; cat ${m}/soft ${m}/hard; stat -c %h ${m}/target`, 'readlink'), 'target\n/some/absolute/path\nnew\nnew\n2\n', 'readlink targets, reads through both links, nlink 2')
  t.is(await shOk(t, `readlink -f ${m}/soft`, 'readlink -f'), `${m}/target\n`, 'readlink -f resolves')
  await shOk(t, `ln -sf hard ${m}/soft && readlink ${m}/soft | grep -qx hard`, 'ln -sf replaces a symlink')
})

test('chmod, chown, touch -d change mode, owner and times', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `echo x > ${m}/f && mkdir ${m}/d && chmod 640 ${m}/f && chmod 2711 ${m}/d && chown 1234:5678 ${m}/f && chown 42 ${m}/d`, 'chmod, chown')
  t.is(await shOk(t, `stat -c '%a %u %g' ${m}/f ${m}/d`, 'stat'), '640 1234 5678\n2711 42 0\n', 'modes and owners as set')
  await shOk(t, `chmod u+x,g-r,o+w ${m}/f && chown :99 ${m}/f`, 'symbolic chmod, group-only chown')
  t.is(await shOk(t, `stat -c '%a %u %g' ${m}/f`, 'stat'), '702 1234 99\n', 'symbolic changes applied')
  await shOk(t, `touch -d '2010-05-06 07:08:09.987654321' ${m}/f ${m}/d`, 'touch -d')
  t.is(await shOk(t, `stat -c '%x|%y' ${m}/f ${m}/d | sed 's/ [+-][0-9]*$//; s/ [+-][0-9]*|/|/'`, 'stat times'),
    '2010-05-06 07:08:09.987654321|2010-05-06 07:08:09.987654321\n'.repeat(2), 'atime and mtime set with nanoseconds')
  await shOk(t, `ln -s f ${m}/l && touch -h -d '2003-03-03 03:03:03.000000333' ${m}/l`, 'touch -h on a symlink')
  t.is(await shOk(t, `stat -c %Y.%y ${m}/l | cut -d' ' -f1; stat -c %Y ${m}/f`, 'stat symlink'), `1046660583.2003-03-03\n${await sh(`date -d '2010-05-06 07:08:09' +%s`).then((r) => r.stdout.trim())}\n`, 'the symlink got the time, its target did not')
})

test('truncate -s grows with zeros and shrinks keeping the prefix', T, async (t) => {
  const peer = await startPeer(t)
  const local = await localDir(t)
  const m = peer.mountpoint
  await shOk(t, `head -c 6000000 /dev/urandom > ${local}/r && cp ${local}/r ${m}/f`, 'a 6 MB file')
  await shOk(t, `truncate -s 10000000 ${m}/f && test $(stat -c %s ${m}/f) = 10000000`, 'truncate -s grow')
  await shOk(t, `cmp -n 6000000 ${local}/r ${m}/f && cmp -i 6000000:0 -n 4000000 ${m}/f /dev/zero`, 'old bytes kept, grown part reads zeros')
  await shOk(t, `truncate -s 4194000 ${m}/f && test $(stat -c %s ${m}/f) = 4194000 && cmp -n 4194000 ${local}/r ${m}/f`, 'truncate -s shrink keeps the prefix')
  await shOk(t, `truncate -s 5000000 ${m}/f && cmp -n 4194000 ${local}/r ${m}/f && cmp -i 4194000:0 -n 806000 ${m}/f /dev/zero`, 'grow after shrink: the cut bytes do not come back')
  await shOk(t, `truncate -s 0 ${m}/f && test $(stat -c %s ${m}/f) = 0 && test $(wc -c < ${m}/f) = 0`, 'truncate -s 0')
  await shOk(t, `truncate -s 1234 ${m}/new && test $(stat -c %s ${m}/new) = 1234 && cmp -n 1234 ${m}/new /dev/zero`, 'truncate -s creates a zero-filled file')
})

test('dd seek= makes a sparse file: zeros in the hole, du smaller than the size', T, async (t) => {
  const peer = await startPeer(t)
  const local = await localDir(t)
  const m = peer.mountpoint
  await shOk(t, `head -c 1048576 /dev/urandom > ${local}/tail && dd if=${local}/tail of=${m}/sparse bs=1M seek=100 status=none`, 'dd seek=100')
  t.is(await shOk(t, `stat -c %s ${m}/sparse`, 'size'), `${101 * 1048576}\n`, 'size is 101 MiB')
  await shOk(t, `cmp -n ${100 * 1048576} ${m}/sparse /dev/zero`, 'the hole reads as zeros')
  await shOk(t, `cmp -i ${100 * 1048576}:0 ${m}/sparse ${local}/tail`, 'the data after the hole is intact')
  const du = Number((await shOk(t, `du -k ${m}/sparse | cut -f1`, 'du')).trim())
  t.ok(du < 101 * 1024 / 2, `du (${du} KiB) is far below the size (${101 * 1024} KiB)`)
  await shOk(t, `printf 'mid' | dd of=${m}/sparse bs=1 seek=50000000 conv=notrunc status=none && cmp -n 50000000 ${m}/sparse /dev/zero && test "$(dd if=${m}/sparse bs=1 skip=50000000 count=3 status=none)" = mid && test $(stat -c %s ${m}/sparse) = ${101 * 1048576}`, 'a write into the hole with conv=notrunc keeps the rest')
})

test('touch -a -d and touch -m -d set atime and mtime independently, with nanoseconds', T, async (t) => {
  const peer = await startPeer(t)
  const m = peer.mountpoint
  await shOk(t, `echo x > ${m}/f && touch -d '2005-01-01 00:00:00.111111111' ${m}/f`, 'create, set both')
  const times = async (): Promise<string> => await shOk(t, `TZ=UTC stat -c '%x|%y' ${m}/f | sed 's/ +0000//g'`, 'stat')
  await shOk(t, `TZ=UTC touch -a -d '2006-06-06 06:06:06.222222222' ${m}/f`, 'touch -a -d')
  t.is(await times(), '2006-06-06 06:06:06.222222222|2005-01-01 00:00:00.111111111\n', 'atime changed, mtime kept')
  await shOk(t, `TZ=UTC touch -m -d '2007-07-07 07:07:07.333333333' ${m}/f`, 'touch -m -d')
  t.is(await times(), '2006-06-06 06:06:06.222222222|2007-07-07 07:07:07.333333333\n', 'mtime changed, atime kept')
  await shOk(t, `touch -a ${m}/f`, 'touch -a (now)')
  const [atime, mtime] = (await times()).trim().split('|')
  t.not(atime, '2006-06-06 06:06:06.222222222', 'touch -a set atime to now')
  t.is(mtime, '2007-07-07 07:07:07.333333333', 'touch -a left mtime alone')
})

test('cp -p keeps mtime (ns) and mode, into, within and out of the mount', T, async (t) => {
  const peer = await startPeer(t)
  const local = await localDir(t)
  const m = peer.mountpoint
  await shOk(t, `head -c 300000 /dev/urandom > ${local}/f && chmod 604 ${local}/f && touch -d '2012-12-12 12:12:12.123456789' ${local}/f`, 'local source')
  await shOk(t, `cp -p ${local}/f ${m}/a && cp -p ${m}/a ${m}/b && cp -p ${m}/b ${local}/c`, 'cp -p three times')
  const stats = await shOk(t, `stat -c '%a %y %s' ${local}/f ${m}/a ${m}/b ${local}/c`, 'stat')
  const lines = stats.trim().split('\n')
  t.is(new Set(lines).size, 1, `same mode, ns mtime and size everywhere: ${lines[0]}`)
  await shOk(t, `cmp ${local}/f ${m}/b && cmp ${local}/f ${local}/c`, 'same bytes')
})

test('append with >> (also across a chunk boundary)', T, async (t) => {
  const peer = await startPeer(t)
  const local = await localDir(t)
  const m = peer.mountpoint
  await shOk(t, `for i in $(seq 1 200); do echo "line $i" >> ${m}/log; echo "line $i" >> ${local}/log; done; cmp ${local}/log ${m}/log`, '200 appends')
  await shOk(t, `head -c 4194000 /dev/urandom > ${local}/big && cp ${local}/big ${m}/big
    for i in 1 2 3; do head -c 1000 /dev/urandom > ${local}/piece; cat ${local}/piece >> ${m}/big; cat ${local}/piece >> ${local}/big; done
    cmp ${local}/big ${m}/big && test $(stat -c %s ${m}/big) = 4197000`, 'appends that cross the 4 MiB chunk boundary')
})

test('8 processes write different files at once; every sha256 matches', T, async (t) => {
  const peer = await startPeer(t)
  const local = await localDir(t)
  const m = peer.mountpoint
  await shOk(t, `for i in $(seq 1 8); do head -c $((9000000 + i * 777777)) /dev/urandom > ${local}/s$i; done`, 'eight local sources')
  await shOk(t, `set -e; pids=''
    for i in 1 2 3 4; do cp ${local}/s$i ${m}/f$i & pids="$pids $!"; done
    for i in 5 6 7 8; do dd if=${local}/s$i of=${m}/f$i bs=64k status=none & pids="$pids $!"; done
    for p in $pids; do wait $p; done`, '4 cp and 4 dd in parallel')
  const sums = await shOk(t, `cd ${local} && sha256sum s1 s2 s3 s4 s5 s6 s7 s8 | sed 's/ s/ f/' > sums && cd ${m} && sha256sum -c --quiet ${local}/sums`, 'sha256 of every file matches')
  t.is(sums, '', 'no mismatches')
  await shOk(t, `set -e; pids=''; for i in $(seq 1 8); do (for j in $(seq 1 40); do echo "$i $j" > ${m}/small-$i-$j; done) & pids="$pids $!"; done; for p in $pids; do wait $p; done
    test $(ls ${m} | grep -c '^small-') = 320 && cat ${m}/small-7-33 | grep -qx '7 33'`, '8 processes creating 40 small files each')
})
