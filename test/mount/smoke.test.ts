// A first real mount: a daemon child process, shell tools in other child processes, a clean stop.
import test from 'brittle'
import { TestPeer, run } from '../helpers/peer.js'

test('a peer mounts, serves files to shell tools, and stops cleanly', async (t) => {
  const peer = await TestPeer.start()
  t.teardown(async () => { await peer.destroy() })
  const m = peer.mountpoint
  t.is(await run(`echo hello > ${m}/a && cat ${m}/a`), 'hello\n')
  await run(`mkdir -p ${m}/x/y && ln -s ../a ${m}/x/link && ln ${m}/a ${m}/hard`)
  t.is(await run(`readlink ${m}/x/link`), '../a\n')
  t.is(await run(`stat -c %h ${m}/a`), '2\n')
  t.is(await peer.stop(), 0, 'SIGTERM exits 0')
  t.absent(await peer.isMounted(), 'unmounted after stop')
})
