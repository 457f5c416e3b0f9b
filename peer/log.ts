// Structured, leveled logs: one line per event, carrying its time, level, event name and key=value
// fields, so that `grep event=peer.connected` or a log collector finds what it needs without parsing
// prose. Two renderings of the same record: logfmt (`time=… level=info event=… key=value`, the
// default) and JSON lines (`--log-format json`). Formatting is pure; a Logger only filters by level and
// hands each finished line to a writer (stderr in the daemon), so tests capture lines without I/O.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = typeof LOG_LEVELS[number]
export const LOG_FORMATS = ['text', 'json'] as const
export type LogFormat = typeof LOG_FORMATS[number]

export type LogValue = string | number | bigint | boolean | null | undefined | Error
export type LogFields = Record<string, LogValue>

export interface LogRecord {
  time: Date
  level: LogLevel
  /** A stable dotted name such as `peer.connected`: what happened, never a sentence. */
  event: string
  fields: LogFields
}

export interface Logger {
  debug (event: string, fields?: LogFields): void
  info (event: string, fields?: LogFields): void
  warn (event: string, fields?: LogFields): void
  error (event: string, fields?: LogFields): void
}

const RESERVED_KEYS = new Set(['time', 'level', 'event'])
const BARE_VALUE = /^[^\s"=\\\u0000-\u001f\u007f]+$/
const KEY_UNSAFE = /[^A-Za-z0-9_.-]/g

/** A field value as text: an Error by its message, undefined left out by the caller. */
function valueText (value: Exclude<LogValue, undefined>): string {
  if (value instanceof Error) return value.message
  if (value === null) return 'null'
  return String(value)
}

/** A key that cannot break the line: unsafe characters become '_', reserved names get a '_' suffix. */
function keyText (key: string): string {
  const safe = key.replace(KEY_UNSAFE, '_') || '_'
  return RESERVED_KEYS.has(safe) ? `${safe}_` : safe
}

function logfmtValue (text: string): string {
  return BARE_VALUE.test(text) ? text : JSON.stringify(text)
}

/** One record as one line (no newline at the end): logfmt for 'text', a JSON object for 'json'. */
export function formatLogRecord (record: LogRecord, format: LogFormat): string {
  const entries: Array<[string, string | number | boolean | null]> = []
  for (const [key, value] of Object.entries(record.fields)) {
    if (value === undefined) continue
    const plain = typeof value === 'number' || typeof value === 'boolean' ? value : value === null ? null : valueText(value)
    entries.push([keyText(key), typeof plain === 'number' && !Number.isFinite(plain) ? String(plain) : plain])
  }
  const time = record.time.toISOString()
  if (format === 'json') {
    const object: Record<string, unknown> = { time, level: record.level, event: record.event }
    for (const [key, value] of entries) object[key] = value
    return JSON.stringify(object)
  }
  const pairs = [`time=${time}`, `level=${record.level}`, `event=${logfmtValue(record.event)}`]
  for (const [key, value] of entries) pairs.push(`${key}=${logfmtValue(valueText(value))}`)
  return pairs.join(' ')
}

export function isLogLevel (text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text)
}

export function isLogFormat (text: string): text is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(text)
}

export interface LoggerOptions {
  level: LogLevel
  format: LogFormat
  /** Receives each finished line, without its newline. */
  write: (line: string) => void
  now?: () => Date
}

/** A Logger that drops records below `level` and writes the rest as lines. */
export function createLogger (options: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level)
  const now = options.now ?? (() => new Date())
  const emit = (level: LogLevel) => (event: string, fields: LogFields = {}): void => {
    if (LOG_LEVELS.indexOf(level) < threshold) return
    options.write(formatLogRecord({ time: now(), level, event, fields }, options.format))
  }
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') }
}

/** Writes to stderr: the daemon's stdout stays free for what a command prints on purpose. */
export function stderrLogger (level: LogLevel, format: LogFormat): Logger {
  return createLogger({ level, format, write: (line) => { process.stderr.write(line + '\n') } })
}

export const SILENT_LOGGER: Logger = { debug () {}, info () {}, warn () {}, error () {} }
