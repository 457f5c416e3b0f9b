// Proves the heartbeat failure detector's state machine with the time passed in: a peer is up when first
// admitted, suspect after 3 unanswered beats, down after 10 or as soon as its connection is gone, and
// trusted again only after 3 answers in a row; late, duplicate and unknown answers change nothing.
import test from 'brittle'
import { DEFAULT_DETECTOR, FailureDetector } from '../../../peer/net/failure-detector.js'

const TIMEOUT = DEFAULT_DETECTOR.timeoutMs

/** A detector driven like Network.beat(): one beat per round, expiring the previous ones first. */
class Driver {
  readonly detector = new FailureDetector()
  now = 0
  sequence = 0

  /** Sends one beat to `peer` and returns its sequence. */
  beat (peer = 'p'): number {
    this.detector.expire(this.now)
    this.detector.sent(peer, ++this.sequence, this.now)
    return this.sequence
  }

  /** `count` rounds with no answer. */
  miss (count: number, peer = 'p'): void {
    for (let i = 0; i < count; i++) {
      this.beat(peer)
      this.now += TIMEOUT
    }
    this.detector.expire(this.now)
  }

  /** `count` rounds each answered at once. */
  answer (count: number, peer = 'p'): void {
    for (let i = 0; i < count; i++) {
      const sequence = this.beat(peer)
      this.detector.acked(peer, sequence, this.now + 1)
      this.now += TIMEOUT
    }
  }
}

test('failure detector: an unknown peer is down; an admitted one is up at once', (t) => {
  const d = new Driver()
  t.is(d.detector.state('p'), 'down')
  t.is(d.detector.lastAckMs('p'), null)
  d.detector.connected('p')
  t.is(d.detector.state('p'), 'up')
  d.answer(5)
  t.is(d.detector.state('p'), 'up', 'answered beats keep it up')
  t.ok(d.detector.lastAckMs('p') !== null, 'the last answer is remembered')
})

test('failure detector: suspect after 3 misses, down after 10', (t) => {
  const d = new Driver()
  d.detector.connected('p')
  d.miss(DEFAULT_DETECTOR.missesToSuspect - 1)
  t.is(d.detector.state('p'), 'up', '2 misses: still up')
  d.miss(1)
  t.is(d.detector.state('p'), 'suspect', '3 misses: suspect')
  d.miss(DEFAULT_DETECTOR.missesToDown - DEFAULT_DETECTOR.missesToSuspect - 1)
  t.is(d.detector.state('p'), 'suspect', '9 misses: still suspect')
  d.miss(1)
  t.is(d.detector.state('p'), 'down', '10 misses: down')
})

test('failure detector: a beat is only a miss once its timeout has passed', (t) => {
  const d = new Driver()
  d.detector.connected('p')
  for (let i = 0; i < 5; i++) d.detector.sent('p', ++d.sequence, 0)
  d.detector.expire(TIMEOUT - 1)
  t.is(d.detector.state('p'), 'up', 'five beats in flight are no misses yet')
  d.detector.expire(TIMEOUT)
  t.is(d.detector.state('p'), 'suspect', 'all five missed at once')
})

test('failure detector: a lost connection is down at once', (t) => {
  const d = new Driver()
  d.detector.connected('p')
  d.answer(3)
  d.detector.disconnected('p')
  t.is(d.detector.state('p'), 'down')
  d.detector.disconnected('never-seen')
  t.is(d.detector.state('never-seen'), 'down', 'disconnecting an unknown peer is harmless')
})

test('failure detector: recovery only after 3 answers in a row', (t) => {
  const d = new Driver()
  d.detector.connected('p')
  d.detector.disconnected('p')
  d.detector.connected('p')
  t.is(d.detector.state('p'), 'down', 'a peer that failed must earn its way back')
  d.answer(DEFAULT_DETECTOR.acksToRecover - 1)
  t.is(d.detector.state('p'), 'down', '2 answers are not enough')
  d.miss(1)
  d.answer(DEFAULT_DETECTOR.acksToRecover - 1)
  t.is(d.detector.state('p'), 'down', 'a miss in between restarts the count')
  d.answer(1)
  t.is(d.detector.state('p'), 'up', '3 answers in a row: up')

  d.miss(DEFAULT_DETECTOR.missesToSuspect)
  t.is(d.detector.state('p'), 'suspect')
  d.answer(DEFAULT_DETECTOR.acksToRecover - 1)
  t.is(d.detector.state('p'), 'suspect', 'a suspect peer also needs 3 answers')
  d.answer(1)
  t.is(d.detector.state('p'), 'up')
})

test('failure detector: late, duplicate and unknown answers are ignored', (t) => {
  const d = new Driver()
  d.detector.connected('p')
  d.detector.disconnected('p')
  d.detector.connected('p')
  // Beats that timed out, answered afterwards: too late to count.
  const late = [d.beat(), d.beat(), d.beat()]
  d.now += TIMEOUT
  d.detector.expire(d.now)
  for (const sequence of late) d.detector.acked('p', sequence, d.now)
  t.is(d.detector.state('p'), 'down', 'late answers do not recover a peer')
  t.is(d.detector.lastAckMs('p'), null, 'and are not recorded')
  // One answered beat, its answer repeated: counts once.
  const once = d.beat()
  for (let i = 0; i < 5; i++) d.detector.acked('p', once, d.now)
  d.detector.acked('p', 999_999, d.now)
  d.detector.acked('other', once, d.now)
  t.is(d.detector.state('p'), 'down', 'duplicate and unknown answers do not count')
  t.is(d.detector.state('other'), 'down', 'an answer from a peer never admitted changes nothing')
  d.answer(DEFAULT_DETECTOR.acksToRecover - 1)
  t.is(d.detector.state('p'), 'up', 'the one real answer plus two more make three')
})

test('failure detector: answers from before a disconnect do not count after it', (t) => {
  const d = new Driver()
  d.detector.connected('p')
  const before = [d.beat(), d.beat(), d.beat()]
  d.detector.disconnected('p')
  d.detector.connected('p')
  for (const sequence of before) d.detector.acked('p', sequence, d.now)
  t.is(d.detector.state('p'), 'down', 'beats outstanding at the disconnect are forgotten')
})

test('failure detector: peers are independent; forget drops a peer', (t) => {
  const d = new Driver()
  d.detector.connected('p')
  d.detector.connected('q')
  for (let i = 0; i < DEFAULT_DETECTOR.missesToDown; i++) {
    d.detector.expire(d.now)
    d.detector.sent('p', ++d.sequence, d.now)
    const q = ++d.sequence
    d.detector.sent('q', q, d.now)
    d.detector.acked('q', q, d.now)
    d.now += TIMEOUT
  }
  d.detector.expire(d.now)
  t.is(d.detector.state('p'), 'down')
  t.is(d.detector.state('q'), 'up')
  d.detector.forget('q')
  t.is(d.detector.state('q'), 'down', 'a forgotten peer is unknown again')
  d.detector.connected('q')
  t.is(d.detector.state('q'), 'up', 'and up at once when admitted afresh')
})
