// Runs the membership decisions (membership.ts) on a timer: on every peer it keeps the network dialling
// the group's members and expels removed peers; on the leader it proposes the next configuration
// change. A change the Raft core refuses (another one pending, leadership lost) is simply retried on
// a later round with a fresh view.
import type { ReplicatedMetadata } from '../metadata/replicated-metadata.js'
import { ConfChangeType } from '../metadata/raft/messages.js'
import type { MemberHealth } from '../metadata/raft/voter-policy.js'
import type { LogFields, Logger } from './log.js'
import { nextMembershipStep } from './membership.js'
import type { Network } from './net/network.js'
import { short } from './net/network.js'

const ROUND_MS = 1_000
/** A learner is caught up (may be promoted) when its log is within this many entries of the leader's. */
const CAUGHT_UP_LAG = 100
/**
 * A member counts as dead for the voter policy only after this long without answering this leader, so a
 * restart, a GC pause or a short network cut never reshapes the group.
 */
const DEAD_AFTER_MS = 30_000

const CHANGE_EVENTS: Record<number, string> = {
  [ConfChangeType.AddLearner]: 'membership.adding_learner',
  [ConfChangeType.Promote]: 'membership.promoting_voter',
  [ConfChangeType.Remove]: 'membership.removing'
}

export class MembershipKeeper {
  private readonly timer: NodeJS.Timeout
  private readonly metadata: ReplicatedMetadata
  private readonly network: Network
  private readonly logger: Logger
  private lastStep = ''
  private readonly unansweredSince = new Map<string, number>() // member → first round it was not up

  constructor (metadata: ReplicatedMetadata, network: Network, logger: Logger) {
    this.metadata = metadata
    this.network = network
    this.logger = logger
    this.timer = setInterval(() => this.round(), ROUND_MS)
  }

  stop (): void {
    clearInterval(this.timer)
  }

  private round (): void {
    const { node, state } = this.metadata
    const status = node.raw.status()
    const members = [...status.conf.voters, ...status.conf.learners]
    this.network.setMembers(members)
    for (const id of state.removedPeers) this.network.expel(id)
    if (status.role !== 'leader') {
      this.unansweredSince.clear() // a new term of leadership judges afresh
      return
    }
    const now = Date.now()
    const lastIndex = status.lastIndex
    const health = new Map<string, MemberHealth>()
    for (const id of members) {
      const match = id === status.id ? lastIndex : status.progress.get(id)?.match ?? 0
      health.set(id, { alive: id === status.id || this.answering(id, now), caughtUp: lastIndex - match <= CAUGHT_UP_LAG })
    }
    const step = nextMembershipStep({ self: status.id, conf: status.conf, up: this.network.upPeers(), removed: state.removedPeers, health })
    if (step === null) return
    try {
      if ('transferTo' in step) {
        this.note('membership.handing_over_leadership', { reason: 'this peer was removed', to: short(step.transferTo) })
        node.transferLeader(step.transferTo)
      } else {
        this.note(CHANGE_EVENTS[step.change.type] ?? 'membership.changing', { peer: short(step.change.nodeId) })
        node.proposeConfChange(step.change)
      }
    } catch (error) {
      // CONF_CHANGE_PENDING, NOT_LEADER, …: the next round decides again.
      if (!(error instanceof Error) || !('code' in error)) throw error
    }
  }

  private answering (id: string, now: number): boolean {
    if (this.network.peer(id).state === 'up') {
      this.unansweredSince.delete(id)
      return true
    }
    const since = this.unansweredSince.get(id) ?? now
    this.unansweredSince.set(id, since)
    return now - since < DEAD_AFTER_MS
  }

  /** Logs a step once, not on every round that retries it. */
  private note (event: string, fields: LogFields): void {
    const step = JSON.stringify([event, fields])
    if (step !== this.lastStep) this.logger.info(event, fields)
    this.lastStep = step
  }
}
