// The Prometheus endpoint: `GET /metrics` in the text exposition format (version 0.0.4), rendered from
// the same status object `swarmfs status` prints, so that the two never tell different stories. No
// dependency: node:http and a renderer that is a pure function of the status (unit-tested on its own).
// Bound to loopback unless the operator asks otherwise (`--metrics-public`): the numbers name peers.
import http from 'node:http'
import { LATENCY_BUCKETS_SECONDS } from './latency-histogram.js'
import type { HistogramSnapshot } from './latency-histogram.js'
import net from 'node:net'

/** The part of Daemon.status() the metrics read; every field is optional so a partial status still renders. */
export interface MetricsStatus {
  term?: number
  commitIndex?: number
  appliedIndex?: number
  role?: string
  id?: string
  leader?: string
  voters?: string[]
  learners?: string[]
  uptimeSeconds?: number
  peers?: Array<{ id: string, state: string, self: boolean, roomBytes?: number | null }>
  network?: { admitted: number, refused: number, closedOnBadInput: number, chunkBytesSent?: number, chunkBytesReceived?: number } | null
  latency?: { fuse?: Record<string, HistogramSnapshot>, metadataProposal?: HistogramSnapshot }
  metadata?: { inodes?: number }
  disk?: { bytesTotal?: number, bytesFree?: number, bytesAvailable?: number } | null
  placement?: { peers: Array<{ id: string, capacityBytes: number | null, weight: number }> } | null
  passes?: Array<{ kind: string, progress: { chunksDone: number, chunksTotal: number } }>
  chunks?: {
    unsynced?: number
    cache?: { hits?: number, misses?: number, bytes?: number, bytesMax?: number }
    diskCache?: { bytes?: number, bytesMax?: number, chunks?: number, hits?: number, admitted?: number, evicted?: number } | null
    replication?: { replicasWritten?: number, underReplicatedWrites?: number, stored?: number, fetched?: number, fetchFailures?: number, served?: number, readRepairs?: number, writtenElsewhere?: number, hedged?: number, badCopies?: number, refusedNoRoom?: number } | null
    keeper?: { copiesMade?: number, underReplicated?: number, scrubbed?: number, scrubRepaired?: number, surplusDeleted?: number, scrubPass?: number } | null
  }
}

export const PEER_STATES = ['up', 'suspect', 'down'] as const
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

type Kind = 'gauge' | 'counter'
interface Sample { labels?: Record<string, string>, value: number }

