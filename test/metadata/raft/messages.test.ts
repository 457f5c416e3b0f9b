// Proves the wire/disk codecs: every record round-trips, and random or mutated bytes make decoders
// throw DecodeError only — never TypeError/RangeError, which protomux's safety-catch would turn into a
// process crash (STYLE.md §3). Unsafe uint64s, unknown enums and trailing bytes are refused.
import test from 'brittle'
import { ConfChangeType, DecodeError, EntryType, MessageType, confChangeEntryCodec, hardStateCodec, makeMessage, messageCodec, snapshotCodec } from '../../../metadata/raft/messages.js'
import type { Codec } from '../../../metadata/raft/messages.js'
import { Rng } from '../../../metadata/raft/rng.js'
import { describeMessage } from '../../../metadata/raft/describe.js'
import { fuzzCases } from '../../helpers/fuzz-scale.js'

const sample = makeMessage({
  type: MessageType.App,
  to: 'peer-b',
  from: 'peer-a',
  term: 7,
  logTerm: 6,
  index: 2 ** 40,
  commit: 99,
  reject: true,
  rejectHint: 3,
  context: new Uint8Array([1, 2]),
  entries: [{ term: 7, index: 2 ** 40 + 1, type: EntryType.ConfChange, data: new Uint8Array([9, 9, 9]) }],
  snapshot: { metadata: { index: 5, term: 2, conf: { voters: ['a', 'b'], learners: ['c'] } }, offset: 8, bytesTotal: 20, data: new Uint8Array([1, 2, 3]) }
})

test('codecs round-trip', (t) => {
  t.alike(messageCodec.decode(messageCodec.encode(sample)), sample)
  const hs = { term: 3, vote: 'x', commit: 2 ** 50 }
  t.alike(hardStateCodec.decode(hardStateCodec.encode(hs)), hs)
  const cc = { change: { type: ConfChangeType.Promote, nodeId: 'n4' }, conf: { voters: ['n1', 'n4'], learners: [] } }
  t.alike(confChangeEntryCodec.decode(confChangeEntryCodec.encode(cc)), cc)
  const snap = { metadata: { index: 1, term: 1, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array([4, 5]) }
  t.alike(snapshotCodec.decode(snapshotCodec.encode(snap)), snap)
})

test('codecs refuse unsafe integers, unknown versions and trailing bytes', (t) => {
  // version 1, term = 0xff-prefixed uint64 of 2^64 − 1 (beyond 2^53), empty vote, commit 0.
  const unsafe = new Uint8Array([1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0])
  t.exception(() => hardStateCodec.decode(unsafe), DecodeError)
  const unsafeLow = new Uint8Array([1, 0xff, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0])
  t.exception(() => hardStateCodec.decode(unsafeLow), DecodeError, '2^54 is not a safe integer')
  const good = hardStateCodec.encode({ term: 1, vote: 'a', commit: 1 })
  const badVersion = good.slice()
  badVersion[0] = 2
  t.exception(() => hardStateCodec.decode(badVersion), DecodeError)
  t.exception(() => hardStateCodec.decode(new Uint8Array([...good, 0])), DecodeError)
})

function fuzz (t: import('brittle').Test, name: string, codec: Codec<unknown>, valid: Uint8Array): void {
  const rng = new Rng(1234)
  let wrongErrors = 0
  const cases = fuzzCases(20_000)
  for (let i = 0; i < cases; i++) {
    let bytes: Uint8Array
    if (i % 2 === 0) {
      bytes = new Uint8Array(rng.nextInt(64))
      for (let j = 0; j < bytes.length; j++) bytes[j] = rng.nextInt(256)
    } else {
      bytes = valid.slice(0, rng.nextInt(valid.length + 1))
      for (let k = 0; k < 3; k++) if (bytes.length > 0) bytes[rng.nextInt(bytes.length)] = rng.nextInt(256)
    }
    try {
      codec.decode(bytes)
    } catch (err) {
      if (!(err instanceof DecodeError) || err instanceof TypeError || err instanceof RangeError) wrongErrors++
    }
  }
  t.is(wrongErrors, 0, `${name}: only DecodeError on ${cases} random and mutated inputs`)
}

test('fuzz: decoders throw only DecodeError', (t) => {
  fuzz(t, 'message', messageCodec as Codec<unknown>, messageCodec.encode(sample))
  fuzz(t, 'hard state', hardStateCodec as Codec<unknown>, hardStateCodec.encode({ term: 1, vote: 'abc', commit: 7 }))
  fuzz(t, 'conf change', confChangeEntryCodec as Codec<unknown>, confChangeEntryCodec.encode({ change: { type: 0, nodeId: 'x' }, conf: { voters: ['a'], learners: [] } }))
  fuzz(t, 'snapshot', snapshotCodec as Codec<unknown>, snapshotCodec.encode({ metadata: { index: 1, term: 1, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array(9) }))
})

test('describe: one-line renderings', (t) => {
  t.is(describeMessage(makeMessage({ type: MessageType.Vote, from: 'a', to: 'b', term: 2, index: 3, logTerm: 1 })), 'a->b Vote t2 log 1/3')
  t.ok(describeMessage(sample).includes('snapshot 5@2 8+3/20'))
})
