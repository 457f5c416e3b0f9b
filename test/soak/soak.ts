// The soak: a real cluster of 3 or 5 peer processes under a mixed random workload (create, overwrite,
// append, truncate, rename, unlink, mkdir, rmdir, symlink; small files and files of several chunks)
// over every mount, with peers killed with -9 and restarted at random (the leader among them, now and
// then the whole cluster at once), for a given number of minutes. At quiet checkpoints and at the end
// every mount's tree must equal the model of acknowledged state (names, types, sizes, sha256, link
// targets; test/fault/ holds the workload, the model and the checker it shares with the crash test).
// Prints a summary ending in `violations = N` and exits 1 when N > 0 (2 when the run itself broke
// down, 130 when interrupted).
//
//   node dist/test/soak/soak.js --minutes N [--peers 3|5] [--seed S] [--checkpoint-minutes M] [--workers W]
import { parseArgs } from 'node:util'
import { Cluster } from '../helpers/cluster.js'
import { formatViolation } from '../fault/checker.js'
import type { CheckReport, Violation } from '../fault/checker.js'
import { FaultRun } from '../fault/fault-run.js'
import { seedFrom } from '../fault/seed.js'

const BETWEEN_FAULTS_MS = { min: 3_000, max: 15_000 }
const DOWN_MS = { min: 300, max: 8_000 }
const WHOLE_CLUSTER_SHARE = 0.1

interface SoakOptions {
  minutes: number
  peers: 3 | 5
  seed: number
  checkpointMinutes: number
  workers: number
}

const USAGE = 'usage: npm run soak -- --minutes N [--peers 3|5] [--seed S] [--checkpoint-minutes M] [--workers W]'

class UsageError extends Error {}

