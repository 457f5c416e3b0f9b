// Proves the replication flow control: the in-flight window bounds messages and bytes and frees
// acknowledged ones; progress states move probe → replicate → snapshot as etcd's tracker does, and
// stale rejections are ignored.
import test from 'brittle'
import { Inflights } from '../../../metadata/raft/inflights.js'
import { Progress } from '../../../metadata/raft/progress.js'
import { AssertionError } from '../../../metadata/raft/assert.js'

test('inflights: bounded by count and bytes; freeLE releases acknowledged messages', (t) => {
  const w = new Inflights(3, 100)
  w.add(5, 10)
  w.add(7, 10)
  t.absent(w.full())
  w.add(9, 10)
  t.ok(w.full(), 'full by count')
  t.exception(() => w.add(10, 1), AssertionError)
  w.freeLE(7)
  t.is(w.count(), 1)
  t.is(w.bytes(), 10)
  w.add(12, 95)
  t.ok(w.full(), 'full by bytes')
  w.freeFirst()
  t.is(w.count(), 1)
  w.freeLE(100)
  t.is(w.count(), 0)
  t.is(w.bytes(), 0)
  t.exception(() => { w.add(20, 1); w.add(19, 1) }, AssertionError, 'indexes must increase')
})

test('progress: probe sends one message, replicate pipelines, snapshot pauses', (t) => {
  const pr = new Progress(10, false, 2, 1000)
  t.is(pr.state, 'probe')
  t.absent(pr.isPaused())
  pr.probeSent = true
  t.ok(pr.isPaused(), 'one probe in flight')
  t.ok(pr.maybeUpdate(9))
  t.absent(pr.isPaused(), 'an ack resumes')
  pr.becomeReplicate()
  t.is(pr.next, 10)
  pr.optimisticUpdate(12)
  pr.inflights.add(12, 10)
  pr.optimisticUpdate(14)
  pr.inflights.add(14, 10)
  t.ok(pr.isPaused(), 'window full')
  t.is(pr.next, 15)
  t.absent(pr.maybeDecrTo(8, 8), 'a rejection at or below match is stale')
  t.ok(pr.maybeDecrTo(12, 10))
  t.is(pr.next, 10, 'replicate falls back to match + 1')
  pr.becomeSnapshot(50, 3, 100)
  t.ok(pr.isPaused())
  pr.maybeUpdate(50)
  pr.becomeProbe()
  t.is(pr.next, 51, 'after a snapshot, continue after it')
  pr.checkInvariants()
})

test('progress: probe rejections use the hint but never go below match + 1, and stale ones are ignored', (t) => {
  const pr = new Progress(21, false, 4, 1000)
  pr.match = 5
  t.absent(pr.maybeDecrTo(15, 3), 'not the index we probed')
  t.ok(pr.maybeDecrTo(20, 12))
  t.is(pr.next, 13)
  t.ok(pr.maybeDecrTo(12, 0))
  t.is(pr.next, 6)
})
