// File contents for the workload: sizes drawn to cover the interesting cases (empty, a few bytes, tens
// of KiB, around and across the 4 MiB chunk boundary) and bytes from the seeded PRNG.
import type { Rng } from '../../metadata/raft/rng.js'

const KiB = 1024
const MiB = 1024 * KiB

export interface SizeProfile {
  /** Share of writes of 1–8 MiB (one to three chunks); the rest are below 1 MiB, mostly small. */
  largeShare: number
}

/** A size for new data; `allowLarge` false keeps it under 1 MiB (memory or file-size bounds reached). */
export function pickSize (rng: Rng, profile: SizeProfile, allowLarge: boolean): number {
  const draw = rng.nextFloat()
  if (allowLarge && draw < profile.largeShare) {
    // Half of the large ones straddle the chunk boundary closely, where off-by-one bugs live.
    if (rng.chance(0.5)) return 4 * MiB + rng.nextInt(2 * 64 * KiB) - 64 * KiB
    return MiB + rng.nextInt(7 * MiB)
  }
  if (draw < 0.1) return rng.nextInt(16) // empty or a few bytes
  if (draw < 0.75) return rng.nextInt(64 * KiB)
  return 64 * KiB + rng.nextInt(MiB - 64 * KiB)
}

export function randomBytes (rng: Rng, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size)
  let offset = 0
  for (; offset + 4 <= size; offset += 4) bytes.writeUInt32LE(rng.nextUint32(), offset)
  for (; offset < size; offset++) bytes[offset] = rng.nextInt(256)
  return bytes
}
