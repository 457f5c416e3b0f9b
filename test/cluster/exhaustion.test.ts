// Full disks, with real peers whose whole data directory (metadata log and chunk store together, as
// deployed) sits on a small tmpfs the test mounts, fills through the mounts, and grows again.
//   1. One of four peers runs out of room. Its disk is tiny next to the others', so placement (weighted
//      by capacity) sends it hardly any copies of other peers' writes; it fills with the copies it keeps
//      of its own writes, which keep here only what fits, the rest going to the other peers, each chunk
//      with three copies. The full peer keeps its reserve free for its metadata log, keeps running and
//      applying metadata, and serves reads of what it cannot keep. When its disk grows, it keeps copies
//      again. When
//      something else fills its disk to the last byte, the daemon stops rather than corrupt its log,
//      and once room is back it restarts, catches up and reads every file intact.
//   2. Every peer runs out of room: writes of new content fail with ENOSPC (never EIO, never a hang),
//      a copy of content stored already still succeeds (it needs no room for chunks), every file
//      written before reads back intact on every mount, the daemons keep running, and deleting the
//      partial file makes room for new writes.
import test from 'brittle'
import type { Test } from 'brittle'
import path from 'node:path'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'
import { run, sh } from '../helpers/peer.js'

const MiB = 1024 * 1024
const DISK_MB = 64
/** What the chunk store leaves free on a 64 MiB disk (disk-room.ts: 5 %, at least 16 MiB). */
const RESERVE_BYTES = 16 * MiB
const FILE_MB = 16
/**
 * Written once a full cluster has room again. Small: copies the peers took for writes that then failed
 * stay held for their writer for a while (UNCOMMITTED_HOLD_MS), so not all of the room comes back at once.
 */
const AFTER_MB = 8

/** A tmpfs of `mb` MiB at each directory; unmount() undoes it (the daemons must have stopped). */
class SmallDisks {
  private readonly mounted: string[] = []

  async mount (directory: string, mb: number): Promise<void> {
    await run(`mkdir -p ${directory} && mount -t tmpfs -o size=${mb}m,mode=0700 swarmfs-test ${directory}`)
    this.mounted.push(directory)
  }

  async resize (directory: string, mb: number): Promise<void> {
    await run(`mount -o remount,size=${mb}m ${directory}`)
  }

  async unmount (): Promise<void> {
    for (const directory of this.mounted.splice(0)) await sh(`umount ${directory} || umount -l ${directory}`)
  }
}

/** Stops the daemons, unmounts the small disks, then removes the cluster (its directories held the mounts). */
function cleanUp (t: Test, disks: SmallDisks, cluster: () => Cluster | null): void {
  t.teardown(async () => {
    const started = cluster()
    for (const peer of started?.peers ?? []) await peer.stop().catch(() => {})
    await disks.unmount()
    await started?.destroy()
  }, { force: true })
}

async function sha256 (file: string): Promise<string> {
  return (await run(`sha256sum ${file}`, { timeoutMs: 300_000 })).split(' ')[0]!
}

async function holdersOf (peer: ClusterPeer, file: string): Promise<string[][]> {
  const text = await run(`getfattr --only-values -n user.swarmfs.locations ${path.join(peer.mountpoint, file)}`)
  return text.trim().split('\n').map((line) => line.split(' ')[2]!.split(','))
}

async function usedBytes (directory: string): Promise<number> {
  return Number((await run(`df -B1 --output=used ${directory} | tail -1`)).trim())
}

/** The room for chunks `peer` sees `other` advertise (its own, for itself). */
async function roomSeen (peer: ClusterPeer, other: ClusterPeer): Promise<number | null> {
  const status = await peer.status()
  return (status?.peers.find((view) => view.id === other.id) as { roomBytes?: number | null } | undefined)?.roomBytes ?? null
}

async function makeSources (cluster: Cluster, names: string[], mb: number): Promise<Map<string, string>> {
  const directory = path.join(cluster.base, 'sources')
  await run(`mkdir -p ${directory} && cd ${directory} && for f in ${names.join(' ')}; do head -c ${mb * MiB} /dev/urandom > $f; done`)
  return new Map(await Promise.all(names.map(async (name) => [name, await sha256(path.join(directory, name))] as [string, string])))
}

async function allReadBack (t: Test, peers: readonly ClusterPeer[], expected: ReadonlyMap<string, string>, when: string): Promise<void> {
  for (const peer of peers) {
    const wrong: string[] = []
    for (const [name, sum] of expected) if (await sha256(path.join(peer.mountpoint, name)) !== sum) wrong.push(name)
    t.alike(wrong, [], `${when}: every file reads back intact on ${peer.name}`)
  }
}

