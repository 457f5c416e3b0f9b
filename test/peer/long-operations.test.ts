// Long operations from the command line, on one peer running alone: `import` copies a tree into the
// mount (contents, modes, times, symlinks identical) and shows progress as plain lines when its
// output is not a terminal; `scrub` has the daemon verify every stored chunk now and exits 0, then 1
// once a stored chunk file is damaged (a peer alone cannot replace it); `repair` on a lone peer says
// why it cannot; with no daemon the pass commands exit 3. Also `status` shows disk and cache lines,
// and `up` takes its settings from DATA/swarmfs.conf — JSON logs included — or refuses a malformed
// file naming its line and key.
import test from 'brittle'
import { spawn } from 'node:child_process'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { CLI, TestPeer, run, sh, tempDirectory } from '../helpers/peer.js'

const BIG_MB = 12

async function someChunkFile (data: string): Promise<string> {
  const root = path.join(data, 'chunks')
  for (const fanout of (await readdir(root)).filter((name) => /^[0-9a-f]{2}$/.test(name)).sort()) {
    const [file] = await readdir(path.join(root, fanout))
    if (file !== undefined) return path.join(root, fanout, file)
  }
  throw new Error('no chunk file stored')
}

test('import, scrub and repair on a peer running alone', async (t) => {
  const peer = await TestPeer.start()
  const source = await tempDirectory('swarmfs-import-')
  t.teardown(async () => {
    await peer.destroy()
    await sh(`rm -rf ${source}`)
  })
  const src = path.join(source, 'tree')
  await run(`mkdir -p ${src}/sub/deeper && dd if=/dev/urandom of=${src}/big.bin bs=1M count=${BIG_MB} status=none && ` +
    `for i in $(seq 1 20); do echo "file $i" > ${src}/sub/small-$i.txt; done && echo deep > ${src}/sub/deeper/d.txt && ` +
    `ln -s sub/small-1.txt ${src}/link && chmod 0640 ${src}/sub/small-2.txt && chmod 0750 ${src}/sub/deeper && ` +
    `touch -d '2020-02-03 04:05:06' ${src}/sub/small-3.txt ${src}/sub`)
  const m = peer.mountpoint

  const imported = await sh(`node ${CLI} import ${src} ${m}`)
  t.is(imported.code, 0, `import exits 0 ${imported.code === 0 ? '' : imported.stderr}`)
  t.ok(/^import: \d+% \(.* of 12\.0 MiB\)/m.test(imported.stderr), `progress as plain lines when not on a terminal: ${imported.stderr.trim()}`)
  t.absent(imported.stderr.includes('\r'), 'no terminal redraws in a pipe')
  t.ok(imported.stdout.startsWith('import: 22 files (12.0 MiB) copied to'), imported.stdout.trim())
  t.is((await sh(`diff -r --no-dereference ${src} ${m}/tree`)).code, 0, 'the tree arrives identical')
  const attributes = 'cd DIR && find . | sort | xargs -d "\\n" stat -c "%n %A %Y %N"'
  t.is(await run(attributes.replace('DIR', `${m}/tree`)), await run(attributes.replace('DIR', src)), 'modes, times and symlinks kept')

  const json = await sh(`node ${CLI} import ${src}/big.bin ${m}/copy.bin --json`)
  t.is(json.code, 0)
  const summary = JSON.parse(json.stdout) as { filesDone: number, bytesDone: number, failed: number, target: string }
  t.alike([summary.filesDone, summary.bytesDone, summary.failed, summary.target], [1, BIG_MB * 1024 * 1024, 0, `${m}/copy.bin`], '--json summary')
  t.is((await sh(`cmp ${src}/big.bin ${m}/copy.bin`)).code, 0, 'a single file copies to a new name')
  const missing = await sh(`node ${CLI} import ${source}/nothing ${m}`)
  t.is(missing.code, 1, 'a missing source fails')
  t.ok(missing.stderr.includes('nothing'), 'naming it')
  t.is((await sh(`node ${CLI} import ${src}`)).code, 2, 'import without DEST is a usage error')
  t.is((await sh(`node ${CLI} import ${src} ${src}/sub`)).code, 1, 'a tree cannot be imported into itself')

  const scrub = await sh(`node ${CLI} scrub --data ${peer.data}`)
  t.is(scrub.code, 0, `scrub exits 0 ${scrub.code === 0 ? '' : scrub.stderr}`)
  t.ok(/^scrub: (\d+) chunks verified .*; 0 bad copies replaced, 0 could not be replaced$/m.test(scrub.stdout), scrub.stdout.trim())
  t.ok(scrub.stderr.includes('scrub: '), 'with progress on stderr')
  const scrubJob = JSON.parse((await run(`node ${CLI} scrub --data ${peer.data} --json`))) as { state: string, progress: Record<string, number> }
  t.is(scrubJob.state, 'done')
  // 3 chunks of big.bin (its copy has the same ids: chunks are named by their content) and 21 small files.
  t.ok(scrubJob.progress.chunksDone! >= Math.ceil(BIG_MB / 4) + 21 && scrubJob.progress.chunksDone === scrubJob.progress.chunksTotal, `every chunk verified: ${JSON.stringify(scrubJob.progress)}`)
  t.ok(scrubJob.progress.bytesDone! >= BIG_MB * 1024 * 1024, 'bytes counted')

  const table = await run(`node ${CLI} status --data ${peer.data}`)
  t.ok(/^disk {8}.* used of .* available \(/m.test(table), 'status shows disk capacity')
  t.ok(/^cache {7}.* hits \/ .* misses/m.test(table), 'and the cache')
  t.ok(table.includes('this peer runs alone'), 'and that nothing replicates')

  const chunk = await someChunkFile(peer.data)
  await run(`printf 'XXXXXXXX' | dd of=${chunk} bs=1 seek=300 conv=notrunc status=none`)
  const bad = await sh(`node ${CLI} scrub --data ${peer.data}`)
  t.is(bad.code, 1, 'a damaged copy fails the scrub')
  t.ok(bad.stdout.includes('0 bad copies replaced, 1 could not be replaced'), bad.stdout.trim())

  const repair = await sh(`node ${CLI} repair --data ${peer.data}`)
  t.is(repair.code, 1)
  t.ok(repair.stderr.includes('runs alone'), `repair says why it cannot: ${repair.stderr.trim()}`)

  await peer.stop()
  for (const command of ['scrub', 'repair', 'rebalance']) t.is((await sh(`node ${CLI} ${command} --data ${peer.data}`)).code, 3, `${command} with no peer running exits 3`)
})

test('up takes its settings from DATA/swarmfs.conf, and refuses a malformed one', async (t) => {
  const base = await tempDirectory()
  const data = path.join(base, 'data')
  const mnt = path.join(base, 'mnt')
  t.teardown(async () => { await sh(`fusermount -uz ${mnt} 2>/dev/null; rm -rf ${base}`) })
  await mkdir(mnt)
  await run(`node ${CLI} init --data ${data}`)
  const config = path.join(data, 'swarmfs.conf')

  await writeFile(config, 'mount = /elsewhere\ncache-mb = many\n')
  const refused = await sh(`timeout 20 node ${CLI} up --data ${data}`)
  t.is(refused.code, 2, 'a configuration error exits 2')
  t.ok(refused.stderr.includes(`${config} line 2: cache-mb: "many" is not a whole number`), refused.stderr.trim())

  await writeFile(config, `# this peer\nmount = ${mnt}\nlog-format = json\ncache-mb = 24\n`)
  const child = spawn(process.execPath, [CLI, 'up', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGKILL'); await exited } }, { order: -1 })
  const deadline = Date.now() + 30_000
  while (!output.includes('"event":"daemon.mounted"') && child.exitCode === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  const status = JSON.parse(await run(`node ${CLI} status --data ${data} --json`)) as { mountpoint: string, chunks: { cache: { bytesMax: number } } }
  t.is(status.mountpoint, mnt, 'the mountpoint came from the file')
  t.is(status.chunks.cache.bytesMax, 24 * 1024 * 1024, 'and the cache size')
  child.kill('SIGTERM')
  t.is(await exited, 0, 'SIGTERM exits 0')
  const lines = output.trim().split('\n')
  const records = lines.map((line) => { try { return JSON.parse(line) as Record<string, unknown> } catch { return null } })
  t.absent(records.includes(null), 'every log line is a JSON object')
  t.ok(records.every((record) => typeof record?.time === 'string' && typeof record.level === 'string' && typeof record.event === 'string'), 'with time, level and event')
  t.alike(records.map((record) => record?.event).filter((event) => event === 'daemon.starting' || event === 'daemon.mounted' || event === 'daemon.stopped'),
    ['daemon.starting', 'daemon.mounted', 'daemon.stopped'])
  t.is(records.find((record) => record?.event === 'daemon.starting')?.config, config, 'the start names the config file it read')
  t.absent((await readFile('/proc/self/mounts', 'utf8')).includes(mnt), 'unmounted')
})
