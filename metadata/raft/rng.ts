// The only randomness the core sees: a small seeded PRNG (xoshiro128**, seeded through splitmix32),
// injected through Config so every run is reproducible from its seed. etcd uses a global
// crypto/rand for election jitter, which makes its tests override it; we do not.
import { assert } from './assert.js'

export interface RandomSource {
  // A uniformly distributed integer in [0, bound). bound is a positive safe integer ≤ 2^32.
  nextInt (bound: number): number
}

export class Rng implements RandomSource {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor (seed: number) {
    assert(Number.isSafeInteger(seed), 'rng seed must be a safe integer')
    let x = (seed >>> 0) ^ Math.floor(seed / 0x100000000)
    const next = (): number => {
      // splitmix32: spreads a small seed over the 128-bit state so that seeds 1, 2, 3 diverge at once.
      x = (x + 0x9e3779b9) | 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.s0 = next()
    this.s1 = next()
    this.s2 = next()
    this.s3 = next()
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  nextUint32 (): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  nextInt (bound: number): number {
    assert(Number.isSafeInteger(bound) && bound > 0 && bound <= 0x100000000, 'rng bound out of range')
    // Multiply-shift instead of modulo: the bias is below 2^-32 per draw, irrelevant for jitter and tests.
    const value = Math.floor((this.nextUint32() / 0x100000000) * bound)
    assert(value >= 0 && value < bound, 'rng value out of range')
    return value
  }

  // A float in [0, 1); convenient for fault probabilities in the simulator.
  nextFloat (): number {
    return this.nextUint32() / 0x100000000
  }

  chance (probability: number): boolean {
    return this.nextFloat() < probability
  }

  pick<T> (items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty list')
    return items[this.nextInt(items.length)] as T
  }
}

function rotl (x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
