// The daemon's V8 flags (peer/node-flags.ts) reach every way it starts: the `swarmfs` binary's first
// line carries exactly them and runs as the kernel would run it (`/usr/bin/env` gets the rest of the
// line as one argument), and a daemon the test helpers start (so every test and benchmark) has them on
// its command line. The mount helper's and the demo's daemons are checked in their own tests.
import test from 'brittle'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { DAEMON_NODE_FLAGS } from '../../peer/node-flags.js'
import { CLI, TestPeer } from '../helpers/peer.js'

test('the swarmfs binary runs node with the daemon flags', async (t) => {
  const [firstLine] = (await readFile(CLI, 'utf8')).split('\n')
  t.is(firstLine, `#!/usr/bin/env -S node ${DAEMON_NODE_FLAGS.join(' ')}`, 'its first line names exactly the flags')
  const [interpreter, argument] = [firstLine!.slice(2).split(' ')[0]!, firstLine!.slice(2).split(' ').slice(1).join(' ')]
  const { stdout } = await promisify(execFile)(interpreter, [argument, CLI, '--help'])
  t.ok(stdout.includes('swarmfs'), 'and runs as the kernel runs it')
})

test('a started daemon has the flags on its command line', { timeout: 120_000 }, async (t) => {
  const peer = await TestPeer.start()
  try {
    const commandLine = (await readFile(`/proc/${peer.pid}/cmdline`, 'utf8')).split('\0')
    for (const flag of DAEMON_NODE_FLAGS) t.ok(commandLine.includes(flag), flag)
  } finally {
    await peer.destroy()
  }
})
