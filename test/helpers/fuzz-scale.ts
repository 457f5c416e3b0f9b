// How many hostile inputs a fuzz test tries: its CI count times SWARMFS_FUZZ_SCALE (1 when unset), so a
// longer run on demand is `SWARMFS_FUZZ_SCALE=100 npm test` and the same seeds still replay.
export function fuzzCases (ciCount: number): number {
  const scale = Number(process.env.SWARMFS_FUZZ_SCALE ?? 1)
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`SWARMFS_FUZZ_SCALE must be a positive number, not ${process.env.SWARMFS_FUZZ_SCALE}`)
  return Math.max(1, Math.round(ciCount * scale))
}