function options (): SoakOptions | null {
  let parsed
  try {
    parsed = parseArgs({
      options: {
        help: { type: 'boolean', short: 'h' },
        minutes: { type: 'string', default: '10' },
      peers: { type: 'string', default: '3' },
      seed: { type: 'string' },
        'checkpoint-minutes': { type: 'string' },
        workers: { type: 'string' }
      }
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const { values } = parsed
  if (values.help === true) return null
  const minutes = Number(values.minutes)
  const peers = Number(values.peers)
  if (!(minutes > 0)) throw new UsageError('--minutes is a positive number')
  if (peers !== 3 && peers !== 5) throw new UsageError('--peers is 3 or 5')
  return {
    minutes,
    peers,
    seed: seedFrom(values.seed ?? process.env.SWARMFS_SEED),
    checkpointMinutes: Number(values['checkpoint-minutes'] ?? Math.max(1, Math.min(10, minutes / 3))),
    workers: Number(values.workers ?? peers + 1)
  }
}

function say (line: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
}

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}

async function soak (settings: SoakOptions, cluster: Cluster, stopping: () => boolean): Promise<number> {
  const run = await FaultRun.create(cluster, settings.seed, {
    workers: settings.workers,
    planner: {
      mix: { create: 4, overwrite: 2, append: 2, truncate: 1, rename: 2, unlink: 2, mkdir: 1, rmdir: 0.7, symlink: 0.7 },
      depthMax: 3,
      entriesMax: 600,
      bytesMax: 256 * 1024 * 1024,
      fsyncShare: 0.5,
      sizes: { largeShare: 0.06 }
    },
    checkWaitMs: 60_000,
    say
  })
  const { workload } = run
  try {
    return await soakLoop(settings, run, stopping)
  } finally {
    await workload.stop().catch(() => {}) // also when a bound ran out: no worker may outlive the cluster
  }
}

async function soakLoop (settings: SoakOptions, run: FaultRun, stopping: () => boolean): Promise<number> {
  const { rng, workload, injector } = run
  const found = new Map<string, Violation>()
  const record = (report: CheckReport, when: string): void => {
    for (const violation of report.violations) found.set(`${violation.peer} ${violation.path} ${violation.observed}`, violation)
    say(`${when}: ${report.filesVerified} acknowledged files (${(report.bytesVerified / 1048576).toFixed(1)} MiB) verified over the mounts, ${report.uncertainPaths} undecided paths, ${report.violations.length} violations`)
    for (const violation of report.violations.slice(0, 20)) say(formatViolation(violation))
  }

  const started = Date.now()
  const deadline = started + settings.minutes * 60_000
  const checkpointMs = settings.checkpointMinutes * 60_000
  let nextCheckpoint = started + checkpointMs
  let checkpoints = 0
  workload.start()
  while (!stopping()) {
    await sleep(Math.min(deadline - Date.now(), BETWEEN_FAULTS_MS.min + rng.nextInt(BETWEEN_FAULTS_MS.max - BETWEEN_FAULTS_MS.min)))
    if (Date.now() >= deadline || stopping()) break
    if (Date.now() >= nextCheckpoint) {
      record(await run.checkpoint(), `checkpoint ${++checkpoints}`)
      nextCheckpoint = Date.now() + checkpointMs
      continue
    }
    // Mostly one peer; with 5 peers sometimes two (3 voters remain, a quorum); now and then every peer
    // at once, like a power cut, when only what reached the disks survives.
    const count = rng.chance(WHOLE_CLUSTER_SHARE) ? settings.peers : settings.peers === 5 && rng.chance(0.3) ? 2 : 1
    await injector.crashAndRestart({ count, leader: count === settings.peers || rng.chance(0.4), busyShare: 0.6, downMsMin: DOWN_MS.min, downMsMax: DOWN_MS.max })
  }
  await workload.stop()
  // Ctrl-C reached the daemons too (one process group): there is no cluster left to check.
  const final = stopping() ? null : await run.checkpoint()
  if (final !== null) record(final, 'final check')

  const violations = [...found.values()]
  const minutes = ((Date.now() - started) / 60_000).toFixed(1)
  console.log('\n=== swarmfs soak summary ===')
  console.log(`seed ${settings.seed} (replay: --seed ${settings.seed}), ${settings.peers} peers, ${settings.workers} workers, ${minutes} minutes`)
  console.log(`ops done ${workload.acknowledged}, ops failed ${workload.failed} (expected under faults), not run ${workload.notRun} (peer just killed)`)
  console.log(`by kind (acknowledged/failed): ${workload.summary()}`)
  console.log(`acknowledged data written ${(workload.acknowledgedDataBytes / 1048576).toFixed(1)} MiB`)
  console.log(`faults injected ${injector.kills} (kill -9 + restart of a peer; ${injector.leaderKills} times the leader, ${injector.wholeClusterKills} times the whole cluster at once)`)
  if (final === null) console.log(`checkpoints ${checkpoints}; interrupted, so no final check`)
  else console.log(`checkpoints ${checkpoints} + final; at the end ${final.filesVerified / settings.peers} acknowledged files verified on each of ${settings.peers} mounts, ${final.uncertainPaths} paths left undecided by failed operations`)
  if (violations.length > 0) {
    console.log('\nviolations:')
    for (const violation of violations.slice(0, 50)) console.log(formatViolation(violation))
    console.log('\nlast events:')
    for (const line of run.log.tail(80)) console.log(line)
  }
  console.log(`violations = ${violations.length}`)
  return violations.length > 0 ? 1 : final === null ? 130 : 0
}

async function main (): Promise<number> {
  const settings = options()
  if (settings === null) { console.log(USAGE); return 0 }
  say(`soak: seed ${settings.seed} (replay: --seed ${settings.seed}), ${settings.peers} peers, ${settings.minutes} minutes, checkpoint every ${settings.checkpointMinutes} minutes`)
  const cluster = await Cluster.start(settings.peers)
  let interrupted = false
  // Ctrl-C or SIGTERM ends the run at its next step: the summary of what was checked, then the cleanup.
  const interrupt = (): void => { interrupted = true; say('interrupted: stopping') }
  process.on('SIGINT', interrupt)
  process.on('SIGTERM', interrupt)
  try {
    return await soak(settings, cluster, () => interrupted)
  } finally {
    await cluster.destroy()
  }
}

main().then((code) => process.exit(code), (error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n${USAGE}`)
    process.exit(2)
  }
  console.error(error instanceof Error ? error.stack : error)
  console.log('violations = unknown (the run broke down)')
  process.exit(2)
})
