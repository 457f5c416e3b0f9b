// `swarmfs doctor` on this machine: a fresh data directory passes every check; a key readable by others
// fails with the chmod that fixes it (exit 1); a local bootstrap node answers and a dead port does not,
// within the bound. Also the CLI conventions doctor relies on: every command prints its usage for
// --help, and `up` takes --data/--mount from SWARMFS_DATA/SWARMFS_MOUNT, flags winning.
import test from 'brittle'
import { chmod } from 'node:fs/promises'
import dgram from 'node:dgram'
import path from 'node:path'
import { BootstrapNode } from '../helpers/cluster.js'
import { CLI, run, sh, tempDirectory } from '../helpers/peer.js'

const COMMANDS = ['init', 'invite', 'join', 'up', 'status', 'scrub', 'repair', 'rebalance', 'import', 'remove', 'bootstrap', 'unmount', 'demo', 'doctor']

async function freshDataDir (t: any): Promise<{ base: string, data: string }> {
  const base = await tempDirectory()
  t.teardown(async () => { await sh(`rm -rf ${base}`) })
  const data = path.join(base, 'data')
  await run(`node ${CLI} init --data ${data}`)
  return { base, data }
}

test('doctor passes on a fresh data directory, and fails with the fix when a key is 0644', async (t) => {
  const { data } = await freshDataDir(t)
  const passed = await sh(`node ${CLI} doctor --data ${data}`)
  t.comment(passed.stdout.trim())
  t.is(passed.code, 0, 'exit 0: every check passed')
  t.ok(passed.stdout.includes('all checks passed'))
  const json = await sh(`node ${CLI} doctor --data ${data} --json`)
  const report = JSON.parse(json.stdout) as { ok: boolean, checks: Array<{ name: string, state: string }> }
  t.is(report.ok, true)
  t.alike(['libfuse2', '/dev/fuse', 'fusermount', 'key cluster.key', 'key peer.key', 'free disk', 'clock'].filter((name) => !report.checks.some((check) => check.name === name)), [], 'every check ran')

  const key = path.join(data, 'cluster.key')
  await chmod(key, 0o644)
  const failed = await sh(`node ${CLI} doctor --data ${data}`)
  t.is(failed.code, 1, 'exit 1: a check failed')
  t.ok(/FAIL\s+key cluster\.key/.test(failed.stdout), 'names the failed check')
  t.ok(failed.stdout.includes(`fix: chmod 600 ${key}`), 'and prints the fix')
  const fromEnv = await sh(`SWARMFS_DATA=${data} node ${CLI} doctor`)
  t.is(fromEnv.code, 1, 'the data directory can come from SWARMFS_DATA')
})

test('doctor --data on a directory without keys says to init it', async (t) => {
  const base = await tempDirectory()
  t.teardown(async () => { await sh(`rm -rf ${base}`) })
  const result = await sh(`node ${CLI} doctor --data ${path.join(base, 'none')}`)
  t.is(result.code, 1)
  t.ok(result.stdout.includes('swarmfs init --data'), 'the fix is to create it')
})

test('doctor --bootstrap: a local bootstrap node answers, a dead port does not', async (t) => {
  const bootstrap = await BootstrapNode.start()
  t.teardown(async () => { await bootstrap.stop() })
  const reached = await sh(`node ${CLI} doctor --bootstrap ${bootstrap.address} --json`, { timeoutMs: 60_000 })
  const check = (JSON.parse(reached.stdout) as { checks: Array<{ name: string, state: string }> }).checks.find((c) => c.name === 'bootstrap')
  t.is(check?.state, 'ok', `reaches ${bootstrap.address}`)
  t.is(reached.code, 0)

  // A UDP port bound by this test and never answered: nothing there speaks the DHT.
  const silent = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve))
  t.teardown(() => { silent.close() })
  const started = Date.now()
  const unreached = await sh(`node ${CLI} doctor --bootstrap 127.0.0.1:${silent.address().port}`, { timeoutMs: 60_000 })
  t.is(unreached.code, 1, 'exit 1')
  t.ok(/FAIL\s+bootstrap/.test(unreached.stdout) && unreached.stdout.includes('fix: check the address'), 'with the fix')
  t.ok(Date.now() - started < 30_000, 'within the bound')
})

test('every command prints its usage for --help and exits 0', async (t) => {
  for (const command of COMMANDS) {
    const help = await sh(`node ${CLI} ${command} --help`)
    t.is(help.code, 0, `${command} --help exits 0`)
    t.ok(help.stdout.startsWith(`Usage: swarmfs ${command}`), `${command} --help prints its usage`)
  }
  const main = await sh(`node ${CLI} --help`)
  t.is(main.code, 0)
  t.alike(COMMANDS.filter((command) => !new RegExp(`^  ${command} `, 'm').test(main.stdout)), [], 'the main help lists every command')
  const up = await sh(`node ${CLI} up --help`)
  t.ok(up.stdout.includes('flags > environment > config file > defaults'), 'up --help documents the precedence')
})

test('up takes --data and --mount from the environment; flags win', async (t) => {
  const { base, data } = await freshDataDir(t)
  const fromEnv = await sh(`SWARMFS_DATA=${data} SWARMFS_MOUNT=${base}/env-missing timeout 20 node ${CLI} up`)
  t.is(fromEnv.code, 1, 'not a usage error: both came from the environment')
  t.ok(fromEnv.stderr.includes(`mountpoint ${base}/env-missing does not exist`), 'the mountpoint from SWARMFS_MOUNT')
  const flagWins = await sh(`SWARMFS_DATA=${base}/elsewhere SWARMFS_MOUNT=${base}/env-missing timeout 20 node ${CLI} up --data ${data} --mount ${base}/flag-missing`)
  t.is(flagWins.code, 1)
  t.ok(flagWins.stderr.includes(`mountpoint ${base}/flag-missing does not exist`), 'the flag wins over the environment')
  const none = await sh(`SWARMFS_DATA= SWARMFS_MOUNT= node ${CLI} up`)
  t.is(none.code, 2, 'neither: a usage error')
})
