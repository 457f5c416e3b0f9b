// The README's first command: `swarmfs demo` brings up a local 3-peer cluster whose mounts behave as one
// filesystem, and Ctrl-C leaves nothing mounted, running or on disk.
import test from 'brittle'
import { spawn } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { DAEMON_NODE_FLAGS } from '../../peer/node-flags.js'
import { CLI, run, sh, tempDirectory } from '../helpers/peer.js'

test('swarmfs demo: three peers, one filesystem, Ctrl-C leaves nothing behind', async (t) => {
  const dir = path.join(await tempDirectory('swarmfs-demo-test-'), 'demo')
  const child = spawn(process.execPath, [CLI, 'demo', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGINT')
    await exited
    await sh(`for m in ${dir}/peer*/mnt; do fusermount -uz $m 2>/dev/null; done; rm -rf ${path.dirname(dir)}`)
  })
  const deadline = Date.now() + 120_000
  while (!output.includes('Press Ctrl-C')) {
    if (child.exitCode !== null || Date.now() > deadline) { t.fail(`the demo did not come up:\n${output}`); return }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  const mounts = ['peer1', 'peer2', 'peer3'].map((name) => path.join(dir, name, 'mnt'))
  await run(`echo hello from peer1 > ${mounts[0]}/hello.txt && mkdir -p ${mounts[2]}/a/b`)
  t.is((await run(`cat ${mounts[1]}/hello.txt`)).trim(), 'hello from peer1', "peer2's mount reads what peer1 wrote")
  t.ok((await sh(`test -d ${mounts[0]}/a/b`)).code === 0, "peer1's mount shows peer3's directories")
  const { pid } = JSON.parse(await run(`node ${CLI} status --data ${path.join(dir, 'peer1', 'data')} --json`)) as { pid: number }
  const commandLine = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
  t.ok(DAEMON_NODE_FLAGS.every((flag) => commandLine.includes(flag)), `its daemons run with ${DAEMON_NODE_FLAGS.join(' ')}`)

  child.kill('SIGINT')
  t.is(await exited, 0, 'Ctrl-C exits 0')
  t.ok(output.includes('nothing left mounted or running'), 'and says so')
  const table = await readFile('/proc/self/mounts', 'utf8')
  t.absent(mounts.some((mount) => table.includes(mount)), 'no mount is left')
  t.is(await stat(dir).then(() => 'exists', () => 'gone'), 'gone', 'the demo directory is removed')
  t.is((await sh(`pgrep -f "${dir}"`)).code, 1, 'no demo process is left running')
})
