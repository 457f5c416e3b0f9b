// Names another peer changed while this peer's kernel still has them cached (entry_timeout, 10 s):
// opening such a name answers ESTALE, and the kernel looks the path up afresh and retries, as it does
// for NFS. So a file removed on one peer can be created again at once through another that had just
// read it (an editor saving, `echo x > f`), and a file renamed away reads as gone, not as an error.
// A name replaced by one of another type (a directory by a file…) is seen as the new one at once:
// getattr answers ESTALE where the kernel's cached inode would change type (which it fails with EIO).
// And mkdir, ln, mkfifo or an O_EXCL create of a name another peer just removed succeed at once.
import path from 'node:path'
import test from 'brittle'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'

test('a name removed or renamed on one peer can be created again at once on another that had it cached', failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(3)
  t.teardown(async () => await cluster.destroy(), { force: true })
  const [a, b] = cluster.peers as [ClusterPeer, ClusterPeer]
  const ok = async (peer: ClusterPeer, script: string, message: string): Promise<string> => {
    const result = await peer.sh(script)
    t.is(result.code, 0, `${message}${result.code === 0 ? '' : `: ${result.stderr.trim()}`}`)
    return result.stdout
  }
  // b's open refreshes its state first (close-to-open), so a's change is seen by its next open.
  await ok(a, 'echo one > f && echo g > g', 'A writes f and g')
  t.is(await ok(b, 'cat f', 'B reads f (its kernel caches the name)'), 'one\n')
  await ok(a, 'rm f', 'A removes f')
  await ok(b, 'echo two > f', 'B creates f again at once')
  t.is(await ok(a, 'cat f', 'A reads it'), 'two\n', 'with B\'s content')

  t.is(await ok(b, 'cat g', 'B reads g'), 'g\n')
  await ok(a, 'mv g h', 'A renames g away')
  const gone = await b.sh('cat g')
  t.ok(gone.code !== 0 && gone.stderr.includes('No such file or directory'), `B's cat of g: ENOENT (${gone.stderr.trim()})`)
  await ok(b, `cat ${path.join(b.mountpoint, 'h')} > /dev/null && echo new > g`, 'B reads h and creates g anew')
  t.is(await ok(a, 'cat g h', 'A reads both'), 'new\ng\n')

  const steps: Array<[string, string, string]> = [
    ['mkdir x && touch x/in', 'directory', 'stat -c %F x'],
    ['rm -r x && echo file > x', 'regular file', 'stat -c %F x'],
    ['rm x && ln -s g x', 'symbolic link', 'stat -c %F x'],
    ['rm x && mkdir x', 'directory', 'ls -ld x > /dev/null && stat -c %F x'],
    ['rmdir x && echo again > x', 'regular file', 'chmod 600 x && stat -c %F x']
  ]
  for (const [change, type, look] of steps) {
    await ok(a, change, `A: ${change}`)
    const seen = await ok(b, look, `B: ${look}`)
    t.ok(seen.trim().endsWith(type), `B sees the ${type} (${seen.trim().replace(/\n/g, ' ')})`)
  }
  t.is(await ok(b, 'cat x', 'B reads the file'), 'again\n')

  // Exclusive creates: the kernel looks a cached name up again before it answers EEXIST itself.
  for (const make of ['mkdir x', 'ln -s g x', 'mkfifo x', 'ln g x', 'set -C && echo new > x']) {
    t.is(await ok(b, 'stat -c %F x', 'B has x cached'), await ok(a, 'stat -c %F x', 'as A sees it'))
    await ok(a, 'rm -r x', 'A removes x')
    await ok(b, make, `B: ${make}, at once`)
  }
}))
