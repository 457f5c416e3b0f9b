// Proves the on-disk decoders are safe on hostile bytes: random and mutated segments, start markers,
// hard-state files and snapshots only ever decode or throw the layer's own plain Error subclass — never
// TypeError/RangeError, which safety-catch style handlers treat as crashes. Seeded: SEED=n replays.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'brittle'
import type { Test } from 'brittle'
import { StorageFileCorruptError, WalCorruptError } from '../../../metadata/storage/errors.js'
import { decodeHardState, encodeHardState } from '../../../metadata/storage/hard-state.js'
import { decodeSnapshot, writeSnapshot } from '../../../metadata/storage/snapshot-file.js'
import { encodeRecordInto, encodedRecordBytes } from '../../../metadata/storage/wal-record.js'
import { decodeSegment, encodeSegmentHeader } from '../../../metadata/storage/wal-segment.js'
import { decodeStartIndex, encodeStartIndex } from '../../../metadata/storage/wal-start.js'
import { fuzzCases } from '../../helpers/fuzz-scale.js'
import { records, seededRandom } from './helpers.js'

const SEED = Number(process.env['SEED'] ?? 0x5eed)
const CASES = fuzzCases(3000)

type Random = () => number

function integer (random: Random, below: number): number {
  return Math.floor(random() * below)
}

function randomBytes (random: Random, length: number): Buffer {
  const bytes = Buffer.alloc(length)
  for (let position = 0; position < length; position++) bytes[position] = integer(random, 256)
  return bytes
}

/** A valid segment with base 7: a few writes of a few records each. */
function validSegment (random: Random): Buffer {
  const parts: Buffer[] = [encodeSegmentHeader(7)]
  let index = 7
  for (let write = integer(random, 4); write >= 0; write--) {
    const batch = records(index, index + integer(random, 4), 1 + write, integer(random, 40))
    for (const entry of batch) {
      const frame = Buffer.alloc(encodedRecordBytes(entry))
      encodeRecordInto(frame, 0, entry, index)
      parts.push(frame)
    }
    index += batch.length
  }
  return Buffer.concat(parts)
}

/** One of: flip bits, overwrite a range, cut the end, append junk, duplicate a slice. */
function mutate (random: Random, input: Buffer): Buffer {
  const bytes = Buffer.from(input)
  const at = integer(random, bytes.length)
  switch (integer(random, 5)) {
    case 0: bytes[at] = (bytes[at] ?? 0) ^ (1 << integer(random, 8)); return bytes
    case 1: randomBytes(random, Math.min(16, bytes.length - at)).copy(bytes, at); return bytes
    case 2: return bytes.subarray(0, at)
    case 3: return Buffer.concat([bytes, randomBytes(random, integer(random, 64))])
    default: return Buffer.concat([bytes.subarray(0, at), bytes.subarray(integer(random, bytes.length))])
  }
}

/** Runs `decode` on every case; any throw that is not `allowed` fails the test with its seed and case. */
function fuzz (t: Test, name: string, cases: (random: Random) => Buffer, decode: (bytes: Buffer, random: Random) => unknown, allowed: new (...args: never[]) => Error): void {
  const random = seededRandom(SEED)
  const outcomes = { decoded: 0, refused: 0 }
  for (let round = 0; round < CASES; round++) {
    const bytes = cases(random)
    try {
      decode(bytes, random)
      outcomes.decoded++
    } catch (error) {
      if (!(error instanceof allowed)) {
        t.fail(`${name}: seed ${SEED} case ${round} threw ${String(error)}`)
        return
      }
      outcomes.refused++
    }
  }
  t.comment(`${name}: ${outcomes.decoded} decoded, ${outcomes.refused} refused`)
  t.ok(outcomes.refused > 0, `${name}: damage was seen`)
}

test('segment decoder throws only WalCorruptError on random and mutated bytes', (t) => {
  const decodeAny = (bytes: Buffer, random: Random): unknown => decodeSegment(bytes, { file: 'fuzz.seg', base: 7, isLast: random() < 0.5 })
  fuzz(t, 'random segments', (random) => random() < 0.5 ? randomBytes(random, integer(random, 300)) : Buffer.concat([encodeSegmentHeader(7), randomBytes(random, integer(random, 300))]), decodeAny, WalCorruptError)
  fuzz(t, 'mutated segments', (random) => {
    let bytes = validSegment(random)
    for (let count = 1 + integer(random, 3); count > 0; count--) bytes = mutate(random, bytes)
    return bytes
  }, decodeAny, WalCorruptError)
})

test('a decoded segment is always a contiguous prefix starting at its base', (t) => {
  const random = seededRandom(SEED + 1)
  let checked = 0
  for (let round = 0; round < CASES; round++) {
    try {
      const decoded = decodeSegment(mutate(random, validSegment(random)), { file: 'fuzz.seg', base: 7, isLast: true })
      if (decoded.records.some((entry, position) => entry.index !== 7 + position)) t.fail(`case ${round}: not contiguous`)
      checked++
    } catch (error) {
      if (!(error instanceof WalCorruptError)) t.fail(`case ${round}: ${String(error)}`)
    }
  }
  t.ok(checked > 0, `${checked} decoded segments were contiguous prefixes`)
})

test('start marker, hard state and snapshot decoders throw only their corruption errors', async (t) => {
  const marker = encodeStartIndex(12345)
  fuzz(t, 'start markers', (random) => mutate(random, marker), (bytes) => decodeStartIndex(bytes), WalCorruptError)
  const hardState = encodeHardState({ term: 9, vote: 'peer-a', commit: 4 })
  fuzz(t, 'hard states', (random) => mutate(random, hardState), (bytes) => decodeHardState(bytes), StorageFileCorruptError)
  const directory = await t.tmp()
  const { file } = await writeSnapshot(directory, { index: 3, term: 2, peers: ['a'] }, Buffer.from('state '.repeat(20)))
  const snapshot = await readFile(join(directory, file))
  t.ok(decodeSnapshot(snapshot, file).data.length > 0, 'the unmutated snapshot decodes')
  fuzz(t, 'snapshots', (random) => random() < 0.2 ? randomBytes(random, integer(random, 200)) : mutate(random, snapshot), (bytes) => decodeSnapshot(bytes, file), StorageFileCorruptError)
})
