// The kernel asks for security.capability before every write, to drop it as a write must. While no
// file has one, the binding answers that probe itself (no round trip through the JS thread); once a
// file has one, every probe is asked again, so a write still strips the capability it finds.
import test from 'brittle'
import { CLI, TestPeer, run, sh } from '../helpers/peer.js'

async function getxattrCalls (peer: TestPeer): Promise<number> {
  const status = JSON.parse(await run(`node ${CLI} status --data ${peer.data} --json`)) as { latency: { fuse: Record<string, { count: number } | undefined> } }
  return status.latency.fuse.getxattr?.count ?? 0
}

test('capability probes: answered in the binding while no file has one, by the filesystem once one does', async (t) => {
  if ((await sh('command -v setcap getcap')).code !== 0) { t.comment('setcap/getcap not installed: skipped'); return }
  const peer = await TestPeer.start()
  t.teardown(async () => { await peer.destroy() })
  const file = `${peer.mountpoint}/tool`
  await run(`echo one > ${file} && echo two >> ${file}`)
  t.is(await getxattrCalls(peer), 0, 'writes without capabilities anywhere cost no getxattr round trip')
  t.is((await sh(`getfattr -n security.capability ${file}`)).code, 1, 'the probe still answers "no such attribute"')

  await run(`setcap cap_net_raw+ep ${file}`)
  t.ok((await run(`getcap ${file}`)).includes('cap_net_raw=ep'), 'a capability can be set')
  await run(`echo three >> ${file}`)
  t.is((await run(`getcap ${file}`)).trim(), '', 'a write drops the capability, as on any filesystem')
  t.ok(await getxattrCalls(peer) > 0, 'the probes reached the filesystem while a capability existed')

  await peer.stop()
  await peer.restart()
  await run(`setcap cap_net_raw+ep ${file}`)
  await peer.stop()
  await peer.restart() // the state, with its capability, comes back from disk
  await run(`echo four >> ${file}`)
  t.is((await run(`getcap ${file}`)).trim(), '', 'after a restart too')
  t.is(await run(`cat ${file}`), 'one\ntwo\nthree\nfour\n')
  const before = await getxattrCalls(peer)
  await run(`echo five >> ${file}`)
  t.is(await getxattrCalls(peer), before, 'no capability left: probes are answered in the binding again')
})
