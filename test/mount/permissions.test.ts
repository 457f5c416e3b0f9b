// Permissions with allow_other: a non-root user (nobody, via setpriv) owns what it creates, and the
// mount's own checks (mount/permissions.ts, in place of the kernel's default_permissions) against the
// owners and modes we report keep it out of root's files, with the errnos Linux gives.
import path from 'node:path'
import test from 'brittle'
import type { Test } from 'brittle'
import { NOBODY, errnoOf, fieldOf, probe, q, shOk, startPeer } from '../helpers/mount.js'
import type { TestPeer } from '../helpers/peer.js'
import { sh } from '../helpers/peer.js'

const T = { timeout: 120_000 }
const AS_NOBODY = `setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups`
const AS_OTHER = 'setpriv --reuid=65533 --regid=65533 --clear-groups'

/** A peer mounted with allow_other whose mountpoint other users can reach. */
async function openPeer (t: Test): Promise<TestPeer> {
  const peer = await startPeer(t, { allowOther: true })
  await shOk(t, `chmod 755 ${q(path.dirname(peer.mountpoint))} && chmod 755 ${q(peer.mountpoint)}`, 'mountpoint reachable by other users')
  return peer
}

test('files nobody creates in a 0777 directory are owned by 65534', T, async (t) => {
  const peer = await openPeer(t)
  const m = peer.mountpoint
  await shOk(t, `mkdir -m 0777 ${m}/pub && chmod 0777 ${m}/pub`, 'world-writable directory')
  await shOk(t, `${AS_NOBODY} bash -c 'echo mine > ${m}/pub/file && mkdir ${m}/pub/dir && ln -s file ${m}/pub/link && mkfifo ${m}/pub/fifo && cp ${m}/pub/file ${m}/pub/dir/copy'`, 'nobody creates a file, dir, symlink, fifo and a copy')
  t.is(await shOk(t, `stat -c '%n %u:%g' ${m}/pub/file ${m}/pub/dir ${m}/pub/link ${m}/pub/fifo ${m}/pub/dir/copy | sed 's|^${m}/pub/||'`, 'stat'),
    ['file', 'dir', 'link', 'fifo', 'dir/copy'].map((name) => `${name} 65534:65534\n`).join(''), 'every entry owned by 65534:65534')
  t.is(await shOk(t, `${AS_NOBODY} cat ${m}/pub/dir/copy`, 'nobody reads its own file'), 'mine\n', 'content')
  await shOk(t, `${AS_NOBODY} chmod 600 ${m}/pub/file && ${AS_NOBODY} touch -d '2001-01-01' ${m}/pub/file`, 'nobody may chmod and touch -d its own file')
  const other = await sh(`${AS_OTHER} cat ${m}/pub/file`)
  t.ok(other.code !== 0 && other.stderr.includes('Permission denied'), `another user cannot read nobody's 0600 file: ${other.stderr.trim()}`)
})

test("nobody cannot read, write, chmod or chown root's 0600 file, nor write into root's 0755 directory", T, async (t) => {
  const peer = await openPeer(t)
  const m = peer.mountpoint
  await shOk(t, `echo secret > ${m}/secret && chmod 600 ${m}/secret && mkdir ${m}/rootdir && echo readable > ${m}/rootdir/public`, 'root files')
  const read = await sh(`${AS_NOBODY} cat ${m}/secret`)
  t.ok(read.code !== 0 && read.stderr.includes('Permission denied'), `cat: ${read.stderr.trim()}`)
  t.absent(read.stdout.includes('secret'), 'no content leaked')
  const chmod = await sh(`${AS_NOBODY} chmod 644 ${m}/secret`)
  t.ok(chmod.code !== 0 && chmod.stderr.includes('Operation not permitted'), `chmod: ${chmod.stderr.trim()}`)
  const chown = await sh(`${AS_NOBODY} chown ${NOBODY} ${m}/secret`)
  t.ok(chown.code !== 0 && chown.stderr.includes('Operation not permitted'), `chown: ${chown.stderr.trim()}`)
  const touch = await sh(`${AS_NOBODY} touch -d 2001-01-01 ${m}/secret`)
  t.ok(touch.code !== 0, `touch -d of someone else's file: ${touch.stderr.trim()}`)
  const r = await probe([
    ['open', `${m}/secret`, 'r'], ['open', `${m}/secret`, 'r+'], ['writeFile', `${m}/rootdir/new`, 'x'], ['unlink', `${m}/rootdir/public`],
    ['rename', `${m}/rootdir/public`, `${m}/rootdir/moved`], ['mkdir', `${m}/rootdir/sub`], ['readFile', `${m}/rootdir/public`], ['chmod', `${m}/secret`, 0o644]
  ], { uid: NOBODY })
  t.alike(r.map(errnoOf), ['EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES', 'OK', 'EPERM'], 'exact errnos for nobody')
  t.is(await shOk(t, `cat ${m}/secret; stat -c '%a %u' ${m}/secret; ls ${m}/rootdir`, 'root checks'), 'secret\n600 0\npublic\n', 'nothing changed')
})

