// Proves the core is pure (STYLE.md §6.6 rule 1): no file in metadata/raft/ imports I/O modules or
// uses timers, the wall clock or Math.random, and nothing there imports from peer/ or mount/.
import test from 'brittle'
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

const RAFT_DIR = fileURLToPath(new URL('../../../../metadata/raft/', import.meta.url))
const FORBIDDEN = [/from 'node:/, /from '(fs|net|os|child_process|dgram|timers)'/, /\bDate\.now\b/, /new Date\(/, /Math\.random/, /\bsetTimeout\b/, /\bsetInterval\b/, /\bsetImmediate\b/, /process\.hrtime/, /from '\.\.\/\.\.\/(peer|mount)\//]

test('metadata/raft is pure: no I/O, timers, wall clock or Math.random', (t) => {
  const files = readdirSync(RAFT_DIR).filter((f) => f.endsWith('.ts') || f.endsWith('.js'))
  t.ok(files.length > 10, `scanned ${files.length} files`)
  const offenders: string[] = []
  for (const file of files) {
    const source = readFileSync(join(RAFT_DIR, file), 'utf8').replace(/^\s*\/\/.*$/gm, '')
    for (const pattern of FORBIDDEN) if (pattern.test(source)) offenders.push(`${file}: ${pattern}`)
  }
  t.alike(offenders, [])
})
