// Shows a long operation's progress on an output stream: on a terminal, one line redrawn in place a
// few times a second; elsewhere (a log, a pipe, systemd's journal), a plain line every few seconds, so
// that a log is neither flooded nor silent. The text itself comes from progress.ts.
import { RateMeter, plainLine, terminalLine } from './progress.js'
import type { ProgressUnit } from './progress.js'

export const REDRAW_INTERVAL_MS = 200
export const PLAIN_INTERVAL_MS = 5_000
const COLUMNS_DEFAULT = 80
const COLUMNS_MIN = 20 // a terminal that reports less (0 under some emulators) gets the default
const CLEAR_LINE = '\r\u001b[K'

/** The part of a tty.WriteStream the reporter uses (process.stderr, or a fake in tests). */
export interface ProgressOutput {
  isTTY?: boolean
  columns?: number
  write (text: string): unknown
}

export interface ProgressReporterOptions {
  label: string
  unit: ProgressUnit
  now?: () => number
  redrawIntervalMs?: number
  plainIntervalMs?: number
}

export class ProgressReporter {
  private readonly output: ProgressOutput
  private readonly options: Required<ProgressReporterOptions>
  private readonly meter = new RateMeter()
  private lastShownMs: number | null = null
  private lineShown = false

  constructor (output: ProgressOutput, options: ProgressReporterOptions) {
    this.output = output
    this.options = { now: Date.now, redrawIntervalMs: REDRAW_INTERVAL_MS, plainIntervalMs: PLAIN_INTERVAL_MS, ...options }
  }

  private get terminal (): boolean {
    return this.output.isTTY === true
  }

  /** Records progress; shows it when the last showing is old enough (always the first time). */
  update (done: number, total: number | null, detail?: string): void {
    const now = this.options.now()
    this.meter.add(now, done)
    const interval = this.terminal ? this.options.redrawIntervalMs : this.options.plainIntervalMs
    if (this.lastShownMs !== null && now - this.lastShownMs < interval) return
    this.lastShownMs = now
    const view = { label: this.options.label, done, total, unit: this.options.unit, perSecond: this.meter.perSecond(), ...(detail !== undefined ? { detail } : {}) }
    if (this.terminal) {
      const columns = this.output.columns ?? 0
      this.output.write(CLEAR_LINE + terminalLine(view, columns >= COLUMNS_MIN ? columns : COLUMNS_DEFAULT))
      this.lineShown = true
    } else {
      this.output.write(plainLine(view) + '\n')
    }
  }

  /** Replaces the progress line with a final one (or prints it), ending with a newline. */
  finish (summary: string): void {
    this.clear()
    this.output.write(summary + '\n')
  }

  /** Removes the progress line from the terminal, so that other output starts on a clean line. */
  clear (): void {
    if (this.terminal && this.lineShown) this.output.write(CLEAR_LINE)
    this.lineShown = false
  }
}
