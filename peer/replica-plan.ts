// What should happen to one chunk's copies, decided from the replicated locations, the failure
// detector's view and the advertised capacities alone, so that every peer reaches the same answer
// without talking: exactly one live holder — the best ranked (placement.ts, weighted by capacity) —
// acts for each chunk (peers briefly disagreeing on a weight may both act, or neither for a round:
// extra copies the keeper deletes later, never a lost one). Repair: fewer than R live holders →
// copy to the best-ranked up peers that lack it, and forget holders dead past the grace period.
// Rebalance: a member that joined since this peer started takes the chunk when it ranks among the
// top R and above the worst current holder, which then drops its copy. Peers that said they are short
// of room are copied to last, and never rebalanced onto. Pure.
import { rankPeers } from './placement.js'
import type { WeightOf } from './placement.js'

export interface ChunkView {
  chunk: Uint8Array
  holders: readonly string[] // recorded in metadata
  members: readonly string[] // the group's members (voters and learners)
  up: ReadonlySet<string> // answering now (this peer included)
  dead: ReadonlySet<string> // not answering for longer than the grace period
  newcomers: ReadonlySet<string> // members that joined since this peer started
  replicas: number
  short?: ReadonlySet<string> // members that said they lack room for another chunk (placement.ts)
  weightOf?: WeightOf // placement weights (capacity.ts); absent: equal
}

export interface ChunkPlan {
  copyTo: string[]
  forget: string[] // holders to remove from the locations once the copies are made
}

export const NOTHING: ChunkPlan = { copyTo: [], forget: [] }

/** The live holder that acts for this chunk, or null when no recorded holder is up. */
export function coordinatorOf (view: ChunkView): string | null {
  return rankPeers(view.chunk, view.holders.filter((id) => view.up.has(id)), view.weightOf)[0] ?? null
}

export function planChunk (view: ChunkView): ChunkPlan {
  const { holders, up, dead, replicas } = view
  const live = holders.filter((id) => !dead.has(id))
  const ranked = rankPeers(view.chunk, view.members.filter((id) => !dead.has(id)), view.weightOf)
  const target = Math.min(replicas, ranked.length)
  const short = view.short ?? new Set<string>()
  const lacking = ranked.filter((id) => !holders.includes(id) && up.has(id))
  const deadHolders = holders.filter((id) => dead.has(id))
  if (live.length < target) {
    const roomFirst = [...lacking.filter((id) => !short.has(id)), ...lacking.filter((id) => short.has(id))]
    return { copyTo: roomFirst.slice(0, target - live.length), forget: deadHolders }
  }
  const rank = (id: string): number => { const index = ranked.indexOf(id); return index < 0 ? Infinity : index }
  const worst = live.slice().sort((a, b) => rank(b) - rank(a))[0]
  const newcomer = lacking.find((id) => view.newcomers.has(id) && rank(id) < target && !short.has(id))
  if (newcomer !== undefined && worst !== undefined && rank(worst) > rank(newcomer) && up.has(worst)) {
    return { copyTo: [newcomer], forget: [...deadHolders, worst] }
  }
  return deadHolders.length > 0 ? { copyTo: [], forget: deadHolders } : NOTHING
}

/** A local copy this peer may delete: the metadata lists R live holders and this peer is not one. */
export function isSurplusCopy (self: string, view: ChunkView): boolean {
  if (view.holders.length === 0 || view.holders.includes(self)) return false
  const liveListed = view.holders.filter((id) => view.up.has(id)).length
  return liveListed >= Math.min(view.replicas, view.members.length)
}
