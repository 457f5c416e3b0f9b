// Real multi-process clusters over hyperswarm on loopback with a local bootstrap node: peers form a
// metadata group from an invite alone, one mount's changes show on the others, the group survives
// kill -9 of its leader, and a restarted peer catches up.
import test from 'brittle'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'

async function sees (cluster: Cluster, peer: ClusterPeer, script: string, what: string): Promise<number> {
  return await cluster.waitFor(async () => (await peer.sh(script)).code === 0, `${peer.name} to see ${what}`, 30_000)
}

test('3 peers: formed from an invite, one filesystem, a new leader after kill -9, catch-up on restart', failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(3)
  t.teardown(async () => await cluster.destroy(), { force: true })
  const [a, b, c] = cluster.peers as [ClusterPeer, ClusterPeer, ClusterPeer]

  const statuses = await Promise.all(cluster.peers.map(async (peer) => (await peer.status())!))
  t.is(new Set(statuses.map((s) => s.leader)).size, 1, 'every peer knows the same leader')
  t.alike(statuses[0]!.voters.slice().sort(), cluster.peers.map((peer) => peer.id).sort(), 'all three are voters')
  t.ok(statuses.every((s) => s.peers.filter((p) => !p.id.startsWith(s.id)).every((p) => p.state === 'up')), 'every peer sees the others up')

  t.is((await a.sh('mkdir -p made/on/a && touch made/on/a/file && mv made/on/a/file made/on/a/moved')).code, 0)
  await sees(cluster, c, 'test -f made/on/a/moved && ! test -e made/on/a/file', "a's mkdir, touch and mv")
  t.pass("c's mount shows a's mkdir, touch and mv")
  t.is((await c.sh('mkdir from-c && ln -s made/on/a from-c/link')).code, 0)
  await sees(cluster, b, 'test "$(readlink from-c/link)" = made/on/a', "c's symlink")
  t.pass("b's mount shows c's symlink")
  t.is((await b.sh('mkdir from-c')).code !== 0, true, 'a name taken on another peer is EEXIST here')
  // tar -x sets owner, mode and mtime of a file before closing it: they commit with its data, and show everywhere.
  t.is((await b.sh(`t=$(mktemp -d) && mkdir $t/s && echo x > $t/s/owned && chown 1234:5678 $t/s/owned && chmod 741 $t/s/owned &&
    touch -d @1000000000 $t/s/owned && tar -C $t/s -cf $t/a.tar owned && tar -C made -xpf $t/a.tar && rm -r $t`)).code, 0, 'tar -x as root on b')
  await sees(cluster, c, 'test "$(stat -c %u:%g:%a:%Y:%s made/owned)" = 1234:5678:741:1000000000:2', "b's file with its owner, mode and mtime")
  t.pass("c's mount shows the file tar made on b, with its owner, mode and mtime")

  const leader = await cluster.leader()
  const survivors = cluster.peers.filter((peer) => peer !== leader)
  await leader.crash()
  const elected = await cluster.waitFor(async () => {
    const views = await Promise.all(survivors.map(async (peer) => await peer.status()))
    const leaders = new Set(views.map((view) => view?.leader))
    return leaders.size === 1 && survivors.some((peer) => views[0]?.leader === peer.id)
  }, 'a new leader among the survivors')
  t.comment(`new leader ${elected} ms after kill -9 of the old one`)
  t.ok(elected < 20_000, 'a new leader within the bound')
  t.is((await survivors[0]!.sh('mkdir after-crash && touch after-crash/x')).code, 0, 'the mounts keep working')
  await sees(cluster, survivors[1]!, 'test -f after-crash/x', 'a change made after the crash')

  await leader.start()
  await sees(cluster, leader, 'test -f after-crash/x && test -f made/on/a/moved', 'what changed while it was down')
  t.pass('the restarted peer caught up')
  await cluster.waitFor(async () => {
    const view = await leader.status()
    const reference = await survivors[0]!.status()
    return view !== null && reference !== null && view.appliedIndex >= reference.commitIndex - 1 &&
      reference.peers.every((p) => p.state === 'up')
  }, 'the restarted peer to be up and applied')
  t.is((await leader.sh('rm -r after-crash made && ls | wc -l')).stdout.trim(), '1', 'and it can change things again')
  await sees(cluster, a === leader ? b : a, '! test -e made && ! test -e after-crash', 'the removal')
}))

test('5 peers: five voters, and a change on a learner-turned-voter shows everywhere', failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(5)
  t.teardown(async () => await cluster.destroy(), { force: true })
  const status = (await cluster.peers[4]!.status())!
  t.is(status.voters.length, 5, 'five voters')
  t.is(status.learners.length, 0, 'no learners left')
  t.is((await cluster.peers[4]!.sh('mkdir -p x/y && touch x/y/z')).code, 0)
  for (const peer of cluster.peers) await sees(cluster, peer, 'test -f x/y/z', "peer4's change")
  t.pass('all five mounts show it')
}))
