// The metrics endpoint's text: every metric has one HELP and one TYPE line before its samples, names and
// labels follow the Prometheus exposition format, values come from the status object unchanged, the
// peer counts by state cover every other peer, and the HTTP server answers /metrics (404 elsewhere).
// Also: `up --metrics` refuses a non-loopback address without --metrics-public.
import test from 'brittle'
import { once } from 'node:events'
import { LATENCY_BUCKETS_SECONDS, LatencyHistogram, LatencyRecorder } from '../../peer/latency-histogram.js'
import { boundPort, isLoopback, parseMetricsAddress, renderMetrics, serveMetrics } from '../../peer/metrics.js'
import type { MetricsStatus } from '../../peer/metrics.js'
import { CLI, sh } from '../helpers/peer.js'

const STATUS: MetricsStatus = {
  id: 'a'.repeat(64),
  role: 'leader',
  term: 7,
  leader: 'a'.repeat(64),
  commitIndex: 120,
  appliedIndex: 118,
  voters: ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)],
  learners: [],
  uptimeSeconds: 42,
  peers: [
    { id: 'a'.repeat(64), state: 'up', self: true },
    { id: 'b'.repeat(64), state: 'up', self: false },
    { id: 'c'.repeat(64), state: 'suspect', self: false },
    { id: 'd'.repeat(64), state: 'down', self: false }
  ],
  network: { admitted: 3, refused: 1, closedOnBadInput: 0, chunkBytesSent: 1000, chunkBytesReceived: 2000 },
  latency: { fuse: latencies(), metadataProposal: (() => { const h = new LatencyHistogram(); h.observe(0.003); h.observe(20); return h.snapshot() })() },
  metadata: { inodes: 9 },
  placement: { peers: [{ id: 'a'.repeat(64), capacityBytes: 2 ** 40, weight: 2 ** 20 }, { id: 'b'.repeat(64), capacityBytes: null, weight: 2 ** 20 }] },
  chunks: {
    unsynced: 3,
    cache: { hits: 30, misses: 10, bytes: 4096, bytesMax: 67108864 },
    diskCache: { bytes: 8388608, bytesMax: 1073741824, chunks: 2, hits: 17, admitted: 5, evicted: 3 },
    replication: { replicasWritten: 11, underReplicatedWrites: 1, stored: 12, fetched: 13, fetchFailures: 2, served: 14, readRepairs: 0 },
    keeper: { copiesMade: 5, underReplicated: 2, scrubbed: 100, scrubRepaired: 3, surplusDeleted: 1, scrubPass: 1 }
  }
}

function latencies (): ReturnType<LatencyRecorder['snapshot']> {
  const recorder = new LatencyRecorder()
  for (const seconds of [0.00005, 0.0002, 0.0002, 0.002]) recorder.observe('read', seconds)
  recorder.observe('getattr', 0.0001)
  return recorder.snapshot()
}

/** Parses exposition text into HELP/TYPE per name and samples; fails the test on a malformed line. */
function parse (t: any, text: string): { types: Map<string, string>, samples: Map<string, number> } {
  const types = new Map<string, string>()
  const helps = new Set<string>()
  const samples = new Map<string, number>()
  for (const line of text.trimEnd().split('\n')) {
    let match: RegExpExecArray | null
    if ((match = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/.exec(line)) !== null) {
      if (helps.has(match[1]!)) t.fail(`second HELP for ${match[1]!}`)
      helps.add(match[1]!)
    } else if ((match = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|histogram)$/.exec(line)) !== null) {
      if (types.has(match[1]!)) t.fail(`second TYPE for ${match[1]!}`)
      types.set(match[1]!, match[2]!)
    } else if ((match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/.exec(line)) !== null) {
      const family = types.get(match[1]!.replace(/_(bucket|sum|count)$/, '')) === 'histogram' ? match[1]!.replace(/_(bucket|sum|count)$/, '') : match[1]!
      if (!types.has(family) || !helps.has(family)) t.fail(`sample of ${match[1]!} before its HELP and TYPE`)
      samples.set(match[1]! + (match[2] ?? ''), Number(match[3]))
    } else {
      t.fail(`malformed line: ${JSON.stringify(line)}`)
    }
  }
  return { types, samples }
}

