// `swarmfs status` and the Prometheus endpoint tell the same truth while a peer dies and comes back: a
// 3-peer cluster on loopback (local bootstrap node) with metrics on; kill -9 one peer → both the status
// of another peer and its /metrics report the dead one not up within a bound; restart it → both report
// it up again. On the way, `swarmfs scrub`, `rebalance` and `repair --no-grace` run passes in a peer's
// daemon and report every chunk looked at. Metrics listen on 127.0.0.1 port 0 (SWARMFS_METRICS, so every
// peer has them); the port is read from the daemon's log line (event=metrics.listening).
import test from 'brittle'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import { CLI } from '../helpers/peer.js'
import type { ClusterPeer } from '../helpers/cluster.js'

const DETECT_BOUND_MS = 30_000

async function scrape (port: number): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`)
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`)
  const samples = new Map<string, number>()
  for (const line of (await response.text()).split('\n')) {
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line)
    if (match !== null) samples.set(match[1]!, Number(match[2]))
  }
  return samples
}

function metricsPort (peer: ClusterPeer): number {
  const match = /event=metrics\.listening url=http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(peer.log)
  if (match === null) throw new Error(`${peer.name} did not log its metrics address:\n${peer.log}`)
  return Number(match[1])
}

test('status and /metrics both report a killed peer down and a restarted one up', failuresAsAsserts(async (t) => {
  const previous = process.env.SWARMFS_METRICS
  process.env.SWARMFS_METRICS = '127.0.0.1:0'
  t.teardown(() => {
    if (previous === undefined) delete process.env.SWARMFS_METRICS
    else process.env.SWARMFS_METRICS = previous
  })
  const cluster = await Cluster.start(3)
  t.teardown(async () => await cluster.destroy(), { force: true })
  const [watcher, , victim] = cluster.peers as [ClusterPeer, ClusterPeer, ClusterPeer]
  const port = metricsPort(watcher)
  const upLabel = `swarmfs_peer_up{peer="${victim.id}"}`

  const agree = async (victimUp: boolean): Promise<boolean> => {
    const status = await watcher.status()
    const samples = await scrape(port)
    const view = status?.peers.find((peer) => peer.id === victim.id)
    if (status === null || view === undefined) return false
    const statusSays = view.state === 'up'
    const upCount = status.peers.filter((peer) => !peer.id.startsWith(status.id) && peer.state === 'up').length
    return statusSays === victimUp && samples.get(upLabel) === (victimUp ? 1 : 0) &&
      samples.get('swarmfs_peers{state="up"}') === (victimUp ? 2 : 1) && upCount === (victimUp ? 2 : 1)
  }

  await cluster.waitFor(async () => await agree(true), 'both to report every peer up')
  const before = await scrape(port)
  const status = (await watcher.status())!
  t.is(before.get('swarmfs_raft_voters'), status.voters.length, 'metrics and status count the same voters')
  t.ok(before.get('swarmfs_raft_term')! >= 1 && before.get('swarmfs_raft_commit_index')! >= 1, 'a term and a commit index')
  t.is(before.get('swarmfs_raft_is_leader'), status.role === 'leader' ? 1 : 0, 'the same role')
  for (const name of ['swarmfs_cache_hits_total', 'swarmfs_cache_misses_total', 'swarmfs_repairs_total', 'swarmfs_under_replicated_chunks', 'swarmfs_scrub_repaired_total', 'swarmfs_chunk_served_total']) {
    t.ok(before.has(name), `exposes ${name}`)
  }
  t.pass('status and /metrics report all three peers up')
  t.ok(before.get('swarmfs_disk_bytes')! > 0 && before.has('swarmfs_disk_available_bytes'), 'disk capacity exposed')

  // Passes an operator starts run in the daemon and report how far they got.
  const written = await watcher.sh(`dd if=/dev/urandom of=${watcher.mountpoint}/passes.bin bs=1M count=9 status=none`)
  t.is(written.code, 0, 'a 9 MiB file to work on')
  const busy = await scrape(port)
  t.ok((busy.get('swarmfs_fuse_op_duration_seconds_count{op="write"}') ?? 0) > 0, 'FUSE write latencies are recorded')
  t.ok((busy.get('swarmfs_metadata_commit_duration_seconds_count') ?? 0) > 0, 'metadata commit latencies are recorded')
  t.ok((busy.get('swarmfs_chunk_bytes_sent_total') ?? 0) >= 9 * 1048576, `chunk bytes sent: ${busy.get('swarmfs_chunk_bytes_sent_total')}`)
  const scrub = await watcher.sh(`node ${CLI} scrub --data ${watcher.data} --json`)
  const scrubJob = JSON.parse(scrub.stdout) as { state: string, progress: Record<string, number> }
  t.is(scrub.code, 0, 'scrub on a cluster peer exits 0')
  t.ok(scrubJob.state === 'done' && scrubJob.progress.chunksDone! >= 3 && scrubJob.progress.failed === 0, `every stored chunk verified: ${scrub.stdout.trim()}`)
  const rebalance = await watcher.sh(`node ${CLI} rebalance --data ${watcher.data}`)
  t.is(rebalance.code, 0, `rebalance exits 0: ${rebalance.stdout.trim()}`)
  t.ok(/^rebalance: \d+ chunks checked/m.test(rebalance.stdout))

  await victim.crash()
  const down = await cluster.waitFor(async () => await agree(false), 'both to report the killed peer not up', DETECT_BOUND_MS)
  t.comment(`killed peer reported not up by status and /metrics ${down} ms after kill -9`)
  const after = await scrape(port)
  t.is((after.get('swarmfs_peers{state="suspect"}') ?? 0) + (after.get('swarmfs_peers{state="down"}') ?? 0), 1, 'counted as suspect or down')

  // The dead peer held a copy of every chunk (R = 3 of 3 peers); with --no-grace, repair stops counting
  // on it at once: two live copies is all two live peers can hold, so nothing is short any more.
  const repair = await watcher.sh(`node ${CLI} repair --data ${watcher.data} --no-grace --json`)
  const repairJob = JSON.parse(repair.stdout) as { state: string, progress: Record<string, number> }
  t.is(repair.code, 0, `repair --no-grace exits 0: ${repair.stdout.trim()} ${repair.stderr.trim()}`)
  t.ok(repairJob.state === 'done' && repairJob.progress.chunksDone! >= 3 && repairJob.progress.underReplicated === 0, 'every chunk checked, none short')

  await victim.start()
  const up = await cluster.waitFor(async () => await agree(true), 'both to report the restarted peer up', DETECT_BOUND_MS * 2)
  t.comment(`restarted peer reported up ${up} ms after it mounted`)
  t.pass('status and /metrics report it up again')
}))
