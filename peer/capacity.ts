// A peer's weight in placement (placement.ts): the capacity swarmfs may use on its disk — its room for
// more chunks plus the chunks it stores, so it does not swing with swarmfs's own writes or deletes —
// quantized to steps of 2^(1/4) (~19 %) so that small changes never reshuffle placement. Peers
// advertise the step, a "capacity level", in their heartbeats, and every peer derives the same weights
// from the same levels. A level moves only once the capacity is a quarter step past the middle between
// two levels (hysteresis), so a disk hovering there does not flap. Peers that advertised nothing weigh
// as the median of those that did (1 when none did: plain rendezvous hashing). Pure.

/** The capacity of level 0; smaller capacities count as level 0 too. */
export const CAPACITY_UNIT_BYTES = 1024 * 1024
export const LEVELS_PER_DOUBLING = 4
/** 2^(255/4) MiB is far beyond any disk; the wire refuses larger levels. */
export const CAPACITY_LEVEL_MAX = 255
const HYSTERESIS_LEVELS = 0.25

/** The capacity level of `capacityBytes`; `previous` (this peer's last level) is kept unless the capacity clearly moved. */
export function capacityLevel (capacityBytes: number, previous: number | null = null): number {
  assert(Number.isFinite(capacityBytes) && capacityBytes >= 0, `bad capacity ${capacityBytes}`)
  assert(previous === null || isCapacityLevel(previous), `bad previous level ${String(previous)}`)
  const exact = LEVELS_PER_DOUBLING * Math.log2(Math.max(capacityBytes, CAPACITY_UNIT_BYTES) / CAPACITY_UNIT_BYTES)
  if (previous !== null && Math.abs(exact - previous) < 0.5 + HYSTERESIS_LEVELS) return previous
  return Math.min(CAPACITY_LEVEL_MAX, Math.round(exact))
}

export function isCapacityLevel (level: number): boolean {
  return Number.isSafeInteger(level) && level >= 0 && level <= CAPACITY_LEVEL_MAX
}

/** The placement weight of a level: doubling the capacity doubles the weight. */
export function levelWeight (level: number): number {
  assert(isCapacityLevel(level), `bad capacity level ${level}`)
  return 2 ** (level / LEVELS_PER_DOUBLING)
}

/** The capacity a level stands for (its step's middle), for status and metrics. */
export function levelBytes (level: number): number {
  return Math.round(CAPACITY_UNIT_BYTES * levelWeight(level))
}

/**
 * Placement weights from the levels peers advertised (null: nothing yet). A peer missing from `levels`
 * or without a level weighs the median level (the lower middle of an even count, so it is a level).
 */
export function placementWeights (levels: ReadonlyMap<string, number | null>): (peer: string) => number {
  const known = [...levels.values()].filter((level): level is number => level !== null).sort((a, b) => a - b)
  const fallback = known.length === 0 ? 1 : levelWeight(known[Math.floor((known.length - 1) / 2)]!)
  const weights = new Map<string, number>()
  for (const [peer, level] of levels) if (level !== null) weights.set(peer, levelWeight(level))
  return (peer) => weights.get(peer) ?? fallback
}

function assert (condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion: ${message}`)
}