test('renderMetrics: well-formed exposition text with the values of the status', (t) => {
  const text = renderMetrics(STATUS)
  t.ok(text.endsWith('\n'), 'ends with a newline')
  const { types, samples } = parse(t, text)
  t.is(samples.get('swarmfs_raft_term'), 7)
  t.is(samples.get('swarmfs_raft_commit_index'), 120)
  t.is(samples.get('swarmfs_raft_applied_index'), 118)
  t.is(samples.get('swarmfs_raft_is_leader'), 1)
  t.is(samples.get('swarmfs_peers{state="up"}'), 1, 'the other peers by state (this peer not counted)')
  t.is(samples.get('swarmfs_peers{state="suspect"}'), 1)
  t.is(samples.get('swarmfs_peers{state="down"}'), 1)
  t.is(samples.get(`swarmfs_peer_up{peer="${'c'.repeat(64)}"}`), 0)
  t.is(samples.get('swarmfs_cache_hits_total'), 30)
  t.is(samples.get('swarmfs_chunks_unsynced'), 3)
  t.is(samples.get('swarmfs_cache_misses_total'), 10)
  t.is(samples.get(`swarmfs_peer_capacity_bytes{peer="${'a'.repeat(64)}"}`), 2 ** 40)
  t.absent(samples.has(`swarmfs_peer_capacity_bytes{peer="${'b'.repeat(64)}"}`), 'no capacity sample for a peer that advertised none')
  t.is(samples.get(`swarmfs_placement_weight{peer="${'b'.repeat(64)}"}`), 2 ** 20, 'but a weight (the median)')
  t.is(samples.get('swarmfs_disk_cache_bytes'), 8388608)
  t.is(samples.get('swarmfs_disk_cache_bytes_max'), 1073741824)
  t.is(samples.get('swarmfs_disk_cache_hits_total'), 17)
  t.is(samples.get('swarmfs_disk_cache_evictions_total'), 3)
  t.is(samples.get('swarmfs_chunk_replicas_written_total'), 11)
  t.is(samples.get('swarmfs_chunk_replicas_stored_total'), 12)
  t.is(samples.get('swarmfs_chunk_fetched_total'), 13)
  t.is(samples.get('swarmfs_chunk_served_total'), 14)
  t.is(samples.get('swarmfs_repairs_total'), 5)
  t.is(samples.get('swarmfs_under_replicated_chunks'), 2)
  t.is(samples.get('swarmfs_scrub_repaired_total'), 3)
  t.is(samples.get('swarmfs_chunk_bytes_sent_total'), 1000)
  t.is(samples.get('swarmfs_chunk_bytes_received_total'), 2000)
  t.is(types.get('swarmfs_fuse_op_duration_seconds'), 'histogram')
  t.is(samples.get('swarmfs_fuse_op_duration_seconds_bucket{op="read",le="0.0001"}'), 1, 'cumulative buckets')
  t.is(samples.get('swarmfs_fuse_op_duration_seconds_bucket{op="read",le="0.00025"}'), 3)
  t.is(samples.get('swarmfs_fuse_op_duration_seconds_bucket{op="read",le="+Inf"}'), 4)
  t.is(samples.get('swarmfs_fuse_op_duration_seconds_count{op="read"}'), 4)
  t.is(samples.get('swarmfs_fuse_op_duration_seconds_count{op="getattr"}'), 1)
  t.is(samples.get('swarmfs_metadata_commit_duration_seconds_bucket{le="10"}'), 1, 'a 20 s proposal is past every bound')
  t.is(samples.get('swarmfs_metadata_commit_duration_seconds_bucket{le="+Inf"}'), 2)
  t.ok(Math.abs(samples.get('swarmfs_metadata_commit_duration_seconds_sum')! - 20.003) < 1e-9, 'sum in seconds')
  t.is(types.get('swarmfs_repairs_total'), 'counter')
  t.is(types.get('swarmfs_peers'), 'gauge')
  for (const [name, type] of types) {
    if (type === 'counter') t.ok(name.endsWith('_total'), `counter ${name} ends in _total`)
  }
})

