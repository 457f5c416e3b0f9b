// When a cluster under faults is whole again: a restarted peer has caught up with its leader, or every
// peer agrees on leader and term, has applied everything committed and sees every other peer up.
import type { Cluster, ClusterPeer, PeerStatus } from '../helpers/cluster.js'

/** Resolves once `peer` follows a running leader and has applied what that leader had committed. */
export async function waitCaughtUp (cluster: Cluster, peer: ClusterPeer, timeoutMs: number): Promise<number> {
  return await cluster.waitFor(async () => {
    // The leader first: under a running workload its commit index moves on while we ask.
    const before = await peer.status()
    const leader = cluster.peers.find((other) => other.id === before?.leader && other.running)
    if (leader === undefined) return false
    const view = await leader.status()
    const own = leader === peer ? view : await peer.status()
    return view !== null && own !== null && view.role === 'leader' && own.leader === leader.id && own.appliedIndex >= view.commitIndex
  }, `${peer.name} to catch up with the leader`, timeoutMs)
}

/** Resolves once every peer runs, names the same leader in the same term, and applied the same index. */
export async function waitConverged (cluster: Cluster, timeoutMs: number): Promise<PeerStatus[]> {
  let views: PeerStatus[] = []
  await cluster.waitFor(async () => {
    if (!cluster.peers.every((peer) => peer.running)) return false
    const statuses = await Promise.all(cluster.peers.map(async (peer) => await peer.status()))
    if (statuses.some((status) => status === null)) return false
    views = statuses as PeerStatus[]
    const commit = Math.max(...views.map((view) => view.commitIndex))
    return views[0]!.leader !== '' &&
      new Set(views.map((view) => view.leader)).size === 1 && new Set(views.map((view) => view.term)).size === 1 &&
      views.every((view) => view.appliedIndex === commit) &&
      views.every((view) => view.peers.filter((other) => !other.id.startsWith(view.id)).every((other) => other.state === 'up'))
  }, 'every peer to agree on the leader, apply everything and see the others up', timeoutMs)
  return views
}
