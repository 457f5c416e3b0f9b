// File bytes across real peers: a file written through one peer's mount reads back bit-identical on the
// others; its chunks sit on R = 3 peers; a peer that holds no copy fetches and verifies one; a dead holder
// is routed around; no stored chunk file holds plaintext. Size: SWARMFS_TEST_CLUSTER_MB (default 32).
import test from 'brittle'
import path from 'node:path'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'
import { run, sh } from '../helpers/peer.js'

const MB = Number(process.env.SWARMFS_TEST_CLUSTER_MB ?? 32)

async function chunkFiles (peer: ClusterPeer): Promise<string[]> {
  const out = await run(`find ${path.join(peer.data, 'chunks')} -type f ! -name '*.tmp*' 2>/dev/null || true`)
  return out.split('\n').filter((line) => line !== '')
}

async function sha256 (file: string, cwd?: string): Promise<string> {
  return (await run(`sha256sum ${file}`, cwd !== undefined ? { cwd } : {})).split(' ')[0]!
}

test(`a ${MB} MiB file written on one peer reads back identical everywhere, from R = 3 copies`, failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(4)
  t.teardown(async () => await cluster.destroy(), { force: true })
  const source = path.join(cluster.base, 'source.bin')
  await run(`head -c ${MB * 1048576} /dev/urandom > ${source}`)
  const expected = await sha256(source)
  const [writer] = cluster.peers as [ClusterPeer]
  t.is((await writer.sh(`cp ${source} big.bin && sync`)).code, 0, 'cp into the mount')

  const countCopies = async (): Promise<number[]> => await Promise.all(cluster.peers.map(async (peer) => (await chunkFiles(peer)).length))
  let copies = await countCopies()
  t.comment(`chunk files per peer: ${copies.join(' ')}`)
  const chunks = copies[0]!
  t.ok(chunks >= Math.ceil(MB / 4), 'the writer keeps a copy of every chunk')
  // A chain hop that answers after its timeout leaves one copy too many; the keeper deletes surplus copies.
  const settledMs = await cluster.waitFor(async () => {
    copies = await countCopies()
    return copies.reduce((sum, n) => sum + n, 0) === chunks * 3
  }, 'exactly three copies of every chunk')
  t.comment(`chunk files per peer: ${copies.join(' ')} (${settledMs} ms later)`)
  t.pass('every chunk has exactly three copies')

  for (const peer of cluster.peers) t.is(await sha256('big.bin', peer.mountpoint), expected, `${peer.name} reads the same bytes`)

  // A peer that held no copy of some chunk fetched it (verified) while reading. Now a dead holder is
  // routed around: the reader restarts with no chunk of its own (and cold caches), one holder is killed.
  const reader = cluster.peers[3]!
  const victim = cluster.peers[1]!
  t.is(await reader.stop(), 0, 'the reader stops cleanly')
  await run(`rm -f ${(await chunkFiles(reader)).join(' ')}`)
  await victim.crash()
  await reader.start()
  t.is(await sha256('big.bin', reader.mountpoint), expected, `${reader.name} reads it again with ${victim.name} dead and no local copy`)
  const status = (await reader.status())!
  t.ok(status.chunks.replication.fetched >= chunks, `it fetched every chunk (${String(status.chunks.replication.fetched)}) and verified each`)

  // Sealed at rest: no 64-byte window of the plaintext appears in any stored chunk file.
  const leak = await sh(`python3 - ${source} ${cluster.peers.map((peer) => path.join(peer.data, 'chunks')).join(' ')} <<'PY'
import os, sys
data = open(sys.argv[1], 'rb').read()
windows = {data[i:i + 64] for i in range(0, len(data) - 64, 4093)}
for root in sys.argv[2:]:
    for directory, _, files in os.walk(root):
        for name in files:
            blob = open(os.path.join(directory, name), 'rb').read()
            for i in range(0, len(blob) - 64):
                if blob[i:i + 64] in windows:
                    print('plaintext found in', name); sys.exit(1)
PY`, { timeoutMs: 600_000 })
  t.is(leak.code, 0, `no stored chunk file contains plaintext ${leak.stdout}`)
}))

test('concurrent writers on two mounts, readers on a third: every sha256 matches', failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(3)
  t.teardown(async () => await cluster.destroy(), { force: true })
  const [a, b, c] = cluster.peers as [ClusterPeer, ClusterPeer, ClusterPeer]
  const sources = path.join(cluster.base, 'sources')
  await run(`mkdir ${sources} && for i in 1 2 3 4 5 6; do head -c $((i * 1500000)) /dev/urandom > ${sources}/f$i; done`)
  const expected = await run(`cd ${sources} && sha256sum f*`)
  // Three files from each of two mounts, all six at once.
  const writes = await Promise.all([1, 2, 3, 4, 5, 6].map(async (i) => await (i % 2 === 0 ? a : b).sh(`cp ${sources}/f${i} f${i}`)))
  t.ok(writes.every((result) => result.code === 0), 'six concurrent copies from two mounts succeed')
  const reads = await Promise.all([c, c, a, b].map(async (peer) => await peer.sh('sha256sum f1 f2 f3 f4 f5 f6')))
  t.ok(reads.every((result) => result.stdout === expected), 'readers on every mount, at once, see the same bytes')
}))

test('close makes a file readable everywhere; fsync makes its chunks durable on every holder', failuresAsAsserts(async (t) => {
  // The background sync is pushed far out, so only fsync can have synced what the holders stored.
  const cluster = await Cluster.start(3, { env: { SWARMFS_CHUNK_FLUSH_S: '3600' } })
  t.teardown(async () => await cluster.destroy(), { force: true })
  const [writer, , reader] = cluster.peers as [ClusterPeer, ClusterPeer, ClusterPeer]
  const unsynced = async (): Promise<number[]> => await Promise.all(cluster.peers.map(async (peer) => (await peer.status())!.chunks.unsynced as number))
  t.is((await writer.sh('for i in 1 2 3 4 5 6 7 8; do head -c 3000 /dev/urandom > small.$i; done && head -c 600000 /dev/urandom > medium')).code, 0, 'files closed, never fsync\'d')
  t.is(await sha256('medium', reader.mountpoint), await sha256('medium', writer.mountpoint), 'another peer reads them at once')
  const before = await unsynced()
  t.comment(`chunk files not yet synced per peer: ${before.join(' ')}`)
  t.ok(before.every((count) => count >= 9), 'every holder stored the chunks without syncing them')
  // fsync through a new handle on the reader, which wrote none of it: every holder is asked.
  t.is((await reader.sh('python3 -c "import os; [os.fsync(os.open(n, os.O_RDONLY)) for n in [\'small.1\', \'medium\']]"')).code, 0, 'fsync on another peer')
  t.alike(await unsynced(), [0, 0, 0], 'after fsync nothing any holder stored is left unsynced')
}))
