// A slow replica must not make reads slow. Four peers in network namespaces; one of them writes a file
// (so it holds every chunk and is listed first among each chunk's holders), then its link is throttled
// in both directions with tc's token bucket filter, first to 1 Mbit/s (every chunk request to it times
// out), then to 12 Mbit/s (slow, but inside the timeout). Each time a peer holding no copy of the file
// (its chunk store emptied, restarted with cold caches) reads it: the bytes must be the written ones, the
// slow peer must have served a small fraction of them at most (per-peer counters in `status --json`),
// and the read must take far less than the slow link alone would need. Only wide bounds are asserted;
// timings are printed. Skipped with a message where namespaces or tc are unavailable.
import test from 'brittle'
import path from 'node:path'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'
import { TestNetwork } from '../helpers/netns.js'
import { run } from '../helpers/peer.js'

const MB = Number(process.env.SWARMFS_TEST_SLOW_MB ?? 64)
/**
 * Two kinds of slow: a crawling link (a 4 MiB chunk takes half a minute: every request to that peer
 * times out) and a merely slow one (a chunk arrives in a few seconds, inside the request timeout).
 */
const SLOW_LINKS = [
  { rate: '1mbit', burst: '32kbit', latency: '400ms', bitsPerSecond: 1e6 },
  { rate: '12mbit', burst: '64kbit', latency: '400ms', bitsPerSecond: 12e6 }
]
/** The read must finish in this fraction of the time the slow link alone would need for the file. */
const SLOW_LINK_TIME_FRACTION_MAX = 1 / 2
/** Of the bytes the reader fetched, at most this share may come from the slow peer. */
const SLOW_PEER_SHARE_MAX = 0.25

const ALWAYS_FIRST = { order: 0, force: true }
const ALWAYS_LAST = { order: 1, force: true }

async function sha256 (file: string): Promise<string> {
  return (await run(`sha256sum ${file}`, { timeoutMs: 600_000 })).split(' ')[0]!
}

/** Restarts `peer` with an empty chunk store, so every chunk it reads crosses the network. */
async function restartEmpty (peer: ClusterPeer): Promise<void> {
  if ((await peer.stop()) !== 0) throw new Error(`${peer.name} did not stop cleanly:\n${peer.log}`)
  await run(`find ${path.join(peer.data, 'chunks')} -type f -delete`)
  await peer.start()
}

interface PeerFetches { fetched?: number, fetchedBytes?: number, failures?: number, hedged?: number }

/** What the reader fetched from each peer since it started, from its `status --json`. */
async function fetchesByPeer (reader: ClusterPeer): Promise<Record<string, PeerFetches>> {
  return ((await reader.status())!.chunks.replication as { peers?: Record<string, PeerFetches> }).peers ?? {}
}

const name = `a ${MB} MiB file reads from fast replicas while one holder's link crawls`
const unavailable = (await TestNetwork.unavailable()) ?? (await TestNetwork.shapingUnavailable())
if (unavailable !== null) {
  test.skip(`${name} (skipped: ${unavailable})`, () => {})
} else {
  test(name, failuresAsAsserts(async (t) => {
    const network = await TestNetwork.create(5) // host 0 runs the bootstrap node
    t.teardown(async () => await network.destroy(), ALWAYS_LAST)
    const cluster = await Cluster.start(4, { bootstrapHost: network.hosts[0]!, hosts: network.hosts.slice(1) })
    t.teardown(async () => await cluster.destroy(), ALWAYS_FIRST)
    const leader = await cluster.leader()
    // The slow peer and the reader are followers: a throttled or restarting leader would only measure elections.
    const [slow, reader] = cluster.peers.filter((peer) => peer !== leader) as [ClusterPeer, ClusterPeer]
    const slowHost = cluster.peers.indexOf(slow) + 1

    const source = path.join(cluster.base, 'source.bin')
    await run(`head -c ${MB * 1048576} /dev/urandom > ${source}`)
    const expected = await sha256(source)
    t.is((await slow.sh(`cp ${source} big.bin`)).code, 0, `${slow.name} writes the file (it holds every chunk)`)

    // A cold read with every link fast, for comparison.
    await restartEmpty(reader)
    let started = Date.now()
    t.is(await sha256(path.join(reader.mountpoint, 'big.bin')), expected, `${reader.name} reads the file, all links fast`)
    t.comment(`cold read of ${MB} MiB with every link fast: ${Date.now() - started} ms`)

    t.teardown(async () => await network.unshape(slowHost), ALWAYS_FIRST)
    for (const link of SLOW_LINKS) {
      await restartEmpty(reader)
      await network.shape(slowHost, link)
      started = Date.now()
      t.is(await sha256(path.join(reader.mountpoint, 'big.bin')), expected, `${reader.name} reads the same bytes with ${slow.name}'s link at ${link.rate}`)
      const readMs = Date.now() - started
      const slowLinkMs = MB * 1048576 * 8 / link.bitsPerSecond * 1000
      t.comment(`cold read of ${MB} MiB with one holder at ${link.rate}: ${readMs} ms (that link alone: ${Math.round(slowLinkMs / 1000)} s)`)
      t.ok(readMs < slowLinkMs * SLOW_LINK_TIME_FRACTION_MAX, `the read takes well under what the slow link alone would need (${readMs} ms < ${Math.round(slowLinkMs * SLOW_LINK_TIME_FRACTION_MAX)} ms)`)

      const perPeer = await fetchesByPeer(reader)
      for (const peer of cluster.peers.filter((peer) => peer !== reader)) {
        const seen = perPeer[peer.id] ?? {}
        t.comment(`  from ${peer.name}${peer === slow ? ' (slow)' : ''}: ${seen.fetched ?? 0} chunks, ${seen.fetchedBytes ?? 0} bytes, ${seen.failures ?? 0} failed, ${seen.hedged ?? 0} hedged`)
      }
      const total = Object.values(perPeer).reduce((sum, seen) => sum + (seen.fetchedBytes ?? 0), 0)
      const fromSlow = perPeer[slow.id]?.fetchedBytes ?? 0
      // Nearly all: the reader's own keeper may bring back a copy it is recorded to hold before the read gets there.
      t.ok(total >= (MB - 8) * 1048576, `the reader fetched (nearly) every chunk over the network (${total} bytes)`)
      t.ok(fromSlow <= total * SLOW_PEER_SHARE_MAX, `the slow peer served a small share of them (${fromSlow} of ${total} bytes)`)
    }
  }))
}