/** Renders the status as Prometheus text: one HELP and TYPE line per metric, then its samples. */
export function renderMetrics (status: MetricsStatus): string {
  const lines: string[] = []
  const metric = (name: string, kind: Kind, help: string, samples: Sample[] | number | undefined | null): void => {
    const list = typeof samples === 'number' ? [{ value: samples }] : samples ?? []
    if (list.length === 0) return
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`)
    for (const sample of list) lines.push(`${name}${labelText(sample.labels)} ${numberText(sample.value)}`)
  }
  const replication = status.chunks?.replication ?? null
  const keeper = status.chunks?.keeper ?? null
  const cache = status.chunks?.cache
  const others = (status.peers ?? []).filter((peer) => !peer.self)

  metric('swarmfs_up', 'gauge', 'Always 1 while the daemon answers.', 1)
  metric('swarmfs_uptime_seconds', 'gauge', 'Seconds since the daemon started.', status.uptimeSeconds)
  metric('swarmfs_raft_term', 'gauge', 'Current Raft term of this peer.', status.term)
  metric('swarmfs_raft_commit_index', 'gauge', 'Highest log index this peer knows to be committed.', status.commitIndex)
  metric('swarmfs_raft_applied_index', 'gauge', 'Highest log index applied to this peer\'s filesystem state.', status.appliedIndex)
  if (status.role !== undefined) metric('swarmfs_raft_is_leader', 'gauge', '1 if this peer leads the metadata group.', status.role === 'leader' ? 1 : 0)
  if (status.leader !== undefined) metric('swarmfs_raft_has_leader', 'gauge', '1 if this peer knows a leader.', status.leader === '' ? 0 : 1)
  metric('swarmfs_raft_voters', 'gauge', 'Voters in the metadata group.', status.voters?.length)
  metric('swarmfs_raft_learners', 'gauge', 'Learners in the metadata group.', status.learners?.length)
  if (status.peers !== undefined) {
    metric('swarmfs_peers', 'gauge', 'Other peers by the state this peer\'s failure detector sees them in.',
      PEER_STATES.map((state) => ({ labels: { state }, value: others.filter((peer) => peer.state === state).length })))
    metric('swarmfs_peer_up', 'gauge', '1 if the failure detector sees the peer up.',
      others.map((peer) => ({ labels: { peer: peer.id }, value: peer.state === 'up' ? 1 : 0 })))
    metric('swarmfs_peer_room_bytes', 'gauge', 'Bytes of chunks a peer said it can still store.',
      others.filter((peer) => typeof peer.roomBytes === 'number').map((peer) => ({ labels: { peer: peer.id }, value: peer.roomBytes as number })))
  }
  const placement = status.placement?.peers ?? []
  metric('swarmfs_peer_capacity_bytes', 'gauge', 'Capacity for chunks a peer advertised (its room plus the chunks it stores, quantized), this peer included.',
    placement.filter((peer) => peer.capacityBytes !== null).map((peer) => ({ labels: { peer: peer.id }, value: peer.capacityBytes as number })))
  metric('swarmfs_placement_weight', 'gauge', 'Weight of a peer in placement as this peer ranks with it (relative).',
    placement.map((peer) => ({ labels: { peer: peer.id }, value: peer.weight })))
  metric('swarmfs_metadata_inodes', 'gauge', 'Inodes in the filesystem.', status.metadata?.inodes)
  if (status.disk !== undefined && status.disk !== null) {
    metric('swarmfs_disk_bytes', 'gauge', 'Size of the filesystem holding this peer\'s data directory.', status.disk.bytesTotal)
    metric('swarmfs_disk_free_bytes', 'gauge', 'Free bytes on the filesystem holding this peer\'s data directory.', status.disk.bytesFree)
    metric('swarmfs_disk_available_bytes', 'gauge', 'Bytes the daemon may still use on the filesystem holding its data directory.', status.disk.bytesAvailable)
  }
  if (status.passes !== undefined) {
    metric('swarmfs_pass_progress_ratio', 'gauge', 'Progress of a scrub, repair or rebalance pass an operator started, 0 to 1.',
      status.passes.map((job) => ({ labels: { kind: job.kind }, value: job.progress.chunksTotal === 0 ? 0 : job.progress.chunksDone / job.progress.chunksTotal })))
  }
  metric('swarmfs_chunks_unsynced', 'gauge', 'Chunk files stored here whose data is not yet synced (fsync or the background flush syncs them).', status.chunks?.unsynced)
  metric('swarmfs_cache_hits_total', 'counter', 'Plaintext chunk cache hits.', cache?.hits)
  metric('swarmfs_cache_misses_total', 'counter', 'Plaintext chunk cache misses.', cache?.misses)
  metric('swarmfs_cache_bytes', 'gauge', 'Bytes held by the plaintext chunk cache.', cache?.bytes)
  metric('swarmfs_cache_bytes_max', 'gauge', 'Capacity of the plaintext chunk cache in bytes.', cache?.bytesMax)
  const diskCache = status.chunks?.diskCache ?? null
  if (diskCache !== null) {
    metric('swarmfs_disk_cache_bytes', 'gauge', 'Bytes of chunk copies kept on disk only to serve reads here.', diskCache.bytes)
    metric('swarmfs_disk_cache_bytes_max', 'gauge', 'Bound of the disk cache in bytes (0: off).', diskCache.bytesMax)
    metric('swarmfs_disk_cache_chunks', 'gauge', 'Chunk copies in the disk cache.', diskCache.chunks)
    metric('swarmfs_disk_cache_hits_total', 'counter', 'Reads served by a copy in the disk cache instead of a fetch.', diskCache.hits)
    metric('swarmfs_disk_cache_admitted_total', 'counter', 'Chunk copies that entered the disk cache.', diskCache.admitted)
    metric('swarmfs_disk_cache_evictions_total', 'counter', 'Chunk copies evicted from the disk cache (over its bound, or for room).', diskCache.evicted)
  }
  if (replication !== null) {
    metric('swarmfs_chunk_replicas_written_total', 'counter', 'Chunk replicas this peer placed on other peers.', replication.replicasWritten)
    metric('swarmfs_chunk_under_replicated_writes_total', 'counter', 'Chunk writes that got fewer replicas than wanted.', replication.underReplicatedWrites)
    metric('swarmfs_chunk_replicas_stored_total', 'counter', 'Chunk replicas other peers stored here.', replication.stored)
    metric('swarmfs_chunk_fetched_total', 'counter', 'Chunks fetched from other peers.', replication.fetched)
    metric('swarmfs_chunk_fetch_failures_total', 'counter', 'Chunk fetches from another peer that failed.', replication.fetchFailures)
    metric('swarmfs_chunk_served_total', 'counter', 'Chunks served to other peers.', replication.served)
    metric('swarmfs_read_repairs_total', 'counter', 'Bad local chunk copies replaced while reading.', replication.readRepairs)
    metric('swarmfs_chunk_written_elsewhere_total', 'counter', 'Chunks written here that went to other peers only, this disk being out of room.', replication.writtenElsewhere)
    metric('swarmfs_chunk_hedged_fetches_total', 'counter', 'Chunk fetches that also asked a second holder because the first was slow.', replication.hedged)
    metric('swarmfs_chunk_bad_copies_total', 'counter', 'Chunk copies from other peers that failed verification.', replication.badCopies)
    metric('swarmfs_chunk_refused_no_room_total', 'counter', 'Chunk copies refused here for lack of room.', replication.refusedNoRoom)
  }
  if (keeper !== null) {
    metric('swarmfs_repairs_total', 'counter', 'Chunk copies made by repair and rebalance.', keeper.copiesMade)
    metric('swarmfs_under_replicated_chunks', 'gauge', 'Chunks with fewer live copies than wanted, as of the last repair round.', keeper.underReplicated)
    metric('swarmfs_scrub_verified_total', 'counter', 'Local chunk copies verified by scrub.', keeper.scrubbed)
    metric('swarmfs_scrub_repaired_total', 'counter', 'Bad local chunk copies replaced by scrub.', keeper.scrubRepaired)
    metric('swarmfs_surplus_copies_deleted_total', 'counter', 'Local copies deleted because enough others exist.', keeper.surplusDeleted)
  }
  if (status.network !== undefined && status.network !== null) {
    metric('swarmfs_connections_admitted_total', 'counter', 'Peer connections that proved cluster membership.', status.network.admitted)
    metric('swarmfs_connections_refused_total', 'counter', 'Peer connections refused.', status.network.refused)
    metric('swarmfs_chunk_bytes_sent_total', 'counter', 'Chunk bytes sent to other peers (puts, chain hops, answers to gets).', status.network.chunkBytesSent)
    metric('swarmfs_chunk_bytes_received_total', 'counter', 'Chunk bytes received from other peers.', status.network.chunkBytesReceived)
  }
  const histogram = (name: string, help: string, series: Array<{ labels: Record<string, string>, snapshot: HistogramSnapshot }>): void => {
    if (series.length === 0) return
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`)
    for (const { labels, snapshot } of series) {
      const bounds = [...LATENCY_BUCKETS_SECONDS.map(String), '+Inf']
      bounds.forEach((bound, i) => lines.push(`${name}_bucket${labelText({ ...labels, le: bound })} ${snapshot.buckets[i] ?? snapshot.count}`))
      lines.push(`${name}_sum${labelText(labels)} ${numberText(snapshot.sumSeconds)}`, `${name}_count${labelText(labels)} ${snapshot.count}`)
    }
  }
  histogram('swarmfs_fuse_op_duration_seconds', 'Time from a FUSE request reaching the daemon to its answer, by operation.',
    Object.entries(status.latency?.fuse ?? {}).map(([op, snapshot]) => ({ labels: { op }, snapshot })))
  const proposals = status.latency?.metadataProposal
  histogram('swarmfs_metadata_commit_duration_seconds', 'Time from proposing a metadata change to its being committed and applied here (or failing).',
    proposals === undefined ? [] : [{ labels: {}, snapshot: proposals }])
  return lines.join('\n') + '\n'
}

