// Proves how a reader picks among a chunk's holders (peer/replica-choice.ts): with nothing known the
// given (rendezvous) order stands; a peer that answered fast goes first, one that did not answer goes
// behind; requests already waiting on a peer count against it, and an unknown peer is assumed as fast
// as the fastest known, so a second request goes to it; an answer queued behind another on the same
// peer counts only its own time; a peer that sent a bad copy goes last for ten minutes, then is trusted
// again; estimates without news are forgotten after a minute; the hedge delay follows the estimate
// within its bounds.
import test from 'brittle'
import {
  DISTRUST_MS, ESTIMATE_TTL_MS, HEDGE_DELAY_MAX_MS, HEDGE_DELAY_MIN_MS, MIB, ReplicaChoice, UNKNOWN_MS_PER_MIB
} from '../../peer/replica-choice.js'

const none = (): number => 0

test('unknown peers keep the given order; a fast answer goes first, no answer goes behind', (t) => {
  const choice = new ReplicaChoice()
  t.alike(choice.order(['a', 'b', 'c'], none, 0), ['a', 'b', 'c'], 'nothing known: the given order')
  choice.answered('c', 0, 4 * MIB, 20)
  t.alike(choice.order(['a', 'b', 'c'], none, 21), ['c', 'a', 'b'], 'c answered at 5 ms/MiB: first')
  choice.unanswered('a', 5_000, 22)
  t.alike(choice.order(['a', 'b', 'c'], none, 23), ['c', 'b', 'a'], 'a timed out: behind the unknown b')
  t.ok(choice.msPerMib('a', 23) >= 1_000, 'as slow as a 4 MiB chunk in 5 s')
  choice.answered('a', 23, 4 * MIB, 63)
  t.ok(choice.msPerMib('a', 63) > 500, 'one good answer does not undo a timeout at once')
})

test('requests waiting on a peer count against it', (t) => {
  const choice = new ReplicaChoice()
  choice.answered('a', 0, 4 * MIB, 40)
  choice.answered('b', 0, 4 * MIB, 80)
  t.alike(choice.order(['a', 'b'], none, 81), ['a', 'b'], 'a is twice as fast')
  t.alike(choice.order(['a', 'b'], (peer) => (peer === 'a' ? 2 : 0), 81), ['b', 'a'], 'but with two requests waiting on it, b answers sooner')
  t.alike(choice.order(['a', 'b'], (peer) => (peer === 'a' ? Infinity : 0), 81), ['b', 'a'], 'a peer without a connection goes behind')
})

test('an unknown peer counts as fast as the fastest known: a second request goes to it', (t) => {
  const choice = new ReplicaChoice()
  choice.answered('a', 0, 4 * MIB, 40)
  t.is(choice.msPerMib('b', 41), 10, 'b, never asked, is assumed at a\'s 10 ms/MiB')
  t.alike(choice.order(['b', 'a'], none, 41), ['a', 'b'], 'with nothing waiting, the known peer first')
  t.alike(choice.order(['a', 'b'], (peer) => (peer === 'a' ? 1 : 0), 41), ['b', 'a'], 'with a request waiting on a, the unknown b')
  choice.misbehaved('a', 42)
  t.is(choice.msPerMib('b', 43), UNKNOWN_MS_PER_MIB, 'a distrusted peer is no yardstick')
})

test('an answer queued behind another from the same peer counts only its own time', (t) => {
  const choice = new ReplicaChoice()
  choice.answered('a', 0, 4 * MIB, 40) // two asked at 0: the first streams for 40 ms …
  choice.answered('a', 0, 4 * MIB, 80) // … then the second for 40 ms more
  t.is(choice.msPerMib('a', 80), 10, '10 ms/MiB, not 20 for the one that waited')
  choice.answered('a', 1_000, 4 * MIB, 1_040)
  t.is(choice.msPerMib('a', 1_040), 10, 'asked after the last answer: counted from the ask')
  choice.answered('b', 100, 4 * MIB, 60)
  t.is(choice.msPerMib('b', 60), 0, 'an answer before its ask (the clock stepped back) counts as instant, never negative')
})

test('a peer that sent a bad copy goes last for ten minutes', (t) => {
  const choice = new ReplicaChoice()
  choice.answered('liar', 1, 4 * MIB, 0)
  choice.misbehaved('liar', 0)
  t.alike(choice.order(['liar', 'b', 'c'], none, 1), ['b', 'c', 'liar'], 'fastest, but distrusted')
  t.ok(choice.distrusted('liar', DISTRUST_MS - 1), 'still distrusted just before ten minutes')
  t.absent(choice.distrusted('liar', DISTRUST_MS + 1), 'trusted again after')
})

test('estimates without news are forgotten; small chunks count as 64 KiB', (t) => {
  const choice = new ReplicaChoice()
  choice.unanswered('slow', 5_000, 0)
  t.ok(choice.msPerMib('slow', ESTIMATE_TTL_MS) > UNKNOWN_MS_PER_MIB, 'remembered for a minute')
  t.is(choice.msPerMib('slow', ESTIMATE_TTL_MS + 1), UNKNOWN_MS_PER_MIB, 'then asked again like an unknown peer')
  choice.answered('tiny', 0, 1024, 2)
  t.is(choice.msPerMib('tiny', 2), 32, '2 ms for 1 KiB: latency, counted as 2 ms per 64 KiB')
})

test('the hedge delay is a few times the expected answer, within bounds', (t) => {
  const choice = new ReplicaChoice()
  t.is(choice.hedgeDelayMs('unknown', 0, 0), 4 * 4 * UNKNOWN_MS_PER_MIB, 'unknown: four times a 4 MiB chunk at the assumed speed')
  choice.answered('fast', 0, 4 * MIB, 4)
  t.is(choice.hedgeDelayMs('fast', 0, 4), HEDGE_DELAY_MIN_MS, 'a fast peer: the minimum')
  t.is(choice.hedgeDelayMs('fast', 1_000, 4), HEDGE_DELAY_MAX_MS, 'a long queue: the maximum')
})
