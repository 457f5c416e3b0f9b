// What `swarmfs status` says about each peer: its role in the metadata group, whether the failure
// detector sees it up, when it last answered a heartbeat, and how far its applied log lags this peer's
// commit index (from its own heartbeats), and how many bytes of chunks it can still take (its
// heartbeats again). Members and every peer seen since start are listed.
import type { NodeStatus } from '../metadata/raft/node-api.js'
import type { ProgressStatus } from '../metadata/raft/raw-node.js'
import type { Network } from './net/network.js'

export type PeerRole = 'leader' | 'follower' | 'learner' | 'none'

export interface PeerView {
  id: string
  role: PeerRole
  state: 'up' | 'suspect' | 'down'
  self: boolean
  connected: boolean
  lastHeartbeat: string | null
  /** Committed entries the peer has not applied yet, as far as this peer knows (null: unknown). */
  lag: number | null
  /** The leader's view of the peer's log (only on the leader). */
  match: number | null
  /** Bytes of chunks the peer can still store, as it last said (null: unknown). */
  roomBytes: number | null
}

export function peerViews (self: string, raft: NodeStatus, progress: ReadonlyMap<string, ProgressStatus>, network: Network | undefined): PeerView[] {
  const { voters, learners } = raft.members
  const roleOf = (id: string): PeerRole => {
    if (id === raft.leader && voters.includes(id)) return 'leader'
    if (voters.includes(id)) return 'follower'
    return learners.includes(id) ? 'learner' : 'none'
  }
  const ids = [...new Set([self, ...voters, ...learners, ...(network?.knownPeers() ?? [])])].sort()
  return ids.map((id) => {
    if (id === self) {
      return { id, role: roleOf(id), state: 'up', self: true, connected: true, lastHeartbeat: new Date().toISOString(), lag: raft.commit - raft.applied, match: progress.get(id)?.match ?? null, roomBytes: network?.roomOf(id) ?? null }
    }
    const remote = network?.peer(id)
    return {
      id,
      role: roleOf(id),
      state: remote?.state ?? 'down',
      self: false,
      connected: remote?.connected ?? false,
      lastHeartbeat: remote?.lastHeartbeatMs === null || remote === undefined ? null : new Date(remote.lastHeartbeatMs).toISOString(),
      lag: remote?.beat === null || remote === undefined ? null : Math.max(0, raft.commit - remote.beat.applied),
      match: progress.get(id)?.match ?? null,
      roomBytes: network?.roomOf(id) ?? null
    }
  })
}