test('sticky directory: only the owner may remove or rename an entry', T, async (t) => {
  const peer = await openPeer(t)
  const m = peer.mountpoint
  await shOk(t, `mkdir ${m}/tmp && chmod 1777 ${m}/tmp && ${AS_NOBODY} bash -c 'echo n > ${m}/tmp/nobodys'`, 'sticky dir with a file of nobody')
  const rm = await sh(`${AS_OTHER} rm -f ${m}/tmp/nobodys`)
  t.ok(rm.code !== 0 && rm.stderr.includes('Operation not permitted'), `another user cannot remove it: ${rm.stderr.trim()}`)
  const mv = await sh(`${AS_OTHER} mv ${m}/tmp/nobodys ${m}/tmp/stolen`)
  t.ok(mv.code !== 0, `another user cannot rename it: ${mv.stderr.trim()}`)
  await shOk(t, `${AS_NOBODY} rm ${m}/tmp/nobodys`, 'its owner can')
  const gone = await probe([['stat', `${m}/tmp/nobodys`]])
  t.is(errnoOf(gone[0]), 'ENOENT', 'removed')
})

test('group permissions: a member of the file group reads a 0640 file, others do not', T, async (t) => {
  const peer = await openPeer(t)
  const m = peer.mountpoint
  await shOk(t, `echo grp > ${m}/g && chown 0:4242 ${m}/g && chmod 640 ${m}/g`, 'group-readable file')
  t.is(await shOk(t, `setpriv --reuid=${NOBODY} --regid=4242 --clear-groups cat ${m}/g`, 'member reads'), 'grp\n', 'group member reads')
  const denied = await sh(`${AS_NOBODY} cat ${m}/g`)
  t.ok(denied.code !== 0 && denied.stderr.includes('Permission denied'), 'non-member is denied')
  const created = await probe([['writeFile', `${m}/g2`, 'x'], ['stat', `${m}/g2`]])
  t.is(fieldOf(created[1], 'uid'), '0', 'root-created file owned by root')
})

test('search permission: nobody cannot reach into a 0700 directory, through any op', T, async (t) => {
  const peer = await openPeer(t)
  const m = peer.mountpoint
  await shOk(t, `mkdir -m 0700 ${m}/private && mkdir -m 0777 ${m}/private/open && echo x > ${m}/private/open/f && chmod 666 ${m}/private/open/f`, 'private tree')
  // Root walks the path first, so the kernel holds the dentries: the checks must not depend on lookups.
  await shOk(t, `stat ${m}/private/open/f > /dev/null && ls ${m}/private/open > /dev/null`, 'root looks first')
  const r = await probe([
    ['stat', `${m}/private/open/f`], ['readFile', `${m}/private/open/f`], ['writeFile', `${m}/private/open/new`, 'x'],
    ['unlink', `${m}/private/open/f`], ['readdir', `${m}/private/open`], ['readdir', `${m}/private`], ['stat', `${m}/private`],
    ['access', `${m}/private/open/f`, 0], ['chmod', `${m}/private/open/f`, 0o600]
  ], { uid: NOBODY })
  t.alike(r.map(errnoOf), ['EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES', 'OK', 'EACCES', 'EACCES'], 'exact errnos for nobody')
  t.is(await shOk(t, `ls ${m}/private/open; stat -c %a ${m}/private/open/f`, 'unchanged'), 'f\n666\n', 'nothing changed')
})

