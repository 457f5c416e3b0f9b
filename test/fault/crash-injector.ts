// Crash faults on a real cluster: kill -9 of chosen peers (the leader or any), a random time down, a
// restart, and a wait until the restarted peers caught up. While a peer is disturbed the workload sends
// it nothing new, though operations already running on its mount are cut off by the kill.
import type { Rng } from '../../metadata/raft/rng.js'
import type { Cluster, ClusterPeer } from '../helpers/cluster.js'
import { waitCaughtUp } from './cluster-health.js'
import type { EventLog } from './event-log.js'

const CATCH_UP_WAIT_MS = 90_000

export interface CrashPlan {
  /** How many peers go down together: a minority, or all of them (nothing commits until they are back). */
  count: number
  /** Whether the leader is among them. */
  leader: boolean
  /** Share of the other victims chosen among peers with an operation on their mount right now. */
  busyShare: number
  downMsMin: number
  downMsMax: number
}

export class CrashInjector {
  kills = 0
  leaderKills = 0
  /** Faults that took down every peer at once. */
  wholeClusterKills = 0
  readonly disturbed = new Set<ClusterPeer>()
  private readonly cluster: Cluster
  private readonly rng: Rng
  private readonly log: EventLog
  private readonly say: (line: string) => void
  private readonly busy: () => ClusterPeer[]

  constructor (cluster: Cluster, rng: Rng, log: EventLog, say: (line: string) => void, busy: () => ClusterPeer[]) {
    this.cluster = cluster
    this.rng = rng
    this.log = log
    this.say = say
    this.busy = busy
  }

  /** Peers the workload may use now. */
  available (): ClusterPeer[] {
    return this.cluster.peers.filter((peer) => peer.running && !this.disturbed.has(peer))
  }

  async crashAndRestart (plan: CrashPlan): Promise<void> {
    const victims = await this.victims(plan)
    const leader = plan.leader ? victims[0] : undefined
    for (const victim of victims) this.disturbed.add(victim)
    const downMs = plan.downMsMin + this.rng.nextInt(plan.downMsMax - plan.downMsMin + 1)
    const names = victims.map((victim) => victim === leader ? `${victim.name} (leader)` : victim.name).join(', ')
    this.say(`kill -9 ${names}; restart in ${downMs} ms`)
    this.log.add(`kill -9 ${names}`)
    await Promise.all(victims.map(async (victim) => await victim.crash()))
    this.kills += victims.length
    if (leader !== undefined) this.leaderKills++
    if (victims.length === this.cluster.peers.length) this.wholeClusterKills++
    try {
      await new Promise((resolve) => setTimeout(resolve, downMs))
      await Promise.all(victims.map(async (victim) => await victim.start()))
      this.log.add(`restarted ${names}`)
      const caughtUp = await Promise.all(victims.map(async (victim) => await waitCaughtUp(this.cluster, victim, CATCH_UP_WAIT_MS)))
      this.say(`${names} back and caught up ${Math.max(...caughtUp)} ms after ${victims.length > 1 ? 'their mounts' : 'its mount'} answered`)
    } finally {
      for (const victim of victims) this.disturbed.delete(victim)
    }
  }

  private async victims (plan: CrashPlan): Promise<ClusterPeer[]> {
    const chosen: ClusterPeer[] = []
    if (plan.leader) chosen.push(await this.cluster.leader())
    while (chosen.length < plan.count) {
      const others = this.cluster.peers.filter((peer) => peer.running && !chosen.includes(peer))
      const busy = this.busy().filter((peer) => others.includes(peer))
      const from = busy.length > 0 && this.rng.chance(plan.busyShare) ? busy : others
      if (from.length === 0) break
      chosen.push(from[this.rng.nextInt(from.length)]!)
    }
    return chosen
  }
}
