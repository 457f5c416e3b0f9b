// Structured logs: a record renders as one logfmt line (time, level, event, then fields; values with
// spaces, quotes or newlines quoted so the line never breaks) or as one JSON object; fields cannot
// overwrite time/level/event; Errors log their message; the logger drops records below its level; and
// the adapter for plain-line callers turns a line into an event with a msg field.
import test from 'brittle'
import { createLogger, formatLogRecord } from '../../peer/log.js'
import type { LogRecord } from '../../peer/log.js'

const TIME = new Date('2026-01-02T03:04:05.678Z')

function record (fields: LogRecord['fields'], event = 'peer.connected'): LogRecord {
  return { time: TIME, level: 'info', event, fields }
}

test('logfmt: time, level, event, then the fields in order; plain values bare', (t) => {
  t.is(formatLogRecord(record({ peer: 'ab12cd34ef56', lag: 3, up: true, gone: null, skipped: undefined }), 'text'),
    'time=2026-01-02T03:04:05.678Z level=info event=peer.connected peer=ab12cd34ef56 lag=3 up=true gone=null')
})

test('logfmt: values that could break the line are quoted and escaped', (t) => {
  const line = formatLogRecord(record({ msg: 'refused connection: bad "proof"', path: '/mnt/a b', stack: 'Error: x\n    at y', empty: '', eq: 'a=b' }), 'text')
  t.is(line.split('\n').length, 1, 'one line')
  t.ok(line.includes('msg="refused connection: bad \\"proof\\""'))
  t.ok(line.includes('path="/mnt/a b"'))
  t.ok(line.includes('stack="Error: x\\n    at y"'))
  t.ok(line.includes('empty=""'))
  t.ok(line.includes('eq="a=b"'))
})

test('fields named like the record\'s own keys, or with unsafe characters, are renamed', (t) => {
  const line = formatLogRecord(record({ level: 'fake', 'a key': 1, '': 2 }), 'text')
  t.ok(line.startsWith('time=2026-01-02T03:04:05.678Z level=info event=peer.connected '), 'the real level stays')
  t.ok(line.includes(' level_=fake'))
  t.ok(line.includes(' a_key=1'))
  t.ok(line.includes(' _=2'))
})

test('an Error logs its message; bigints and non-finite numbers stay readable', (t) => {
  const line = formatLogRecord(record({ error: new Error('disk full'), big: 12345678901234567890n, ratio: Infinity }), 'text')
  t.ok(line.includes('error="disk full"'))
  t.ok(line.includes('big=12345678901234567890'))
  t.ok(line.includes('ratio=Infinity'))
})

test('json: one object per line with the same content', (t) => {
  const line = formatLogRecord(record({ peer: 'ab', lag: 3, error: new Error('boom'), event: 'shadow', note: 'two\nlines' }), 'json')
  t.is(line.split('\n').length, 1)
  t.alike(JSON.parse(line), { time: '2026-01-02T03:04:05.678Z', level: 'info', event: 'peer.connected', peer: 'ab', lag: 3, error: 'boom', event_: 'shadow', note: 'two\nlines' })
})

test('the logger drops records below its level', (t) => {
  const lines: string[] = []
  const logger = createLogger({ level: 'warn', format: 'text', write: (line) => lines.push(line), now: () => TIME })
  logger.debug('a')
  logger.info('b')
  logger.warn('c', { n: 1 })
  logger.error('d')
  t.alike(lines, ['time=2026-01-02T03:04:05.678Z level=warn event=c n=1', 'time=2026-01-02T03:04:05.678Z level=error event=d'])
  const all: string[] = []
  const debug = createLogger({ level: 'debug', format: 'json', write: (line) => all.push(line), now: () => TIME })
  debug.debug('a')
  t.is(JSON.parse(all[0]!).level, 'debug')
})
