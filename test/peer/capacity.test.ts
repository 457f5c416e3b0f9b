// Proves the capacity levels behind placement weights: a level is a quarter of a doubling, so doubling
// the capacity adds four levels and doubles the weight; anything under 1 MiB is level 0; a level holds
// until the capacity is clearly past the middle to the next one, so seeded walks of small changes
// (±2 %) move it no more often than the distance travelled allows and a capacity swinging back and
// forth within half a level moves it once at most; peers that advertised nothing weigh the median level.
import test from 'brittle'
import { CAPACITY_LEVEL_MAX, CAPACITY_UNIT_BYTES, capacityLevel, levelBytes, levelWeight, placementWeights } from '../../peer/capacity.js'
import { seededRandom } from '../helpers/seeded-random.js'

const GiB = 1024 * 1024 * 1024

test('levels: four per doubling, weights double with the capacity, small disks are level 0', (t) => {
  t.is(capacityLevel(0), 0, 'nothing: level 0')
  t.is(capacityLevel(CAPACITY_UNIT_BYTES / 2), 0, 'under the unit: level 0')
  t.is(capacityLevel(GiB), 40, '1 GiB = 2^10 units: level 40')
  t.is(capacityLevel(2 * GiB), 44, 'twice as much: four levels more')
  t.is(levelWeight(44) / levelWeight(40), 2, 'and twice the weight')
  t.is(levelBytes(40), GiB, 'a level stands for its capacity')
  t.is(capacityLevel(2 ** 90), CAPACITY_LEVEL_MAX, 'absurd capacities are capped')
  t.exception(() => capacityLevel(-1), /bad capacity/)
  t.exception(() => levelWeight(CAPACITY_LEVEL_MAX + 1), /bad capacity level/)
})

test('hysteresis: a level holds until the capacity is clearly past the middle to the next', (t) => {
  const at = (level: number): number => CAPACITY_UNIT_BYTES * 2 ** (level / 4)
  t.is(capacityLevel(at(40.6)), 41, 'from nothing: the nearest level')
  t.is(capacityLevel(at(40.6), 40), 40, 'past the middle, but not by a quarter step: kept')
  t.is(capacityLevel(at(40.8), 40), 41, 'a quarter step past the middle: moved')
  t.is(capacityLevel(at(40.3), 41), 41, 'and back down below the middle: kept')
  t.is(capacityLevel(at(39.2), 41), 39, 'a big change moves at once')

  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000)
  t.comment(`SEED=${seed}`)
  const random = seededRandom(seed)
  let worst = 0
  let flaps = 0
  for (let walk = 0; walk < 200; walk++) {
    let capacity = GiB * (1 + random() * 1000)
    let level = capacityLevel(capacity)
    let changes = 0
    let travelled = 0 // in levels
    for (let step = 0; step < 200; step++) {
      const next = capacity * (1 + (random() - 0.5) * 0.04) // ±2 %
      travelled += Math.abs(4 * Math.log2(next / capacity))
      capacity = next
      const moved = capacityLevel(capacity, level)
      if (moved !== level) changes++
      level = moved
    }
    // Each change after the first needs the capacity to travel at least half a level.
    worst = Math.max(worst, changes - (1 + travelled / 0.5))
    // Going back and forth between two capacities less than half a level apart: one change at most.
    const base = GiB * (1 + random() * 1000)
    const other = base * 2 ** ((random() * 0.49) / 4)
    let swinging = capacityLevel(base)
    let swings = 0
    for (let step = 0; step < 100; step++) {
      const moved = capacityLevel(step % 2 === 0 ? other : base, swinging)
      if (moved !== swinging) swings++
      swinging = moved
    }
    if (swings > 1) flaps++
  }
  t.ok(worst <= 0, 'random small changes move the level no more often than the distance they travel allows')
  t.is(flaps, 0, 'a capacity swinging within half a level changes the level once at most')
})

test('weights: advertised levels, the median for peers that said nothing, 1 when nobody did', (t) => {
  const weightOf = placementWeights(new Map<string, number | null>([['a', 40], ['b', 44], ['c', null], ['d', 48]]))
  t.is(weightOf('a'), levelWeight(40))
  t.is(weightOf('d'), levelWeight(48))
  t.is(weightOf('c'), levelWeight(44), 'silent: the median of 40, 44, 48')
  t.is(weightOf('nobody-knows'), levelWeight(44), 'unknown: the median too')
  t.is(placementWeights(new Map([['a', 40], ['b', 48]]))('x'), levelWeight(40), 'an even count: the lower middle, still a level')
  t.is(placementWeights(new Map([['a', null]]))('a'), 1, 'nobody advertised: all weigh 1')
})
