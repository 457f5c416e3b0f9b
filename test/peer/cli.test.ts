// The command line as a user meets it: init makes owner-only keys and refuses to overwrite a cluster,
// `status --json` of a running peer carries the fields scripts rely on, a stopped peer is reported
// with exit code 3, and a key file readable by others keeps the daemon from starting.
import test from 'brittle'
import { chmod, mkdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { CLI, TestPeer, sh, tempDirectory } from '../helpers/peer.js'

test('init writes owner-only keys and refuses to overwrite an existing cluster', async (t) => {
  const base = await tempDirectory()
  t.teardown(async () => { await sh(`rm -rf ${base}`) })
  const data = path.join(base, 'data')
  t.is((await sh(`node ${CLI} init --data ${data}`)).code, 0)
  t.is((await stat(path.join(data, 'cluster.key'))).mode & 0o777, 0o600, 'cluster.key is 0600')
  t.is((await stat(data)).mode & 0o777, 0o700, 'the data directory is 0700')
  const again = await sh(`node ${CLI} init --data ${data}`)
  t.is(again.code, 1)
  t.ok(again.stderr.includes('already holds a cluster'), 'a clear refusal')
})

test('status --json of a running peer, and of a stopped one', async (t) => {
  const peer = await TestPeer.start()
  t.teardown(async () => { await peer.destroy() })
  const running = await sh(`node ${CLI} status --data ${peer.data} --json`)
  t.is(running.code, 0)
  const status = JSON.parse(running.stdout) as Record<string, any>
  t.is(status.role, 'leader', 'a single peer leads its group of one')
  t.is(status.leader, status.id)
  t.ok(status.term >= 1, 'a term')
  t.alike(status.peers.map(({ id, role, state, self }: any) => ({ id, role, state, self })), [{ id: status.id, role: 'leader', state: 'up', self: true }])
  t.is((await stat(path.join(peer.data, 'control.sock'))).mode & 0o777, 0o600, 'the control socket is owner-only')
  const table = await sh(`node ${CLI} status --data ${peer.data}`)
  t.ok(table.stdout.includes(`peer        ${String(status.id)} (leader`), 'a readable table')
  await peer.stop()
  const stopped = await sh(`node ${CLI} status --data ${peer.data} --json`)
  t.is(stopped.code, 3, 'exit code 3: no peer running')
  t.is(JSON.parse(stopped.stdout).running, false)
})

test('the daemon refuses a key file that others can read', async (t) => {
  const base = await tempDirectory()
  t.teardown(async () => { await sh(`rm -rf ${base}`) })
  const data = path.join(base, 'data')
  await mkdir(path.join(base, 'mnt'))
  await sh(`node ${CLI} init --data ${data}`)
  await chmod(path.join(data, 'cluster.key'), 0o644)
  const up = await sh(`timeout 20 node ${CLI} up --data ${data} --mount ${path.join(base, 'mnt')}`)
  t.is(up.code, 1)
  t.ok(up.stderr.includes('chmod 600'), 'the error says how to fix it')
})

test('usage errors exit 2 with help; --help exits 0', async (t) => {
  t.is((await sh(`node ${CLI} frobnicate`)).code, 2)
  t.is((await sh(`node ${CLI} up --data /nonexistent`)).code, 2, 'a missing --mount is a usage error')
  const unknown = await sh(`node ${CLI} scrub --data /nonexistent --frobnicate`)
  t.is(unknown.code, 2, 'an unknown option is a usage error')
  t.ok(unknown.stderr.includes('Usage: swarmfs scrub'), 'followed by the command\'s usage')
  t.is((await sh(`node ${CLI} status`)).code, 2, 'a missing --data is a usage error')
  const help = await sh(`node ${CLI} up --help`)
  t.is(help.code, 0)
  t.ok(help.stdout.includes('--allow-other'))
})

test('up with a missing mountpoint fails fast with a clear message', async (t) => {
  const base = await tempDirectory()
  t.teardown(async () => { await sh(`rm -rf ${base}`) })
  const data = path.join(base, 'data')
  await sh(`node ${CLI} init --data ${data}`)
  const up = await sh(`timeout 20 node ${CLI} up --data ${data} --mount ${path.join(base, 'nowhere')}`)
  t.is(up.code, 1, 'exit 1, not a hang (timeout would be 124)')
  t.ok(up.stderr.includes('does not exist (create it: mkdir -p'), 'the error says how to fix it')
})