test('renderMetrics: a follower alone, without replication, still renders', (t) => {
  const text = renderMetrics({ role: 'follower', term: 2, leader: '', commitIndex: 0, appliedIndex: 0, peers: [{ id: 'a', state: 'up', self: true }], chunks: { cache: { hits: 0, misses: 0 }, replication: null, keeper: null } })
  const { samples } = parse(t, text)
  t.is(samples.get('swarmfs_raft_is_leader'), 0)
  t.is(samples.get('swarmfs_raft_has_leader'), 0)
  t.is(samples.get('swarmfs_peers{state="up"}'), 0)
  t.absent(samples.has('swarmfs_repairs_total'), 'no repair counters without a keeper')
})

test('label values are escaped', (t) => {
  const text = renderMetrics({ peers: [{ id: 'a"b\\c\nd', state: 'down', self: false }] })
  t.ok(text.includes('swarmfs_peer_up{peer="a\\"b\\\\c\\nd"} 0'))
  parse(t, text)
})

test('metrics addresses: HOST:PORT, loopback only by default', (t) => {
  t.alike(parseMetricsAddress('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 })
  t.alike(parseMetricsAddress('[::1]:9464'), { host: '::1', port: 9464 })
  t.exception(() => parseMetricsAddress('127.0.0.1'), /HOST:PORT/)
  t.exception(() => parseMetricsAddress('127.0.0.1:70000'), /HOST:PORT/)
  t.ok(isLoopback('127.0.0.1') && isLoopback('127.1.2.3') && isLoopback('::1') && isLoopback('localhost'))
  t.absent(isLoopback('0.0.0.0') || isLoopback('10.0.0.1') || isLoopback('::'))
})

test('serveMetrics answers GET /metrics with the text format, 404 elsewhere', async (t) => {
  let term = 1
  const server = await serveMetrics({ host: '127.0.0.1', port: 0 }, () => ({ ...STATUS, term }))
  t.teardown(async () => { server.close(); await once(server, 'close') })
  const url = `http://127.0.0.1:${boundPort(server)}`
  const first = await fetch(`${url}/metrics`)
  t.is(first.status, 200)
  t.ok(first.headers.get('content-type')?.startsWith('text/plain; version=0.0.4'))
  t.ok((await first.text()).includes('\nswarmfs_raft_term 1\n'))
  term = 2
  t.ok((await (await fetch(`${url}/metrics`)).text()).includes('\nswarmfs_raft_term 2\n'), 'each scrape reads the status anew')
  t.is((await fetch(`${url}/other`)).status, 404)
  t.is((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405)
})

test('up refuses a public metrics address without --metrics-public', async (t) => {
  const refused = await sh(`node ${CLI} up --data /nonexistent --mount /nonexistent --metrics 0.0.0.0:9464`)
  t.is(refused.code, 2, 'a usage error')
  t.ok(refused.stderr.includes('--metrics-public'), 'which says how to allow it')
  const fromEnv = await sh(`SWARMFS_METRICS=10.1.2.3:9464 node ${CLI} up --data /nonexistent --mount /nonexistent`)
  t.is(fromEnv.code, 2, 'also when it comes from SWARMFS_METRICS')
  const malformed = await sh(`node ${CLI} up --data /nonexistent --mount /nonexistent --metrics 9464`)
  t.is(malformed.code, 2)
})

test('latency histogram: bounds are inclusive, buckets cumulative, the last one is everything', (t) => {
  const histogram = new LatencyHistogram()
  for (const seconds of [0, 0.0001, 0.00010001, 1, 11]) histogram.observe(seconds)
  const snapshot = histogram.snapshot()
  t.is(snapshot.buckets.length, LATENCY_BUCKETS_SECONDS.length + 1)
  t.is(snapshot.buckets[0], 2, '0 and exactly 0.1 ms fall in the first bucket')
  t.is(snapshot.buckets[1], 3, 'cumulative')
  t.is(snapshot.buckets[LATENCY_BUCKETS_SECONDS.indexOf(1)], 4)
  t.is(snapshot.buckets.at(-1), 5, '+Inf counts every observation')
  t.is(snapshot.count, 5)
  t.ok(snapshot.buckets.every((count, i) => i === 0 || count >= snapshot.buckets[i - 1]!), 'never decreasing')
})
