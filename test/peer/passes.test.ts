// Passes on request, without a daemon: a job runs once per kind at a time (asking again joins it),
// records done or failed with the error, and only a bounded number of finished jobs is kept; a scrub
// pass counts verified bytes, replaced and failed copies, stops early when interrupted, and paces
// itself to a byte rate only when given one.
import test from 'brittle'
import { PassJobs, isPassKind } from '../../peer/pass-jobs.js'
import type { PassProgress } from '../../peer/pass-jobs.js'
import { emptyProgress } from '../../peer/pass-jobs.js'
import { scrubPass } from '../../peer/scrub-pass.js'

async function settled (): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
}

test('one job per kind at a time; asking again joins it', async (t) => {
  const jobs = new PassJobs()
  let finish!: () => void
  let progressSeen: PassProgress | null = null
  const first = jobs.start('scrub', async (progress) => {
    progressSeen = progress
    progress.chunksTotal = 10
    await new Promise<void>((resolve) => { finish = resolve })
    progress.chunksDone = 10
  })
  const again = jobs.start('scrub', async () => { t.fail('a second scrub must not start') })
  t.is(again.id, first.id, 'the running scrub is returned')
  const repair = jobs.start('repair', async () => {})
  t.not(repair.id, first.id, 'another kind runs alongside')
  t.is(progressSeen, first.progress, 'the job reports the progress object its run updates')
  t.alike(jobs.running().map((job) => job.kind).sort(), ['repair', 'scrub'])
  finish()
  await settled()
  t.is(jobs.get(first.id)?.state, 'done')
  t.is(jobs.get(first.id)?.progress.chunksDone, 10)
  t.ok(jobs.get(first.id)?.finishedAt !== null)
  t.alike(jobs.running(), [])
})

test('a failed job keeps its error; old finished jobs are forgotten', async (t) => {
  const jobs = new PassJobs()
  const failed = jobs.start('rebalance', async () => { throw new Error('not a member yet') })
  await settled()
  t.is(failed.state, 'failed')
  t.is(failed.error, 'not a member yet')
  for (let i = 0; i < 40; i++) {
    jobs.start('repair', async () => {})
    await settled()
  }
  t.is(jobs.get(failed.id), undefined, 'the oldest finished job is gone')
  t.ok(jobs.get(41) !== undefined, 'recent ones stay')
  t.ok(isPassKind('scrub') && !isPassKind('defrag') && !isPassKind(3))
})

test('a scrub pass counts what it verified, replaced and could not replace', async (t) => {
  const ids = [0, 1, 2, 3].map((n) => Buffer.alloc(32, n))
  const progress = emptyProgress('scrub')
  const failures: string[] = []
  const sleeps: number[] = []
  const completed = await scrubPass(ids, {
    scrubOne: async (id) => {
      if (id[0] === 1) return { bytes: 0, repaired: true }
      if (id[0] === 2) throw new Error('no good copy anywhere')
      return { bytes: 1000, repaired: false }
    },
    bytesPerSecond: null,
    periodMs: null,
    progress,
    interrupted: () => false,
    sleep: async (ms) => { sleeps.push(ms) },
    onFailure: (id, error) => failures.push(`${id[0]!}: ${(error as Error).message}`)
  })
  t.is(completed, true)
  t.alike(progress, { kind: 'scrub', chunksDone: 4, chunksTotal: 4, bytesDone: 2000, fixed: 1, failed: 1, underReplicated: 0 })
  t.alike(failures, ['2: no good copy anywhere'])
  t.alike(sleeps, [], 'unpaced without a rate')
})

test('a scrub pass stops when interrupted, and paces to its byte rate', async (t) => {
  const ids = [0, 1, 2, 3].map((n) => Buffer.alloc(32, n))
  const progress = emptyProgress('scrub')
  const sleeps: number[] = []
  let clock = 0
  const completed = await scrubPass(ids, {
    scrubOne: async () => {
      clock += 300 // verifying took 0.3 s
      return { bytes: 2_000_000, repaired: false }
    },
    bytesPerSecond: 1_000_000,
    periodMs: null,
    now: () => clock,
    progress,
    interrupted: () => progress.chunksDone === 2,
    sleep: async (ms) => { sleeps.push(ms) },
    onFailure: () => t.fail('no failure')
  })
  t.is(completed, false, 'interrupted')
  t.is(progress.chunksDone, 2)
  t.alike(sleeps, [1700, 1700], '2 s per 2 MB at 1 MB/s, less the 0.3 s verifying took')
})

test('a background scrub pass is spread over its period, and never faster than its byte rate', async (t) => {
  const ids = [0, 1, 2, 3].map((n) => Buffer.alloc(32, n))
  const run = async (bytes: number): Promise<number[]> => {
    const sleeps: number[] = []
    let clock = 0
    await scrubPass(ids, {
      scrubOne: async () => {
        clock += 100
        return { bytes, repaired: false }
      },
      bytesPerSecond: 1_000_000,
      periodMs: 60_000,
      now: () => clock,
      progress: emptyProgress('scrub'),
      interrupted: () => false,
      sleep: async (ms) => { sleeps.push(ms); clock += ms },
      onFailure: () => t.fail('no failure')
    })
    return sleeps
  }
  t.alike(await run(1000), [14_900, 14_900, 14_900, 14_900], 'small chunks: a quarter of the minute each, less the time verifying took')
  t.alike(await run(30_000_000), [29_900, 29_900, 29_900, 29_900], 'large ones: the byte rate is the slower pace')
})
