// Little-endian 64-bit integers as JS numbers, without BigInt. Raft indexes and terms fit in 2^53; a
// value above that on disk is damage, so the reader reports it instead of losing precision silently.

const UINT32_RANGE = 2 ** 32
const HIGH_WORD_MAX = 2 ** 21 - 1 // keeps high * 2^32 + low within Number.MAX_SAFE_INTEGER

/** Writes a safe non-negative integer; the caller guarantees 8 bytes at `offset`. */
export function writeUint64 (view: DataView, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a safe uint64: ${value}`)
  view.setUint32(offset, value % UINT32_RANGE, true)
  view.setUint32(offset + 4, Math.floor(value / UINT32_RANGE), true)
}

/** Reads a uint64, or returns -1 when it is above Number.MAX_SAFE_INTEGER (the caller treats it as damage). */
export function readUint64 (view: DataView, offset: number): number {
  const low = view.getUint32(offset, true)
  const high = view.getUint32(offset + 4, true)
  if (high > HIGH_WORD_MAX) return -1
  return high * UINT32_RANGE + low
}
