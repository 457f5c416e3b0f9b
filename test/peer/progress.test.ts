// Progress as text: byte amounts, durations, bars, rates and ETAs format as a reader expects; the rate
// follows the recent window; a terminal line never exceeds its width and gives up the bar before the
// numbers; and the reporter redraws a terminal line in place a few times a second but writes plain
// lines only every few seconds, driven here by a fake clock and a fake stream.
import test from 'brittle'
import { RateMeter, etaSeconds, formatBytes, formatDuration, formatRate, plainLine, renderBar, terminalLine } from '../../peer/progress.js'
import { ProgressReporter } from '../../peer/progress-reporter.js'

test('byte amounts in binary units', (t) => {
  t.is(formatBytes(0), '0 B')
  t.is(formatBytes(1023), '1023 B')
  t.is(formatBytes(1536), '1.5 KiB')
  t.is(formatBytes(4 * 1024 * 1024), '4.0 MiB')
  t.is(formatBytes(300 * 1024 * 1024), '300 MiB')
  t.is(formatBytes(2.25 * 1024 ** 4), '2.3 TiB')
  t.is(formatBytes(-1), '? B')
  t.is(formatRate(10 * 1024 * 1024, 'bytes'), '10.0 MiB/s')
  t.is(formatRate(2.5, 'chunks'), '2.5 chunks/s')
  t.is(formatRate(42.4, 'files'), '42 files/s')
})

test('durations', (t) => {
  t.is(formatDuration(0), '0s')
  t.is(formatDuration(59.4), '59s')
  t.is(formatDuration(65), '1m05s')
  t.is(formatDuration(3720), '1h02m')
  t.is(formatDuration(100_000), '1d03h')
  t.is(formatDuration(NaN), '?')
})

test('bars fill by fraction, clamped, at the width asked', (t) => {
  t.is(renderBar(0, 12), '[..........]')
  t.is(renderBar(0.5, 12), '[#####.....]')
  t.is(renderBar(1, 12), '[##########]')
  t.is(renderBar(7, 12), '[##########]')
  t.is(renderBar(-1, 6), '[....]')
  t.is(renderBar(NaN, 6), '[....]')
})

test('ETA from rate and what is left; unknown without either', (t) => {
  t.is(etaSeconds(25, 100, 5), 15)
  t.is(etaSeconds(100, 100, 5), 0)
  t.is(etaSeconds(25, null, 5), null)
  t.is(etaSeconds(25, 100, null), null)
  t.is(etaSeconds(25, 100, 0), null)
})

test('the rate meter follows the recent window', (t) => {
  const meter = new RateMeter(10_000)
  t.is(meter.perSecond(), null, 'no rate from nothing')
  meter.add(0, 0)
  t.is(meter.perSecond(), null, 'nor from one sample')
  meter.add(1000, 100)
  t.is(meter.perSecond(), 100)
  for (let second = 2; second <= 30; second++) meter.add(second * 1000, 100 + (second - 1) * 10) // slows to 10/s
  t.ok(Math.abs(meter.perSecond()! - 10) < 1.5, `the old fast second left the window: ${meter.perSecond()!}`)
  meter.add(29_000, 1_000_000)
  t.ok(meter.perSecond()! < 20, 'a sample from the past (clock step back) is ignored')
})

test('a terminal line fits its width, the bar goes first', (t) => {
  const view = { label: 'scrub', done: 120, total: 266, unit: 'chunks' as const, perSecond: 12, detail: '3 replaced' }
  const wide = terminalLine(view, 120)
  t.ok(wide.startsWith('scrub [') && wide.includes(' 45%  120 chunks of 266 chunks  12 chunks/s  ETA 12s  3 replaced'), wide)
  t.ok(wide.length <= 120)
  const narrow = terminalLine(view, 60)
  t.absent(narrow.includes('['), `no room for a bar: ${narrow}`)
  t.ok(narrow.length <= 60)
  for (let columns = 20; columns <= 140; columns++) t.ok(terminalLine(view, columns).length <= columns || columns < 1, `fits ${columns}`)
  t.ok(terminalLine({ ...view, total: null, perSecond: null }, 80).includes('--%'), 'an unknown total shows as such')
})

test('a plain line says the same in words', (t) => {
  t.is(plainLine({ label: 'import', done: 50 * 1024 * 1024, total: 200 * 1024 * 1024, unit: 'bytes', perSecond: 10 * 1024 * 1024, detail: '3/9 files' }),
    'import: 25% (50.0 MiB of 200 MiB), 10.0 MiB/s, ETA 15s; 3/9 files')
  t.is(plainLine({ label: 'repair', done: 0, total: null, unit: 'chunks', perSecond: null }), 'repair: --% (0 chunks)')
  t.is(plainLine({ label: 'scrub', done: 0, total: 0, unit: 'chunks', perSecond: null }), 'scrub: 100% (0 chunks of 0 chunks)', 'nothing to do is done')
})

function fakeOutput (isTTY: boolean): { isTTY: boolean, columns: number, written: string[], write: (text: string) => void } {
  const written: string[] = []
  return { isTTY, columns: 100, written, write: (text: string) => { written.push(text) } }
}

test('on a terminal the line is redrawn in place, at most every 200 ms', (t) => {
  let now = 0
  const output = fakeOutput(true)
  const reporter = new ProgressReporter(output, { label: 'import', unit: 'bytes', now: () => now })
  reporter.update(0, 1000)
  now = 100
  reporter.update(100, 1000)
  now = 250
  reporter.update(250, 1000)
  t.is(output.written.length, 2, 'the update 100 ms after the first is not drawn')
  t.ok(output.written.every((text) => text.startsWith('\r\u001b[K') && !text.includes('\n')), 'each redraw returns to the line start and clears it')
  t.ok(output.written[1]!.includes('1000 B/s'), 'with the rate')
  reporter.finish('import: done')
  t.is(output.written.slice(2).join(''), '\r\u001b[Kimport: done\n', 'the summary replaces the bar')
})

test('elsewhere a plain line every 5 s', (t) => {
  let now = 0
  const output = fakeOutput(false)
  const reporter = new ProgressReporter(output, { label: 'scrub', unit: 'chunks', now: () => now })
  for (now = 0; now <= 12_000; now += 500) reporter.update(now / 500, 100)
  t.is(output.written.length, 3, 'at 0, 5 and 10 s')
  t.ok(output.written.every((text) => text.endsWith('\n') && !text.includes('\r')), 'plain lines, no terminal codes')
  reporter.finish('scrub: done')
  t.is(output.written[3], 'scrub: done\n')
})
