// Self-healing with real peers: chunk locations are visible as an xattr; a holder killed with -9 is
// replaced within a bounded time and R copies are back; a byte flipped in a stored chunk is found by the
// scrubber and repaired from a good replica, and so is a chunk file deleted from a holder's disk; deleting the files returns every peer's chunk store to
// empty; a peer that joins receives a share of the chunks by rebalancing. The daemons run with a short
// repair grace period and fast keeper rounds (their environment) so the test takes seconds, not minutes.
import test from 'brittle'
import { open, readdir } from 'node:fs/promises'
import path from 'node:path'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'
import { run } from '../helpers/peer.js'

/** The daemons' settings for these tests: a short repair grace period, fast keeper rounds and scrubbing. */
const FAST_HEALING = { SWARMFS_REPAIR_GRACE_S: '3', SWARMFS_KEEPER_ROUND_S: '1', SWARMFS_SCRUB_MBPS: '64', SWARMFS_SCRUB_PERIOD_S: '1' }

async function chunkFiles (peer: ClusterPeer): Promise<string[]> {
  const root = path.join(peer.data, 'chunks')
  const files: string[] = []
  for (const fanout of await readdir(root).catch(() => [])) {
    for (const name of await readdir(path.join(root, fanout)).catch(() => [])) if (/^[0-9a-f]{64}$/.test(name)) files.push(path.join(root, fanout, name))
  }
  return files
}

/** chunk id → holders, as the mount of `peer` reports them. */
async function locations (peer: ClusterPeer, file: string): Promise<Map<string, string[]>> {
  const text = await run(`getfattr --only-values -n user.swarmfs.locations ${path.join(peer.mountpoint, file)}`)
  return new Map(text.trim().split('\n').map((line) => {
    const [, id, holders] = line.split(' ')
    return [id!, holders!.split(',')]
  }))
}

async function sha256 (file: string): Promise<string> {
  return (await run(`sha256sum ${file}`)).split(' ')[0]!
}

