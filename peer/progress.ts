// Progress of a long operation as text — a bar, an amount, a rate and an estimated time left — for a
// terminal (one line redrawn in place, fitted to its width) or for a log or pipe (plain lines). Pure:
// times come in as milliseconds, so the arithmetic is tested without waiting.

export type ProgressUnit = 'bytes' | 'chunks' | 'files'

/** Samples older than this leave the rate: it follows the recent pace, not the average since start. */
export const RATE_WINDOW_MS = 10_000
const RATE_SAMPLES_MAX = 64
const BAR_CHARS_MIN = 10
const BAR_CHARS_MAX = 40
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** 1536 → '1.5 KiB'; one decimal below 100 of a unit, none above. */
export function formatBytes (bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '? B'
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024
    unit++
  }
  if (unit === 0) return `${Math.round(value)} B`
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${BYTE_UNITS[unit]!}`
}

/** An amount in its unit: bytes scaled, counts as plain numbers. */
export function formatAmount (amount: number, unit: ProgressUnit): string {
  return unit === 'bytes' ? formatBytes(amount) : `${Math.round(amount)} ${unit}`
}

export function formatRate (perSecond: number, unit: ProgressUnit): string {
  if (unit === 'bytes') return `${formatBytes(perSecond)}/s`
  return `${perSecond >= 10 ? Math.round(perSecond) : perSecond.toFixed(1)} ${unit}/s`
}

/** 5 → '5s', 65 → '1m05s', 3720 → '1h02m', 100000 → '1d03h'. */
export function formatDuration (seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?'
  const total = Math.round(seconds)
  const two = (n: number): string => String(n).padStart(2, '0')
  if (total < 60) return `${total}s`
  if (total < 3600) return `${Math.floor(total / 60)}m${two(total % 60)}s`
  if (total < 86400) return `${Math.floor(total / 3600)}h${two(Math.floor(total / 60) % 60)}m`
  return `${Math.floor(total / 86400)}d${two(Math.floor(total / 3600) % 24)}h`
}

/** `[#####.....]`, `width` characters in all; the fraction is clamped to [0, 1]. */
export function renderBar (fraction: number, width: number): string {
  const inner = Math.max(0, width - 2)
  const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0
  const filled = Math.floor(clamped * inner)
  return `[${'#'.repeat(filled)}${'.'.repeat(inner - filled)}]`
}

/** Seconds left at `perSecond`; null while the rate or the total is unknown. */
export function etaSeconds (done: number, total: number | null, perSecond: number | null): number | null {
  if (total === null || perSecond === null || perSecond <= 0) return null
  return Math.max(0, total - done) / perSecond
}

/** The recent rate of progress, from (time, amount done) samples. */
export class RateMeter {
  private readonly samples: Array<{ atMs: number, done: number }> = []
  private readonly windowMs: number

  constructor (windowMs = RATE_WINDOW_MS) {
    this.windowMs = windowMs
  }

  add (atMs: number, done: number): void {
    const last = this.samples[this.samples.length - 1]
    if (last !== undefined && atMs < last.atMs) return // a clock step back: keep the samples we trust
    this.samples.push({ atMs, done })
    while (this.samples.length > RATE_SAMPLES_MAX || (this.samples.length > 2 && atMs - this.samples[1]!.atMs >= this.windowMs)) this.samples.shift()
  }

  /** Units per second over the window; null until two samples span some time. */
  perSecond (): number | null {
    const first = this.samples[0]
    const last = this.samples[this.samples.length - 1]
    if (first === undefined || last === undefined || last.atMs <= first.atMs) return null
    return Math.max(0, last.done - first.done) / ((last.atMs - first.atMs) / 1000)
  }
}

export interface ProgressView {
  label: string
  done: number
  /** null while unknown (the bar and the ETA wait for it). */
  total: number | null
  unit: ProgressUnit
  perSecond: number | null
  /** Counts worth seeing on the way, e.g. '3 repaired'. */
  detail?: string
}

function parts (view: ProgressView): { percent: string, amount: string, rate: string, eta: string, fraction: number } {
  const fraction = view.total === null ? 0 : view.total === 0 ? 1 : view.done / view.total
  const percent = view.total === null ? '--%' : `${Math.floor(Math.min(1, fraction) * 100)}%`
  const amount = view.total === null ? formatAmount(view.done, view.unit) : `${formatAmount(view.done, view.unit)} of ${formatAmount(view.total, view.unit)}`
  const rate = view.perSecond === null ? '' : formatRate(view.perSecond, view.unit)
  const eta = etaSeconds(view.done, view.total, view.perSecond)
  return { percent, amount, rate, eta: eta === null ? '' : `ETA ${formatDuration(eta)}`, fraction }
}

/** One terminal line no wider than `columns`: label, bar, percent, amount, rate, ETA, detail. */
export function terminalLine (view: ProgressView, columns: number): string {
  const { percent, amount, rate, eta, fraction } = parts(view)
  const detail = view.detail !== undefined && view.detail !== '' ? `  ${view.detail}` : ''
  const tail = [percent.padStart(4), amount, rate, eta].filter((part) => part !== '').join('  ') + detail
  // The bar takes the room the words leave, and goes first when the terminal is narrow.
  const barWidth = Math.min(BAR_CHARS_MAX, columns - view.label.length - tail.length - 2)
  const line = barWidth >= BAR_CHARS_MIN ? `${view.label} ${renderBar(fraction, barWidth)} ${tail}` : `${view.label} ${tail}`
  return line.length > columns ? line.slice(0, Math.max(0, columns - 1)) + '…' : line
}

/** One line for a log or a pipe: `scrub: 45% (120 of 266 chunks), 12 chunks/s, ETA 12s; 3 repaired`. */
export function plainLine (view: ProgressView): string {
  const { percent, amount, rate, eta } = parts(view)
  const pace = [rate, eta].filter((part) => part !== '').join(', ')
  const detail = view.detail !== undefined && view.detail !== '' ? `; ${view.detail}` : ''
  return `${view.label}: ${percent} (${amount})${pace === '' ? '' : `, ${pace}`}${detail}`
}
