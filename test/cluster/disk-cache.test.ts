// The disk cache tier with real peers. Files are written while one peer is stopped, so that peer holds
// no copy of any of their chunks (the others are restarted first, once every peer is a member, so that
// none counts it as a newcomer to rebalance onto); it then reads one: the copies it fetched stay on its disk through
// several keeper rounds and serve a second read (page cache dropped) with no fetch at all. Restarted
// with a bound smaller than the next file, it rebuilds the tier from its store within the new bound,
// reads the bigger file intact while its cached bytes stay within the bound (plus one chunk while
// reads are in flight, the documented slack; within the bound once they end), and deleting the files
// frees every cached copy. Keeper rounds are 1 s; the plaintext memory cache is 1 MiB so reads reach disk.
import test from 'brittle'
import { readdir, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'
import { run } from '../helpers/peer.js'


const MiB = 1024 * 1024
const SEALED_CHUNK_BYTES_MAX = 4 * MiB + 64 * 1024 // a 4 MiB chunk sealed: headers and tags are well under 64 KiB
const BOUND_MB = 9 // two sealed 4 MiB chunks fit, three do not

/**
 * Settings for `peer`'s next start, in its data directory's config file (not the environment: every
 * test file shares this process, and with it the environment its daemons inherit).
 */
async function configure (peer: ClusterPeer, lines: string): Promise<void> {
  await writeFile(path.join(peer.data, 'swarmfs.conf'), lines)
}

/** Chunk id → size of each chunk file a peer stores. */
async function chunkFiles (peer: ClusterPeer): Promise<Map<string, number>> {
  const root = path.join(peer.data, 'chunks')
  const files = new Map<string, number>()
  for (const fanout of await readdir(root).catch(() => [])) {
    for (const name of await readdir(path.join(root, fanout)).catch(() => [])) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue
      const info = await stat(path.join(root, fanout, name)).catch(() => null) // evicted meanwhile
      if (info !== null) files.set(name, info.size)
    }
  }
  return files
}

/** Chunk id → holders of every chunk of `files`, as `peer`'s mount reports them. */
async function locations (peer: ClusterPeer, files: readonly string[]): Promise<Map<string, string[]>> {
  const text = await run(`getfattr --only-values -n user.swarmfs.locations ${files.map((file) => path.join(peer.mountpoint, file)).join(' ')}`)
  return new Map(text.trim().split('\n').map((line) => {
    const [, id, holders] = line.split(' ')
    return [id!, holders!.split(',')]
  }))
}

/**
 * Bytes of the cached copies on `peer`: its chunk files the metadata does not list for it. (Rebalancing
 * may still move a copy onto it — then it is a replica, not cache — when a peer's keeper counted it as
 * a newcomer.)
 */
async function cachedBytes (peer: ClusterPeer, files: readonly string[]): Promise<number> {
  const listed = await locations(peer, files)
  let bytes = 0
  for (const [id, size] of await chunkFiles(peer)) if (listed.get(id)?.includes(peer.id) !== true) bytes += size
  return bytes
}

async function sha256 (file: string): Promise<string> {
  return (await run(`sha256sum ${file}`)).split(' ')[0]!
}

