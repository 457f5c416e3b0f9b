// Keeps the benchmark compiling and running, and proves steady-state group commit as a count: 16
// appenders that each await their append before the next share fdatasyncs (no timing is asserted).
import test from 'brittle'
import { formatWalBench, runWalBench } from './wal-bench.js'

test('benchmark smoke run: concurrent appenders share fdatasyncs in steady state', async (t) => {
  const result = await runWalBench({ concurrencies: [1, 16], rawSyncs: 20, appendsPerRun: 400 })
  const [single, sixteen] = result.rows
  t.is(single?.syncs, single?.appends, 'one appender: one fdatasync per append')
  const appends = sixteen?.appends ?? 0
  t.ok((sixteen?.syncs ?? Infinity) <= appends / 8, `16 appenders: ${sixteen?.syncs} fdatasyncs for ${appends} appends`)
  t.comment(formatWalBench(result))
})
