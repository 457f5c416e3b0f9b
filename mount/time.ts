// Wall-clock time in nanoseconds with nanosecond resolution: the epoch offset is taken once, then
// advanced by the monotonic clock, so two operations in a row never get times out of order.
const EPOCH_OFFSET_NS = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint()

export function nowNs (): bigint {
  return EPOCH_OFFSET_NS + process.hrtime.bigint()
}
