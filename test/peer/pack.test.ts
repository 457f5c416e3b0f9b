// The package as npm ships it: `npm pack` holds compiled JavaScript and the files the install needs, but
// no tests, no TypeScript sources and no source maps; the tarball installs into an empty directory (its
// postinstall builds the patched fuse-native addon from there) and the installed `swarmfs --help` runs.
import test from 'brittle'
import { readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { sh, tempDirectory } from '../helpers/peer.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const INSTALL_TIMEOUT_MS = 10 * 60_000

test('npm pack is lean, and the tarball installs and runs', async (t) => {
  const base = await tempDirectory('swarmfs-pack-')
  t.teardown(async () => { await rm(base, { recursive: true, force: true }) })

  const packed = await sh(`npm pack --json --pack-destination ${base}`, { cwd: ROOT, timeoutMs: INSTALL_TIMEOUT_MS })
  t.is(packed.code, 0, `npm pack succeeds ${packed.stderr.slice(-2000)}`)
  const [manifest] = JSON.parse(packed.stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = manifest!.files.map((file) => file.path)
  t.comment(`${files.length} files in ${manifest!.filename}`)
  t.alike(files.filter((file) => /(^|\/)tests?\//.test(file) || /\.test\.js$/.test(file)), [], 'no test files')
  t.alike(files.filter((file) => file.endsWith('.ts')), [], 'no TypeScript sources (nor declarations)')
  t.alike(files.filter((file) => file.endsWith('.map')), [], 'no source maps')
  for (const needed of ['dist/peer/cli.js', 'native/build-addon.sh', 'native/patches/fuse-native+2.2.6.patch', 'peer/systemd/swarmfs@.service']) {
    t.ok(files.includes(needed), `ships ${needed}`)
  }

  const app = path.join(base, 'app')
  await sh(`mkdir -p ${app}`)
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'swarmfs-pack-test', private: true }) + '\n')
  const installed = await sh(`npm install --no-audit --no-fund ${path.join(base, manifest!.filename)}`, { cwd: app, timeoutMs: INSTALL_TIMEOUT_MS })
  t.is(installed.code, 0, `npm install of the tarball succeeds ${installed.code === 0 ? '' : installed.stderr.slice(-3000)}`)
  const patched = await sh(`node -e "process.exit(require('node-gyp-build')('node_modules/fuse-native').swarmfs_patch === 8 ? 0 : 1)"`, { cwd: app })
  t.is(patched.code, 0, 'the postinstall built the patched fuse-native addon')

  const help = await sh('node_modules/.bin/swarmfs --help', { cwd: app })
  t.is(help.code, 0, 'swarmfs --help exits 0')
  t.ok(help.stdout.includes('Usage: swarmfs <command>'), 'and prints the usage')
  const upHelp = await sh('node_modules/.bin/swarmfs up --help', { cwd: app })
  t.is(upHelp.code, 0)
  t.ok(upHelp.stdout.includes('Usage: swarmfs up'), 'a command\'s help runs from the installed package too')
})

test('the systemd unit parses and carries the settings that make stop and crash clean', async (t) => {
  const unit = await readFile(path.join(ROOT, 'peer/systemd/swarmfs@.service'), 'utf8')
  const keys = new Map<string, string[]>()
  for (const line of unit.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (match !== null) keys.set(match[1]!, [...(keys.get(match[1]!) ?? []), match[2]!])
  }
  t.alike(keys.get('EnvironmentFile'), ['/etc/swarmfs/%i.env'], 'settings come from /etc/swarmfs/NAME.env')
  t.ok(keys.get('ExecStart')?.[0]?.endsWith('swarmfs up'), 'runs swarmfs up (data and mount from SWARMFS_DATA, SWARMFS_MOUNT)')
  t.ok(keys.get('ExecStopPost')?.[0]?.includes('swarmfs unmount ${SWARMFS_MOUNT}'), 'clears a mount a crash left')
  t.alike(keys.get('Restart'), ['on-failure'])
  t.alike(keys.get('KillSignal'), ['SIGTERM'], 'SIGTERM: the daemon commits and unmounts')
  t.ok(Number(keys.get('TimeoutStopSec')?.[0]) >= 60, 'a generous stop timeout')
  for (const variable of ['SWARMFS_DATA', 'SWARMFS_MOUNT', 'SWARMFS_BOOTSTRAP', 'SWARMFS_HOST']) t.ok(unit.includes(variable), `documents ${variable}`)

  const analyze = await sh('command -v systemd-analyze')
  if (analyze.code !== 0) { t.comment('systemd-analyze not installed: key checks only'); return }
  const base = await tempDirectory('swarmfs-unit-')
  t.teardown(async () => { await rm(base, { recursive: true, force: true }) })
  await sh(`cp ${path.join(ROOT, 'peer/systemd/swarmfs@.service')} ${base}/`)
  const verified = await sh(`systemd-analyze verify ${base}/swarmfs@test.service`, { timeoutMs: 60_000 })
  t.comment(verified.stderr.trim())
  t.is(verified.code, 0, 'systemd-analyze verify accepts it')
  t.absent(/Unknown|Failed to parse|ignoring|Invalid/i.test(verified.stderr), 'without a warning about any line')
})
