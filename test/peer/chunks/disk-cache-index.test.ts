// Proves the disk cache index against a naive model (a list in read order), over seeded random runs of
// admits, reads, removals and evictions: the order is least recently read first, the byte count is the
// sum of the entries, evictions take the least recently read copies that are not busy and exactly as
// many as bring the tier within its bound (or free the bytes asked for), and after evicting what it
// says the tier is within its bound whenever nothing is busy. Also: an index rebuilt after a restart
// orders copies by their file times. SEED=… replays a run.
import test from 'brittle'
import { DiskCacheIndex } from '../../../peer/chunks/disk-cache-index.js'
import { fuzzCases } from '../../helpers/fuzz-scale.js'
import { seededRandom } from '../../helpers/seeded-random.js'

interface ModelEntry { key: string, bytes: number }

/** What the index should answer: the least recently read entries not busy, until `bytes` are covered. */
function modelVictims (model: readonly ModelEntry[], bytes: number, busy: ReadonlySet<string>): string[] {
  const chosen: string[] = []
  let freed = 0
  for (const entry of model) {
    if (freed >= bytes) break
    if (busy.has(entry.key)) continue
    chosen.push(entry.key)
    freed += entry.bytes
  }
  return chosen
}

test('property: the index agrees with a naive LRU model, and evictions keep it within its bound', (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000)
  t.comment(`SEED=${seed}`)
  const random = seededRandom(seed)
  const pick = (n: number): number => Math.floor(random() * n)
  let failures = 0
  const runs = fuzzCases(200)
  for (let run = 0; run < runs && failures === 0; run++) {
    const bytesMax = pick(400)
    const index = new DiskCacheIndex(bytesMax)
    let model: ModelEntry[] = []
    const expect = (condition: boolean, what: string): void => {
      if (!condition && failures++ === 0) t.fail(`run ${run}: ${what}`)
    }
    for (let step = 0; step < 200 && failures === 0; step++) {
      const key = `c${pick(24)}`
      const busy = new Set(model.filter(() => random() < 0.2).map((entry) => entry.key))
      switch (pick(6)) {
        case 0:
        case 1: {
          const bytes = 1 + pick(120)
          index.admit(key, bytes)
          model = [...model.filter((entry) => entry.key !== key), { key, bytes }]
          break
        }
        case 2: {
          const found = model.find((entry) => entry.key === key)
          expect(index.touch(key) === (found !== undefined), 'touch says whether the copy is cached')
          if (found !== undefined) model = [...model.filter((entry) => entry !== found), found]
          break
        }
        case 3: {
          expect(index.remove(key) === model.some((entry) => entry.key === key), 'remove says whether the copy was cached')
          model = model.filter((entry) => entry.key !== key)
          break
        }
        case 4: {
          const total = model.reduce((sum, entry) => sum + entry.bytes, 0)
          const victims = index.overflow((candidate) => busy.has(candidate))
          expect(JSON.stringify(victims) === JSON.stringify(modelVictims(model, total - bytesMax, busy)), 'overflow: the least recently read copies not busy')
          for (const victim of victims) index.remove(victim)
          model = model.filter((entry) => !victims.includes(entry.key))
          const left = model.reduce((sum, entry) => sum + entry.bytes, 0)
          const busyBytes = model.filter((entry) => busy.has(entry.key)).reduce((sum, entry) => sum + entry.bytes, 0)
          expect(left <= bytesMax + busyBytes, `within the bound but for busy copies: ${left} > ${bytesMax} + ${busyBytes}`)
          if (busy.size === 0) expect(!index.over(), 'nothing busy: within the bound')
          break
        }
        default: {
          const wanted = pick(300)
          const victims = index.victimsFor(wanted, (candidate) => busy.has(candidate))
          expect(JSON.stringify(victims) === JSON.stringify(modelVictims(model, wanted, busy)), 'victimsFor: the least recently read copies not busy')
          const freed = model.filter((entry) => victims.includes(entry.key)).reduce((sum, entry) => sum + entry.bytes, 0)
          const available = model.filter((entry) => !busy.has(entry.key)).reduce((sum, entry) => sum + entry.bytes, 0)
          expect(freed >= Math.min(wanted, available), `frees what was asked (${freed} of ${wanted}) or all it can (${available})`)
          expect(victims.every((victim) => !busy.has(victim)), 'never a busy copy')
        }
      }
      index.checkInvariants()
      expect(JSON.stringify(index.keys()) === JSON.stringify(model.map((entry) => entry.key)), 'order: least recently read first')
      expect(index.bytes === model.reduce((sum, entry) => sum + entry.bytes, 0), 'bytes: the sum of the entries')
      expect(index.size === model.length, 'size')
    }
  }
  if (failures === 0) t.pass(`${runs} runs of 200 steps agree with the model`)
})

test('an index rebuilt after a restart orders copies by when they were last read', (t) => {
  const index = DiskCacheIndex.rebuilt(250, [
    { key: 'b', bytes: 100, lastReadMs: 3000 },
    { key: 'a', bytes: 100, lastReadMs: 1000 },
    { key: 'd', bytes: 100, lastReadMs: 2000 },
    { key: 'c', bytes: 100, lastReadMs: 2000 }
  ])
  t.alike(index.keys(), ['a', 'c', 'd', 'b'], 'oldest first, ties by key')
  t.is(index.bytes, 400)
  t.alike(index.overflow(), ['a', 'c'], 'the two least recently read go to get within 250 bytes')
  t.alike(index.overflow((key) => key === 'a'), ['c', 'd'], 'a busy copy is passed over, the next ones go instead')
})

test('a bound of 0 evicts everything that is not busy; bad sizes are refused', (t) => {
  const index = new DiskCacheIndex(0)
  index.admit('x', 10)
  index.admit('y', 20)
  t.ok(index.over())
  t.alike(index.overflow(), ['x', 'y'])
  t.exception(() => index.admit('z', 0), /bad cached copy size/)
  t.exception(() => new DiskCacheIndex(-1), /bad disk cache bytesMax/)
})
