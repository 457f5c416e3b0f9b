// A peer that was down while the others wrote enough to snapshot and compact their logs past it can
// only catch up from the leader's snapshot (InstallSnapshot), which it decodes in steps while its
// daemon keeps running: it shows every file written meanwhile, and changes flow both ways afterwards.
import test from 'brittle'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'

const BATCH_FILES = 1000
const BATCHES_MAX = 20

async function sees (cluster: Cluster, peer: ClusterPeer, script: string, what: string): Promise<number> {
  return await cluster.waitFor(async () => (await peer.sh(script)).code === 0, `${peer.name} to see ${what}`, 60_000)
}

async function snapshotIndex (peer: ClusterPeer): Promise<number> {
  return Number((await peer.status())?.metadata?.snapshotIndex ?? 0)
}

test('a peer down while the others compacted their logs past it catches up from the leader\'s snapshot', failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(3)
  t.teardown(async () => await cluster.destroy(), { force: true })
  const leader = await cluster.leader()
  const [laggard, other] = cluster.peers.filter((peer) => peer !== leader) as [ClusterPeer, ClusterPeer]
  t.is((await leader.sh('mkdir many && echo before > many/before')).code, 0)
  await sees(cluster, laggard, 'test "$(cat many/before)" = before', 'the first file')
  const laggardLast = Number((await laggard.status())?.appliedIndex)
  t.is(await laggard.stop(), 0, 'the laggard stops')

  // Files in batches until the leader has snapshotted well past the laggard (it keeps 5,000 entries
  // behind a snapshot, and snapshots after 10,000 at the least).
  let files = 0
  while (await snapshotIndex(leader) < laggardLast + 6_000) {
    if (files >= BATCH_FILES * BATCHES_MAX) throw new Error('the leader never snapshotted')
    const first = files + 1
    files += BATCH_FILES
    t.is((await leader.sh(`cd many && seq ${first} ${files} | xargs -P 4 -n 100 touch`)).code, 0)
  }
  const leaderSnapshot = await snapshotIndex(leader)
  t.comment(`${files} files; the leader's snapshot is at entry ${leaderSnapshot}, the laggard stopped at ${laggardLast}`)

  await laggard.start()
  await sees(cluster, laggard, `test "$(ls many | wc -l)" = ${files + 1}`, `all ${files + 1} files`)
  t.pass('the laggard shows every file written while it was down')
  t.ok(await snapshotIndex(laggard) >= leaderSnapshot, 'it installed the leader\'s snapshot (its log could not have brought it there)')
  t.is((await laggard.sh('echo after > many/after')).code, 0, 'it takes changes')
  await sees(cluster, other, 'test "$(cat many/after)" = after', "the laggard's new file")
  t.is((await other.sh('rm many/before')).code, 0)
  await sees(cluster, laggard, '! test -e many/before', "the other peer's removal")
  t.pass('and changes flow both ways')
}))