function labelText (labels: Record<string, string> | undefined): string {
  if (labels === undefined || Object.keys(labels).length === 0) return ''
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
  return `{${pairs.join(',')}}`
}

function numberText (value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

export interface MetricsAddress { host: string, port: number }

/** Parses HOST:PORT (IPv6 in brackets); throws a plain Error with the reason. */
export function parseMetricsAddress (text: string): MetricsAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text.trim())
  const port = Number(match?.[3])
  if (match === null || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`metrics address '${text}' is not HOST:PORT`)
  return { host: (match[1] ?? match[2])!, port }
}

/** True for 127.0.0.0/8, ::1 and localhost: addresses nobody else can reach. */
export function isLoopback (host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return net.isIPv4(host) && host.startsWith('127.')
}

/** Serves GET /metrics from `status()` at `address`; resolves once listening. */
export async function serveMetrics (address: MetricsAddress, status: () => MetricsStatus): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    const url = (request.url ?? '/').split('?')[0]
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end()
    } else if (url === '/metrics') {
      let body: string
      try {
        body = renderMetrics(status())
      } catch (error) {
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${(error as Error).message}\n`)
        return
      }
      response.writeHead(200, { 'content-type': CONTENT_TYPE }).end(request.method === 'HEAD' ? undefined : body)
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('swarmfs serves /metrics\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(address.port, address.host, () => { server.off('error', reject); resolve() })
  })
  return server
}

/** The bound port (useful with port 0). */
export function boundPort (server: http.Server): number {
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}