test('a dead holder is replaced, a corrupt copy is repaired, deletion frees every peer', failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(4, { env: FAST_HEALING })
  t.teardown(async () => await cluster.destroy(), { force: true })
  const [writer] = cluster.peers as [ClusterPeer]
  const source = path.join(cluster.base, 'source.bin')
  await run(`head -c ${16 * 1048576} /dev/urandom > ${source}`)
  const expected = await sha256(source)
  await run(`cp ${source} ${writer.mountpoint}/data.bin`)

  const placed = await locations(cluster.peers[2]!, 'data.bin')
  t.is(placed.size, 4, 'four chunks, listed on another peer\'s mount')
  t.ok([...placed.values()].every((holders) => holders.length === 3), 'each with three holders')

  // Kill a holder that is not the writer; after the grace period its chunks get a new third copy.
  const victim = cluster.peers.find((peer) => peer !== writer && [...placed.values()].some((holders) => holders.includes(peer.id)))!
  await victim.crash()
  const survivors = cluster.peers.filter((peer) => peer !== victim)
  const healed = await cluster.waitFor(async () => {
    const now = await locations(writer, 'data.bin')
    return [...now.values()].every((holders) => holders.length === 3 && !holders.includes(victim.id))
  }, 'three live holders for every chunk', 60_000)
  t.comment(`R = 3 restored ${healed} ms after kill -9 (grace period 3 s)`)
  t.pass('every chunk has three live holders again')
  await cluster.waitFor(async () => (await Promise.all(survivors.map(chunkFiles))).flat().length === 12, 'exactly 12 copies on the survivors')
  t.pass('and exactly three copies each on disk')
  t.is(await sha256(path.join(survivors[2]!.mountpoint, 'data.bin')), expected, 'the file reads back intact')

  // Flip one byte in the middle of a stored chunk: the scrubber finds it and fetches a good copy.
  const target = survivors[1]!
  const [file] = await chunkFiles(target)
  const statusBefore = (await target.status())!
  const handle = await open(file!, 'r+')
  const { size } = await handle.stat()
  const byte = Buffer.alloc(1)
  await handle.read(byte, 0, 1, Math.floor(size / 2))
  byte[0] = byte[0]! ^ 0xff
  await handle.write(byte, 0, 1, Math.floor(size / 2))
  await handle.close()
  await cluster.waitFor(async () => ((await target.status())?.chunks.keeper.scrubRepaired ?? 0) > statusBefore.chunks.keeper.scrubRepaired, 'the scrubber to repair the copy', 60_000)
  t.pass('the scrubber found and repaired the flipped byte')
  const good = (await Promise.all(survivors.filter((peer) => peer !== target).map(chunkFiles))).flat().find((other) => path.basename(other) === path.basename(file!))!
  t.is((await run(`cmp ${file!} ${good} && echo same`).catch(() => 'differs')).trim(), 'same', 'the repaired copy is byte-identical to a good replica')

  // Delete a stored chunk file: the metadata still lists that peer, so the scrubber fetches it back.
  const loser = survivors[2]!
  const [lost] = await chunkFiles(loser)
  const repairedBefore = (await loser.status())!.chunks.keeper.scrubRepaired
  await run(`rm ${lost!}`)
  await cluster.waitFor(async () => ((await loser.status())?.chunks.keeper.scrubRepaired ?? 0) > repairedBefore, 'the scrubber to fetch the lost copy back', 60_000)
  const replica = (await Promise.all(survivors.filter((peer) => peer !== loser).map(chunkFiles))).flat().find((other) => path.basename(other) === path.basename(lost!))!
  t.is((await run(`cmp ${lost!} ${replica} && echo same`).catch(() => 'differs')).trim(), 'same', 'a deleted copy the metadata lists is fetched back, byte-identical')
  t.ok(loser.log.includes('chunks.lost_local_copy'), 'and logged as a lost copy')

  // Deleting the file frees its chunks on every peer.
  await run(`rm ${writer.mountpoint}/data.bin`)
  await cluster.waitFor(async () => (await Promise.all(survivors.map(chunkFiles))).every((files) => files.length === 0), 'every chunk store to be empty')
  t.pass('every peer\'s chunk store is back to empty after the delete')
}))

test('a peer that joins receives a fair share of the chunks by rebalancing', failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(3, { env: FAST_HEALING })
  t.teardown(async () => await cluster.destroy(), { force: true })
  await run(`head -c ${32 * 1048576} /dev/urandom > ${cluster.base}/source.bin && cp ${cluster.base}/source.bin ${cluster.peers[0]!.mountpoint}/data.bin`)
  const before = await Promise.all(cluster.peers.map(async (peer) => (await chunkFiles(peer)).length))
  t.alike(before, [8, 8, 8], 'with three peers and R = 3 every peer holds all 8 chunks')
  const newcomer = await cluster.addPeer()
  await cluster.waitFor(async () => (await chunkFiles(newcomer)).length >= 1, 'the new peer to receive chunks')
  let seen = ''
  await cluster.waitFor(async () => {
    const files = await Promise.all(cluster.peers.map(chunkFiles))
    const listed = [...(await locations(newcomer, 'data.bin')).values()]
    seen = `files per peer ${files.map((f) => f.length).join(' ')}, holders per chunk ${listed.map((h) => h.length).join(' ')}`
    return files.flat().length === 24 && listed.every((holders) => holders.length === 3)
  }, 'three copies per chunk, no more').catch((error: Error) => { throw new Error(`${error.message}\nlast seen: ${seen}`) })
  const after = await Promise.all(cluster.peers.map(async (peer) => (await chunkFiles(peer)).length))
  t.comment(`chunk files per peer after the join: ${after.join(' ')}`)
  t.ok(after[3]! >= 2, 'the newcomer holds a share of the chunks')
  t.is(await sha256(path.join(newcomer.mountpoint, 'data.bin')), await sha256(`${cluster.base}/source.bin`), 'and the file reads back intact from it')
}))