test('FIFOs and sockets, which the kernel opens without asking the daemon, keep their mode bits', T, async (t) => {
  const peer = await openPeer(t)
  const m = peer.mountpoint
  const node = q(process.execPath)
  await shOk(t, `mkdir -m 0777 ${m}/pub && chmod 0777 ${m}/pub && mkfifo -m 0600 ${m}/pub/roots && mkfifo -m 0666 ${m}/pub/open && ` +
    `${AS_NOBODY} mkfifo -m 0077 ${m}/pub/own && ${node} -e ${q(`require('net').createServer().listen('${m}/pub/sock', () => process.exit(0))`)} && chmod 0700 ${m}/pub/sock`,
  'FIFOs of root (0600, 0666) and of nobody (0077), a socket of root (0700)')
  const attempts = `
const { closeSync, constants: { O_NONBLOCK, O_RDONLY, O_RDWR }, openSync } = require('node:fs')
const fifo = (name, flags) => { try { closeSync(openSync('${m}/pub/' + name, flags)); return 'OK' } catch (error) { return error.code } }
const opens = ['roots', 'own', 'open'].flatMap((name) => [fifo(name, O_RDONLY | O_NONBLOCK), fifo(name, O_RDWR)])
require('net').connect('${m}/pub/sock').on('connect', () => { console.log(...opens, 'OK'); process.exit(0) }).on('error', (error) => console.log(...opens, error.code))`
  t.is(await shOk(t, `${AS_NOBODY} ${node} -e ${q(attempts)}`, 'nobody opens them'), 'EACCES EACCES EACCES EACCES OK OK EACCES\n',
    "not root's 0600 FIFO, not its own 0077 one (owner bits), the 0666 one; not root's 0700 socket")
  t.is(await shOk(t, `${node} -e ${q(attempts)}`, 'root opens them'), 'OK OK OK OK OK OK ECONNREFUSED\n', 'root may (nobody listens on the socket)')
})

test('access(2), touch with write permission, execute bits, and setgid on chmod outside the group', T, async (t) => {
  const peer = await openPeer(t)
  const m = peer.mountpoint
  await shOk(t, `echo x > ${m}/rw && chmod 666 ${m}/rw && echo x > ${m}/ro && chmod 644 ${m}/ro && printf '#!/bin/sh\\necho ran\\n' > ${m}/script && chmod 744 ${m}/script && echo x > ${m}/noexec && chmod 644 ${m}/noexec`, 'files of root')
  const r = await probe([
    ['access', `${m}/rw`, 6], ['access', `${m}/ro`, 4], ['access', `${m}/ro`, 2], ['access', `${m}/script`, 1], ['access', `${m}/missing`, 0],
    ['utimes', `${m}/rw`, 1000, 1000], ['truncate', `${m}/rw`, 0], ['truncate', `${m}/ro`, 0], ['link', `${m}/ro`, `${m}/ro-link`]
  ], { uid: NOBODY })
  t.alike(r.map(errnoOf), ['OK', 'OK', 'EACCES', 'EACCES', 'ENOENT', 'EPERM', 'OK', 'EACCES', 'EPERM'], 'exact errnos for nobody')
  await shOk(t, `${AS_NOBODY} touch ${m}/rw`, 'nobody may touch (set to now) a file it may write')
  const denied = await sh(`${AS_NOBODY} ${m}/script`)
  t.ok(denied.code !== 0 && denied.stderr.includes('Permission denied'), `nobody cannot run root's 0744 script: ${denied.stderr.trim()}`)
  t.is(await shOk(t, `${m}/script`, 'root runs it'), 'ran\n', 'owner executes')
  const rootExec = await probe([['access', `${m}/noexec`, 1], ['access', `${m}/noexec`, 6]])
  t.alike(rootExec.map(errnoOf), ['EACCES', 'OK'], 'root cannot execute a file without x bits, but reads and writes it')
  await shOk(t, `mkdir -m 0777 ${m}/pub && ${AS_NOBODY} bash -c 'echo y > ${m}/pub/own && chmod 2755 ${m}/pub/own' && chown ${NOBODY}:4242 ${m}/pub/own`, 'nobody\'s file in group 4242')
  await shOk(t, `${AS_NOBODY} chmod 2755 ${m}/pub/own`, 'nobody chmods its file')
  t.is(await shOk(t, `stat -c %a ${m}/pub/own`, 'mode'), '755\n', 'setgid dropped: nobody is not in group 4242')
})
