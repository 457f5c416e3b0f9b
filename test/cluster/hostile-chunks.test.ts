// A peer that holds the cluster key and lies about chunks. Three real peers and a hostile holder
// (helpers/hostile-holder.ts): admitted, up, given copies by writers like any peer, but answering gets
// with a forged copy (sealed with the cluster's own chunk key, so every block authenticates: only the
// id check catches it), another chunk's genuine copy, a flipped byte, a truncated copy, random bytes,
// or silence. For each lie a reader with no memory of past answers (restarted) reads a file it holds
// no copy of and whose chunk it asks the hostile peer for first (picked by the same rendezvous ranking
// the reader uses): the bytes must be the written ones, the bad copy must be counted against that peer
// in `status --json` and logged, and the next such file must not be asked of it first (it gets no get
// at all for it). Silence must cost a hedge, not a failed read.
import test from 'brittle'
import path from 'node:path'
import { chunkIdFromHex } from '../../peer/chunks/chunk-id.js'
import { deriveClusterKeys, readSecret } from '../../peer/cluster-keys.js'
import { dataDir } from '../../peer/data-dir.js'
import { rankPeers } from '../../peer/placement.js'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'
import { HostileHolder, LIES } from '../helpers/hostile-holder.js'
import { run } from '../helpers/peer.js'

const FILE_BYTES = 64 * 1024
const FILES_PER_BATCH = 24
const BATCHES_MAX = 10
const FILES_PER_LIE = 2

interface OneChunkFile { name: string, chunk: string, holders: string[], sha256: string }

interface HostileStats { fetched?: number, badCopies?: number, hedged?: number, failures?: number }

async function sha256 (file: string): Promise<string> {
  return (await run(`sha256sum ${file}`)).split(' ')[0]!
}

async function seesUp (peer: ClusterPeer, ids: readonly string[]): Promise<boolean> {
  const status = await peer.status()
  return ids.every((id) => status?.peers.some((view) => view.id === id && view.state === 'up') === true)
}

async function hostileStats (reader: ClusterPeer, hostile: HostileHolder): Promise<HostileStats> {
  return ((await reader.status())!.chunks.replication as { peers?: Record<string, HostileStats> }).peers?.[hostile.id] ?? {}
}

/** Writes `count` one-chunk files through `writer` and reads back where each chunk was placed. */
async function writeFiles (cluster: Cluster, writer: ClusterPeer, first: number, count: number): Promise<OneChunkFile[]> {
  const sources = path.join(cluster.base, 'sources')
  const names = Array.from({ length: count }, (_, i) => `f${first + i}`)
  await run(`mkdir -p ${sources} && cd ${sources} && for f in ${names.join(' ')}; do head -c ${FILE_BYTES} /dev/urandom > $f; done`)
  await run(`cd ${sources} && cp ${names.join(' ')} ${writer.mountpoint}/`)
  return await Promise.all(names.map(async (name) => {
    const line = (await run(`getfattr --only-values -n user.swarmfs.locations ${path.join(writer.mountpoint, name)}`)).trim()
    const [, chunk, holders] = line.split(' ')
    return { name, chunk: chunk!, holders: holders!.split(','), sha256: await sha256(path.join(sources, name)) }
  }))
}

/**
 * Restarts `peer` with no memory of how other peers answered. Its chunk store stays: emptied, its
 * scrubber would fetch back the copies the metadata lists for it.
 */
async function restartForgetful (peer: ClusterPeer): Promise<void> {
  if ((await peer.stop()) !== 0) throw new Error(`${peer.name} did not stop cleanly:\n${peer.log}`)
  await peer.start()
}

test('a peer sending wrong chunks is caught by verification, routed around, and asked last', failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(3)
  t.teardown(async () => await cluster.destroy(), { order: 1, force: true })
  const keys = deriveClusterKeys(await readSecret(dataDir(cluster.peers[0]!.data).secretFile))
  const hostile = await HostileHolder.start(cluster.bootstrap.address, keys)
  t.teardown(async () => await hostile.close(), { order: 0, force: true })
  const writer = await cluster.leader()
  const reader = cluster.peers.find((peer) => peer !== writer)!
  const everyone = [...cluster.peers.map((peer) => peer.id), hostile.id]
  for (const peer of cluster.peers) await cluster.waitFor(async () => await seesUp(peer, everyone.filter((id) => id !== peer.id)), `${peer.name} to see the hostile holder up`)
  t.pass('the hostile holder is admitted and up on every peer')

  // One-chunk files, until enough of them would be fetched from the hostile peer first by the reader.
  const wanted = LIES.length * FILES_PER_LIE
  const targets: OneChunkFile[] = []
  for (let batch = 0; batch < BATCHES_MAX && targets.length < wanted; batch++) {
    for (const file of await writeFiles(cluster, writer, batch * FILES_PER_BATCH, FILES_PER_BATCH)) {
      const readerHoldsNone = !file.holders.includes(reader.id) // so the reader fetches it, and only for the read
      if (readerHoldsNone && hostile.holds(file.chunk) && rankPeers(chunkIdFromHex(file.chunk), file.holders)[0] === hostile.id) targets.push(file)
    }
  }
  t.ok(targets.length >= wanted, `${targets.length} files whose chunk the reader asks the hostile peer for first`)

  for (const lie of LIES) {
    const [first, second] = targets.splice(0, FILES_PER_LIE) as [OneChunkFile, OneChunkFile]
    hostile.lie = lie
    await restartForgetful(reader)
    await cluster.waitFor(async () => await seesUp(reader, everyone.filter((id) => id !== reader.id)), `${reader.name} to see every peer up again`)
    const started = Date.now()
    t.is(await sha256(path.join(reader.mountpoint, first.name)), first.sha256, `${lie}: the reader reads the written bytes`)
    const readMs = Date.now() - started
    t.ok(hostile.getsFor(first.chunk) >= 1, `${lie}: after asking the hostile peer first`)
    const stats = await hostileStats(reader, hostile)
    t.comment(`${lie}: read in ${readMs} ms; the reader counts against the hostile peer ${JSON.stringify(stats)}`)
    if (lie === 'silent') {
      t.ok((stats.hedged ?? 0) >= 1, `${lie}: another holder was asked when it did not answer`)
      continue
    }
    t.ok((stats.badCopies ?? 0) >= 1 && (stats.fetched ?? 0) === 0, `${lie}: its copy failed verification and was not kept`)
    t.is(await sha256(path.join(reader.mountpoint, second.name)), second.sha256, `${lie}: the next file reads right too`)
    t.is(hostile.getsFor(second.chunk), 0, `${lie}: without asking the hostile peer, now asked last`)
  }
  t.ok(reader.log.includes('event=chunks.bad_copy_from_peer') && reader.log.includes(`peer=${hostile.id.slice(0, 12)}`), 'the reader logged the hostile peer\'s bad copies')
}))