test('one peer out of room: copies go elsewhere, its log keeps its reserve, it recovers', failuresAsAsserts(async (t) => {
  const disks = new SmallDisks()
  let cluster: Cluster | null = null
  cleanUp(t, disks, () => cluster)
  cluster = await Cluster.start(4, { prepare: async (peer) => { if (peer.name === 'peer3') await disks.mount(peer.data, DISK_MB) } })
  const peers = cluster.peers
  const [writer, , , full] = peers as [ClusterPeer, ClusterPeer, ClusterPeer, ClusterPeer]
  const sources = path.join(cluster.base, 'sources')

  // 128 MiB written through the small peer's mount: it would keep a copy of each chunk, far more than its
  // 48 MiB of room.
  const first = await makeSources(cluster, ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8'], FILE_MB)
  for (const name of first.keys()) t.is((await full.sh(`cp ${sources}/${name} ${name}`)).code, 0, `${name} is written through ${full.name}`)
  const placements = (await Promise.all([...first.keys()].map(async (name) => await holdersOf(writer, name)))).flat()
  t.ok(placements.every((holders) => holders.length >= 2), `each of the ${placements.length} chunks has at least two holders: ${placements.map((holders) => holders.length).join('')}`)
  const onFull = placements.filter((holders) => holders.includes(full.id)).length
  t.comment(`chunks on the full peer: ${onFull} of ${placements.length}; its disk: ${await usedBytes(full.data)} bytes used of ${DISK_MB * MiB}`)
  t.ok(onFull < placements.length * 2 / 3, 'the full peer holds fewer than its share')
  t.ok(await usedBytes(full.data) <= DISK_MB * MiB - RESERVE_BYTES + 4 * MiB, 'and its chunk store stopped at the reserve (room is left for the metadata log)')
  await cluster.waitFor(async () => ((await roomSeen(writer, full)) ?? Infinity) < 12 * MiB, `${writer.name} to see ${full.name} advertise that it is short of room`)
  t.pass(`${writer.name} sees ${full.name} advertise little room: ${await roomSeen(writer, full)} bytes`)
  t.ok(full.running, 'the full peer is still running')

  // The full peer reads files it holds no copy of (served from memory), and writes go to the others.
  await allReadBack(t, [full], first, 'a full disk')
  const own = await makeSources(cluster, ['b1'], FILE_MB)
  t.is((await full.sh(`cp ${sources}/b1 b1`)).code, 0, `a file written through ${full.name}'s mount succeeds`)
  const ownHolders = await holdersOf(writer, 'b1')
  const keptHere = ownHolders.filter((holders) => holders.includes(full.id)).length
  t.comment(`b1: ${keptHere} of ${ownHolders.length} chunks kept on ${full.name} (as many as its last few MiB of room took), holders ${ownHolders.map((holders) => holders.length).join(' ')}`)
  t.ok(keptHere < ownHolders.length, 'the chunks that did not fit on the full peer went to other peers')
  // A chain hop that timed out on a loaded machine leaves a chunk with two copies: the keeper adds the third.
  await cluster.waitFor(async () => (await holdersOf(writer, 'b1')).every((holders) => holders.length === 3), 'three holders for every chunk of b1')
  t.pass('every chunk of b1 has three holders')
  t.ok(await usedBytes(full.data) <= DISK_MB * MiB - RESERVE_BYTES + 4 * MiB, 'and the full peer\'s chunk store still stops at its reserve')
  t.is((await full.sh('mkdir d && mv b1 d/b1 && test -f d/b1')).code, 0, 'metadata changes through the full peer\'s mount work')
  t.ok(((await full.status())?.appliedIndex ?? 0) >= ((await writer.status())?.commitIndex ?? Infinity) - 5, 'the full peer keeps applying the log')

  // More room: the full peer takes copies again.
  await disks.resize(full.data, DISK_MB * 4)
  await cluster.waitFor(async () => ((await roomSeen(writer, full)) ?? 0) > 100 * MiB, `${writer.name} to see ${full.name} advertise room again`)
  const later = await makeSources(cluster, ['c1', 'c2'], FILE_MB)
  for (const name of later.keys()) t.is((await full.sh(`cp ${sources}/${name} ${name}`)).code, 0, `${name} is written through ${full.name} after its disk grew`)
  const laterOnFull = (await Promise.all([...later.keys()].map(async (name) => await holdersOf(writer, name)))).flat().filter((holders) => holders.includes(full.id)).length
  t.ok(laterOnFull >= 1, `the grown peer keeps copies again (${laterOnFull} of ${later.size * FILE_MB / 4} chunks)`)
  const expected = new Map([...first, ...later, ...[...own].map(([name, sum]) => [`d/${name}`, sum] as [string, string])])
  await allReadBack(t, peers, expected, 'after the disk grew')

  // Something else fills the disk to the last byte: the metadata changes the full peer must log can't
  // be (a few hundred, so the log needs new pages of the disk).
  await sh(`dd if=/dev/zero of=${path.join(full.data, 'filler')} bs=64k`, { timeoutMs: 120_000 })
  t.is((await writer.sh('mkdir after-filler && for i in $(seq 1 300); do mkdir after-filler/d$i; done && touch after-filler/x')).code, 0, 'the others keep changing metadata')
  const stopped = await cluster.waitFor(async () => !full.running, `${full.name} to stop on a log it cannot write`, 30_000).then(() => true, () => false)
  t.comment(stopped ? `${full.name} stopped (exit ${String(full.process?.exitCode)}): ${full.log.split('\n').filter((line) => /storage_failed|ENOSPC/.test(line)).slice(-1).join('')}` : `${full.name} kept running`)
  t.ok(stopped ? full.process?.signalCode === null : full.running, 'the peer either keeps running or stops cleanly (no crash)')
  await run(`rm ${path.join(full.data, 'filler')}`)
  if (full.running) await full.stop()
  await full.start()
  await cluster.waitFor(async () => (await full.sh('test -f after-filler/x')).code === 0, `${full.name} to catch up after restarting`)
  t.pass('with room back it restarts and catches up')
  await allReadBack(t, [full], expected, 'after the restart')
}))

test('every peer out of room: writes fail with ENOSPC, nothing written before is lost, deleting makes room', failuresAsAsserts(async (t) => {
  const disks = new SmallDisks()
  let cluster: Cluster | null = null
  cleanUp(t, disks, () => cluster)
  cluster = await Cluster.start(3, { prepare: async (peer) => await disks.mount(peer.data, DISK_MB) })
  const peers = cluster.peers
  const [writer] = peers as [ClusterPeer]
  const sources = path.join(cluster.base, 'sources')
  const before = await makeSources(cluster, ['a1'], FILE_MB)
  t.is((await writer.sh(`cp ${sources}/a1 a1`)).code, 0, 'a file that fits is written')

  const started = Date.now()
  const fill = await writer.sh('dd if=/dev/urandom of=fill bs=1M count=200 conv=fsync', 180_000)
  t.comment(`dd: exit ${fill.code} after ${Date.now() - started} ms: ${fill.stderr.trim().split('\n')[0]!}`)
  t.not(fill.code, 0, 'writing past the room fails')
  t.ok(/No space left on device/.test(fill.stderr), 'with ENOSPC')
  t.absent(/Input\/output error/.test(fill.stderr), 'not EIO')
  await makeSources(cluster, ['a2'], FILE_MB)
  const copy = await writer.sh(`cp ${sources}/a2 a2`)
  t.ok(copy.code !== 0 && /No space left on device/.test(copy.stderr), `another write of new content fails the same way: ${copy.stderr.trim()}`)
  // Content-addressed: every chunk of a1 is stored whole on its holders already, so a copy takes no room.
  const again = await writer.sh(`cp ${sources}/a1 a1-again`)
  t.is(again.code, 0, `a copy of content stored already needs no room for chunks: ${again.stderr.trim()}`)
  const stored = new Map([...before, ['a1-again', before.get('a1')!]])

  t.ok(peers.every((peer) => peer.running), 'every daemon keeps running')
  await allReadBack(t, peers, stored, 'out of room')
  t.is((await peers[1]!.sh('mkdir still-works && rmdir still-works')).code, 0, 'metadata changes still work')

  await writer.sh('rm -f fill a2')
  await cluster.waitFor(async () => {
    const rooms = await Promise.all(peers.map(async (peer) => await roomSeen(peer, peer)))
    return rooms.every((room) => room !== null && room >= AFTER_MB * MiB + 4 * MiB)
  }, 'every peer to have room again after the delete')
  const after = await makeSources(cluster, ['b1'], AFTER_MB)
  t.is((await writer.sh(`cp ${sources}/b1 b1`)).code, 0, 'once the partial file is deleted, a new write succeeds')
  await allReadBack(t, peers, new Map([...stored, ...after]), 'after making room')
}))