test('a peer holding no copy keeps what it read, within its disk cache bound, until the file is deleted', failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(4, { env: { SWARMFS_KEEPER_ROUND_S: '1' } })
  t.teardown(async () => await cluster.destroy(), { force: true })
  const [writer] = cluster.peers as [ClusterPeer]
  const reader = cluster.peers[3]!
  await cluster.waitFor(async () => {
    const status = await writer.status()
    return status !== null && status.voters.length + status.learners.length === 4
  }, 'all four peers to be members')
  for (const peer of cluster.peers) await configure(peer, 'cache-mb = 1\n')
  for (const peer of cluster.peers.slice(0, 3)) {
    await peer.stop()
    await peer.start()
  }
  t.is(await reader.stop(), 0, 'the reader stops')
  await run(`head -c ${16 * MiB} /dev/urandom > ${cluster.base}/small.bin && head -c ${24 * MiB} /dev/urandom > ${cluster.base}/big.bin`)
  await run(`cp ${cluster.base}/small.bin ${cluster.base}/big.bin ${writer.mountpoint}/`)
  await reader.start()
  const files = ['small.bin', 'big.bin']
  const placed = await locations(writer, files)
  t.ok([...placed.values()].every((holders) => !holders.includes(reader.id)), 'the reader holds no copy of either file')
  const smallChunks = [...(await locations(writer, ['small.bin'])).keys()]

  // First read: every chunk fetched, and kept as cache.
  t.is(await sha256(path.join(reader.mountpoint, 'small.bin')), await sha256(`${cluster.base}/small.bin`), 'the first read is intact')
  const first = (await reader.status())!
  const fetched = first.chunks.replication.fetched as number
  t.ok(fetched >= 4, `it fetched the file's four chunks (${fetched})`)
  t.is(first.chunks.diskCache.chunks, 4, 'all four are in its disk cache')

  // Several keeper rounds later the copies are still there: a second read crosses no wire.
  const rounds = first.chunks.keeper.rounds as number
  await cluster.waitFor(async () => ((await reader.status())?.chunks.keeper.rounds ?? 0) >= rounds + 3, 'three keeper rounds')
  const kept = await chunkFiles(reader)
  t.ok(smallChunks.every((id) => kept.has(id)), 'after three keeper rounds its copies of the four chunks are still on its disk')
  await run(`dd if=${path.join(reader.mountpoint, 'small.bin')} iflag=nocache count=0 status=none`) // drop the page cache
  t.is(await sha256(path.join(reader.mountpoint, 'small.bin')), await sha256(`${cluster.base}/small.bin`), 'the second read is intact')
  const second = (await reader.status())!
  t.is(second.chunks.replication.fetched, fetched, 'with no further fetch')
  t.ok(second.chunks.diskCache.hits > 0, `served by the disk cache (${String(second.chunks.diskCache.hits)} hits)`)

  // Restarted with a bound smaller than the next file: the tier is rebuilt from the store within it.
  t.is(await reader.stop(), 0, 'the reader stops again')
  await configure(reader, `cache-mb = 1\ndisk-cache-mb = ${BOUND_MB}\n`)
  await reader.start()
  const bound = BOUND_MB * MiB
  const restarted = (await reader.status())!
  t.is(restarted.chunks.diskCache.bytesMax, bound, `restarted with a ${BOUND_MB} MiB bound`)
  t.ok(restarted.chunks.diskCache.chunks <= 2 && restarted.chunks.diskCache.bytes <= bound, `the tier was rebuilt from the store within the bound (${String(restarted.chunks.diskCache.chunks)} chunks)`)
  t.ok(await cachedBytes(reader, files) <= bound, 'its cached copies fit the bound')

  // Reading a 24 MiB file through a 9 MiB tier: sample the bytes on disk meanwhile.
  let reading = true
  let most = 0
  const sampler = (async () => {
    while (reading) {
      most = Math.max(most, await cachedBytes(reader, files))
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })()
  const read = await sha256(path.join(reader.mountpoint, 'big.bin')).finally(() => { reading = false })
  await sampler
  t.is(read, await sha256(`${cluster.base}/big.bin`), 'the bigger file reads back intact')
  t.comment(`most cached bytes seen during the read: ${most} (bound ${bound})`)
  t.ok(most <= bound + SEALED_CHUNK_BYTES_MAX, 'during the read the cached bytes stayed within the bound plus one chunk')
  await cluster.waitFor(async () => await cachedBytes(reader, files) <= bound, 'the cached bytes within the bound once the read is over', 10_000)
  t.pass('once the read is over they are within the bound')
  const after = (await reader.status())!
  t.ok(after.chunks.diskCache.bytes <= bound && after.chunks.diskCache.evicted > 0, `status agrees: ${String(after.chunks.diskCache.bytes)} bytes, ${String(after.chunks.diskCache.evicted)} evicted`)

  // Deleting the files frees the cached copies too.
  await run(`rm ${writer.mountpoint}/small.bin ${writer.mountpoint}/big.bin`)
  await cluster.waitFor(async () => (await chunkFiles(reader)).size === 0, 'the reader\'s copies to be collected')
  t.pass('deleting the files freed the cached copies')
  t.is((await reader.status())!.chunks.diskCache.chunks, 0, 'and the tier is empty')
}))

