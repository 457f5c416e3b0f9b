// Passes an operator asks for (`swarmfs scrub`, `repair`, `rebalance`): each runs in the daemon as a
// job whose progress the CLI polls over the control socket, so the job neither depends on the CLI's
// connection nor blocks the socket. One job per kind at a time: asking again while one runs joins it.
// A few finished jobs are kept so that a CLI polling a moment late still reads the outcome.

export const PASS_KINDS = ['scrub', 'repair', 'rebalance'] as const
export type PassKind = typeof PASS_KINDS[number]

const FINISHED_JOBS_KEPT_MAX = 16

export interface PassProgress {
  kind: PassKind
  /** Chunks looked at so far, and in the whole pass (known once the pass has listed them). */
  chunksDone: number
  chunksTotal: number
  /** Stored (sealed) bytes verified: scrub only. */
  bytesDone: number
  /** Copies made on other peers (repair, rebalance), bad local copies replaced (scrub). */
  fixed: number
  /** Copies that could not be made, or bad copies that could not be replaced. */
  failed: number
  /** Repair: chunks still short of live copies when the pass ended (or so far). */
  underReplicated: number
}

export interface PassJob {
  id: number
  kind: PassKind
  state: 'running' | 'done' | 'failed'
  progress: PassProgress
  error: string | null
  startedAt: string
  finishedAt: string | null
}

export function emptyProgress (kind: PassKind): PassProgress {
  return { kind, chunksDone: 0, chunksTotal: 0, bytesDone: 0, fixed: 0, failed: 0, underReplicated: 0 }
}

export function isPassKind (text: unknown): text is PassKind {
  return typeof text === 'string' && (PASS_KINDS as readonly string[]).includes(text)
}

/** Runs passes as jobs; `run` updates the progress object it is given in place as it goes. */
export class PassJobs {
  private readonly jobs = new Map<number, PassJob>()
  private nextId = 1

  /** Starts a pass of `kind`, or returns the one of that kind already running. */
  start (kind: PassKind, run: (progress: PassProgress) => Promise<void>): PassJob {
    const running = this.running().find((job) => job.kind === kind)
    if (running !== undefined) return running
    const job: PassJob = { id: this.nextId++, kind, state: 'running', progress: emptyProgress(kind), error: null, startedAt: new Date().toISOString(), finishedAt: null }
    this.jobs.set(job.id, job)
    run(job.progress).then(() => { job.state = 'done' }, (error: unknown) => {
      job.state = 'failed'
      job.error = error instanceof Error ? error.message : String(error)
    }).finally(() => {
      job.finishedAt = new Date().toISOString()
      this.forgetOldJobs()
    })
    return job
  }

  get (id: number): PassJob | undefined {
    return this.jobs.get(id)
  }

  running (): PassJob[] {
    return [...this.jobs.values()].filter((job) => job.state === 'running')
  }

  private forgetOldJobs (): void {
    const finished = [...this.jobs.values()].filter((job) => job.state !== 'running')
    for (const job of finished.slice(0, Math.max(0, finished.length - FINISHED_JOBS_KEPT_MAX))) this.jobs.delete(job.id)
  }
}
