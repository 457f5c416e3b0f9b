// The tests' seeded randomness: the project's one PRNG (metadata/raft/rng.ts, xoshiro128**) as a
// float source, so any failing property or fuzz case replays from its printed seed.
import { Rng } from '../../metadata/raft/rng.js'

export function seededRandom (seed: number): () => number {
  const rng = new Rng(seed)
  return () => rng.nextFloat()
}
