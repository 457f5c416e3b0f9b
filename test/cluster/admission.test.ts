// Proves admission on a live 3-peer cluster (real daemon processes, loopback DHT with a local bootstrap
// node), with test-side impostors (helpers/impostor.ts):
//   (a) knowing the topic is not enough: a random capability is refused at once, and a peer that sends
//       no handshake at all is closed when the admission timeout fires; neither ever gets a message;
//   (b) dialling a member's key directly with another cluster's secret, or with the right secret but
//       another protocol version: refused, no message;
//   (d) a live daemon survives thousands of random, truncated and bit-flipped frames on every channel
//       from an admitted impostor: each bad frame closes that connection only, the counter
//       network.closedOnBadInput rises, and the daemons, their status and their mounts keep working;
//   (c) a peer removed with `swarmfs remove` leaves every remaining peer's configuration, gets no new
//       metadata, and its key pair is refused even with the right secret.
// The steps share one cluster (it is the slow part) and run in the order a, b, d, c.
import test from 'brittle'
import type { Test } from 'brittle'
import HyperDHT from 'hyperdht'
import { EntryType, MessageType, makeMessage } from '../../metadata/raft/messages.js'
import { randomBytes } from '../../native/crypto.js'
import { deriveClusterKeys, readSecret } from '../../peer/cluster-keys.js'
import { dataDir } from '../../peer/data-dir.js'
import { ADMISSION_TIMEOUT_MS } from '../../peer/net/connection.js'
import { ChunkKind, HealthKind, PROTOCOLS, PROTOCOL_VERSION, encodeChunkMessage, encodeHealth, encodeRaft } from '../../peer/net/wire.js'
import { Cluster } from '../helpers/cluster.js'
import type { ClusterPeer } from '../helpers/cluster.js'
import { Impostor } from '../helpers/impostor.js'
import type { ChannelName, ImpostorConnection, ImpostorOptions } from '../helpers/impostor.js'
import { CLI, sh } from '../helpers/peer.js'
import { seededRandom } from '../helpers/seeded-random.js'

const SEED = Number(process.env.SEED ?? 4242)
/** The fuzz runs for this long or until this many connections were closed on bad input. */
const FUZZ_MS = 30_000
const FUZZ_CONNECTIONS_MAX = 800
/** Well-formed random frames sent on each admitted connection before the malformed burst. */
const VALID_FRAMES_PER_CONNECTION = 30
const BAD_FRAMES_PER_BURST = 20

interface NetworkStats { admitted: number, refused: number, closedOnBadInput: number }

async function networkStats (peer: ClusterPeer): Promise<NetworkStats | null> {
  return ((await peer.status())?.network ?? null) as NetworkStats | null
}

async function totalRefused (peers: ClusterPeer[]): Promise<number> {
  const all = await Promise.all(peers.map(async (peer) => await networkStats(peer)))
  return all.reduce((sum, stats) => sum + (stats?.refused ?? 0), 0)
}

/**
 * A subtest whose exceptions (a waitFor that timed out) become failures: brittle would otherwise end the
 * process without running the teardowns that stop the daemons and unmount.
 */
async function step (t: Test, name: string, fn: (t: Test) => Promise<void>): Promise<void> {
  await t.test(name, async (t) => {
    try {
      await fn(t)
    } catch (error) {
      t.fail(`${name}: ${(error as Error).stack ?? String(error)}`)
    }
  })
}

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

test('admission: impostors are refused, a live daemon survives fuzzing, a removed peer stays out', { timeout: 300_000 }, async (t) => {
  const cluster = await Cluster.start(3)
  t.teardown(async () => await cluster.destroy(), { order: 1 })
  const impostors: Impostor[] = []
  t.teardown(async () => { for (const impostor of impostors) await impostor.close() }, { order: 0 })
  const impostor = async (options: Omit<ImpostorOptions, 'bootstrap'>): Promise<Impostor> => {
    const created = await Impostor.create({ bootstrap: cluster.bootstrap.address, ...options })
    impostors.push(created)
    return created
  }
  const keys = deriveClusterKeys(await readSecret(dataDir(cluster.peers[0]!.data).secretFile))
  const [first, second] = cluster.peers as [ClusterPeer, ClusterPeer, ClusterPeer]

  /** Waits for at least one connection, then for all of them to be closed by the daemons. */
  const refusedEverywhere = async (who: Impostor, what: string): Promise<void> => {
    await cluster.waitFor(async () => who.connections.length > 0, `${what}: a connection`, 30_000)
    await cluster.waitFor(async () => who.connections.every((connection) => connection.closed), `${what}: its connections to be closed`, 30_000)
  }
  const closeTimes = (who: Impostor): number[] => who.connections.map((connection) => connection.closedAtMs! - connection.openedAtMs)

  await step(t, '(a) an impostor that knows only the topic is disconnected and never receives a message', async (t) => {
    const refusedBefore = await totalRefused(cluster.peers)
    const guesser = await impostor({ authKey: 'random' })
    await guesser.join(keys.topic)
    await refusedEverywhere(guesser, 'a random capability')
    const times = closeTimes(guesser)
    t.comment(`random capability: ${times.length} connections, closed after ${times.join(', ')} ms`)
    t.ok(Math.max(...times) < ADMISSION_TIMEOUT_MS, 'closed before the admission timeout (a wrong capability is refused when it arrives)')

    const silent = await impostor({ authKey: 'silent' })
    await silent.join(keys.topic)
    await refusedEverywhere(silent, 'a silent peer')
    const silentTimes = closeTimes(silent)
    t.comment(`no handshake: ${silentTimes.length} connections, closed after ${silentTimes.join(', ')} ms (admission timeout ${ADMISSION_TIMEOUT_MS} ms)`)
    t.ok(Math.min(...silentTimes) >= ADMISSION_TIMEOUT_MS - 1_000, 'a silent connection is kept until the admission timeout')
    t.ok(Math.max(...silentTimes) < ADMISSION_TIMEOUT_MS + 15_000, 'and closed when it fires')

    await sleep(1_500) // a daemon beats every second: anything leaking to an unadmitted peer would show
    t.alike(guesser.received, { ...guesser.received, raft: 0, health: 0 }, 'the guesser never received a Raft or health message')
    t.is(guesser.receivedAny, 0, 'nor anything else')
    t.is(silent.receivedAny, 0, 'the silent peer received nothing')
    await cluster.waitFor(async () => await totalRefused(cluster.peers) >= refusedBefore + 2, 'the refusals to be counted', 30_000)
    t.pass('network.refused rose')
  })

  await step(t, "(b) another cluster's secret, or another protocol version, dialling a member's key: refused", async (t) => {
    const outsider = await impostor({ authKey: deriveClusterKeys(randomBytes(32)).connectionAuth })
    outsider.dial(second.id)
    await refusedEverywhere(outsider, "another cluster's secret")
    t.comment(`wrong secret: ${outsider.connections.length} connections, closed after ${closeTimes(outsider).join(', ')} ms`)
    t.ok(Math.max(...closeTimes(outsider)) < ADMISSION_TIMEOUT_MS, 'closed before the admission timeout')

    const future = await impostor({ authKey: keys.connectionAuth, version: PROTOCOL_VERSION + 1 })
    const connection = await future.connect(first.id)
    t.ok(connection !== null, 'the Noise connection itself opens')
    t.ok(await connection!.waitClosed(30_000), 'the right capability with another protocol version is closed')

    // A handshake that does not even decode is a wrong capability too: refused (and counted) like one.
    const refusedBefore = (await networkStats(first))!.refused
    const garbler = await impostor({ authKey: 'malformed' })
    const garbled = await garbler.connect(first.id)
    t.ok(garbled !== null && await garbled.waitClosed(30_000), 'an undecodable handshake is closed')
    await cluster.waitFor(async () => (await networkStats(first))!.refused > refusedBefore, 'the undecodable handshake to count as refused', 30_000)
    t.pass('and counted as refused')
    t.is(await garbler.connect(first.id, 5_000), null, 'its key is refused when it comes back')

    await sleep(1_500)
    t.is(outsider.receivedAny, 0, 'the outsider never received a message')
    t.is(future.receivedAny, 0, 'the other version never received a message')
    t.is(garbler.receivedAny, 0, 'the garbler never received a message')
  })

  await step(t, '(d) a live daemon survives thousands of malformed frames from an admitted peer', async (t) => {
    const target = second
    const before = (await networkStats(target))!
    const fuzzer = await impostor({ authKey: keys.connectionAuth })
    const counts = await fuzz(t, fuzzer, target.id)
    const after = (await networkStats(target))!
    t.comment(`fuzz (seed ${SEED}): ${JSON.stringify(counts)}`)
    t.comment(`target network before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`)
    t.ok(counts.admitted > 0, 'the impostor with the right secret was admitted')
    t.ok(fuzzer.received.health > 0, 'and answered (so the silence of the refused impostors means something)')
    t.ok(counts.closedByDaemon > 0, 'malformed frames closed its connections')
    t.ok(after.closedOnBadInput > before.closedOnBadInput, `network.closedOnBadInput rose by ${after.closedOnBadInput - before.closedOnBadInput}`)
    for (const peer of cluster.peers) t.ok(peer.running, `${peer.name} is still running`)
    const statuses = await Promise.all(cluster.peers.map(async (peer) => await peer.status()))
    t.ok(statuses.every((status) => status !== null), 'every status answers')
    const name = `after-fuzz-${SEED}`
    t.is((await target.sh(`mkdir ${name}`, 30_000)).code, 0, 'the fuzzed mount still works')
    await cluster.waitFor(async () => (await first.sh(`test -d ${name}`, 30_000)).code === 0, 'the fuzzed peer’s mkdir to show elsewhere', 60_000)
    t.pass('and its change shows on another mount')
  })

  await step(t, '(c) a removed peer leaves the group, gets no new metadata, and its key is refused', async (t) => {
    const leader = await cluster.leader()
    const [victim, remover] = cluster.peers.filter((peer) => peer !== leader) as [ClusterPeer, ClusterPeer]
    const prefix = victim.id.slice(0, 12)
    const removal = await sh(`node ${CLI} remove ${prefix} --data ${remover.data} --json`, { timeoutMs: 60_000 })
    t.is(removal.code, 0, `swarmfs remove ${prefix} on ${remover.name} ${removal.stderr}`)
    t.alike(JSON.parse(removal.stdout || '{}'), { removed: victim.id }, 'the prefix named the victim')

    const remaining = [leader, remover]
    await cluster.waitFor(async () => {
      const statuses = await Promise.all(remaining.map(async (peer) => await peer.status()))
      return statuses.every((status) => status !== null && ![...status.voters, ...status.learners].includes(victim.id))
    }, 'the victim to leave every remaining configuration', 60_000)
    t.pass('the victim is in no remaining peer’s voters or learners')
    const victimView = await victim.status()
    t.comment(`the victim's own view: voters ${JSON.stringify(victimView?.voters.map((id) => id.slice(0, 8)))}, learners ${JSON.stringify(victimView?.learners.map((id) => id.slice(0, 8)))}, leader ${String(victimView?.leader).slice(0, 8)}`)

    const name = `after-removal-${SEED}`
    t.is((await leader.sh(`mkdir ${name}`, 30_000)).code, 0)
    await cluster.waitFor(async () => (await remover.sh(`test -d ${name}`, 30_000)).code === 0, 'the new directory on the remaining peer', 60_000)
    let seen = false
    for (let i = 0; i < 5; i++) {
      await sleep(1_000)
      if ((await victim.sh(`test -e ${name}`, 20_000)).code === 0) seen = true
    }
    t.absent(seen, 'a directory made after the removal never shows on the removed peer’s mount')

    // The removed peer's own key pair, with the right cluster secret, is refused by every remaining peer.
    t.is(await victim.stop(), 0, 'the removed daemon stops cleanly')
    const keyPair = HyperDHT.keyPair(await readSecret(dataDir(victim.data).peerKeyFile))
    const ghost = await impostor({ authKey: keys.connectionAuth, keyPair })
    await ghost.join(keys.topic)
    for (const peer of remaining) ghost.dial(peer.id)
    const direct = await ghost.connect(leader.id, 10_000)
    if (direct !== null) await direct.waitClosed(15_000)
    await sleep(6_000)
    t.comment(`removed key: ${ghost.connections.length} connections opened, ${ghost.connections.filter((c) => !c.closed).length} still open`)
    t.ok(ghost.connections.every((connection) => connection.closed), 'no connection with the removed key stays open')
    t.is(ghost.receivedAny, 0, 'and none ever carried a message')
    const views = await Promise.all(remaining.map(async (peer) => await peer.status()))
    t.ok(views.every((view) => (view?.peers.find((p) => p.id === victim.id) as { connected?: boolean } | undefined)?.connected !== true), 'no remaining peer counts it connected')
  })
})

interface FuzzCounts {
  connections: number
  connectFailures: number
  admitted: number
  closedByDaemon: number
  survivedBurst: number
  validFrames: Record<ChannelName, number>
  malformedFrames: Record<ChannelName, number>
}

/**
 * Connects to `peerId` again and again: on each admitted connection sends well-formed random frames on
 * every channel, then a burst of malformed ones on one channel (rotating); the daemon must close the
 * connection at the first frame it cannot decode.
 */
async function fuzz (t: Test, fuzzer: Impostor, peerId: string): Promise<FuzzCounts> {
  const random = seededRandom(SEED)
  const int = (bound: number): number => Math.floor(random() * bound)
  const channels = Object.keys(PROTOCOLS) as ChannelName[]
  const zero = (): Record<ChannelName, number> => Object.fromEntries(channels.map((name) => [name, 0])) as Record<ChannelName, number>
  const counts: FuzzCounts = { connections: 0, connectFailures: 0, admitted: 0, closedByDaemon: 0, survivedBurst: 0, validFrames: zero(), malformedFrames: zero() }
  const started = Date.now()
  let round = 0
  while (Date.now() - started < FUZZ_MS && counts.closedByDaemon < FUZZ_CONNECTIONS_MAX) {
    const connection = await fuzzer.connect(peerId, 10_000)
    if (connection === null) {
      counts.connectFailures++
      await sleep(200)
      continue
    }
    counts.connections++
    if (!(await admitted(connection))) {
      connection.destroy()
      continue
    }
    counts.admitted++
    for (let i = 0; i < VALID_FRAMES_PER_CONNECTION; i++) {
      const name = channels[i % channels.length]!
      if (connection.send(name, validFrame(name, int))) counts.validFrames[name]++
    }
    const name = channels[round++ % channels.length]!
    const template = validFrame(name, int)
    for (let i = 0; i < BAD_FRAMES_PER_BURST; i++) {
      connection.send(name, malformed(template, int))
      counts.malformedFrames[name]++
    }
    if (await connection.waitClosed(10_000)) counts.closedByDaemon++
    else {
      counts.survivedBurst++ // every mutant of this burst happened to decode
      connection.destroy()
      await connection.waitClosed(5_000)
    }
  }
  t.comment(`fuzzed for ${Date.now() - started} ms`)
  return counts
}

/** Sends a heartbeat and waits for its answer: the daemon acts on frames only once it has admitted us. */
async function admitted (connection: ImpostorConnection): Promise<boolean> {
  const deadline = Date.now() + 10_000
  while (!connection.remoteOpened) {
    if (connection.closed || Date.now() > deadline) return false
    await sleep(10)
  }
  connection.send('health', encodeHealth({ kind: HealthKind.Beat, sequence: 1, term: 0, commit: 0, applied: 0 }))
  while (connection.received.health === 0) {
    if (connection.closed || Date.now() > deadline) return false
    await sleep(10)
  }
  return true
}

/**
 * A well-formed frame with random content that an admitted peer may send: health beats and acks with
 * random numbers, Raft messages addressed from a peer that is not this connection's (the network drops
 * them after decoding), chunk replies to requests nobody made.
 */
function validFrame (name: ChannelName, int: (bound: number) => number): Uint8Array {
  const big = (): number => int(2 ** 32) * (int(2) === 0 ? 1 : 2 ** 20)
  switch (name) {
    case 'health':
      return encodeHealth({ kind: int(2) === 0 ? HealthKind.Beat : HealthKind.Ack, sequence: big(), term: big(), commit: big(), applied: big() })
    case 'raft':
      return encodeRaft(makeMessage({
        type: int(19) as MessageType,
        to: randomHex(int),
        from: 'f'.repeat(1 + int(70)),
        term: big(),
        index: big(),
        commit: big(),
        logTerm: big(),
        reject: int(2) === 0,
        context: Uint8Array.from({ length: int(8) }, () => int(256)),
        entries: Array.from({ length: int(3) }, (_, i) => ({ term: 1, index: i + 1, type: EntryType.Normal, data: Uint8Array.from({ length: int(40) }, () => int(256)) }))
      }))
    default:
      return encodeChunkMessage({ kind: [ChunkKind.Ok, ChunkKind.Missing, ChunkKind.Failed][int(3)]!, requestId: 1_000_000 + big(), chunkId: new Uint8Array(32), payload: Uint8Array.from({ length: int(64) }, () => int(256)) })
  }
}

function randomHex (int: (bound: number) => number): string {
  return Array.from({ length: 64 }, () => '0123456789abcdef'[int(16)]).join('')
}

/** Random bytes, a truncation of `valid`, or `valid` with a few bytes or bits changed. */
function malformed (valid: Uint8Array, int: (bound: number) => number): Uint8Array {
  const kind = int(4)
  if (kind === 0) return Uint8Array.from({ length: int(2 * valid.length + 1) }, () => int(256))
  if (kind === 1) return valid.slice(0, int(valid.length))
  const bytes = new Uint8Array(valid)
  for (let k = 0; k < 1 + int(4); k++) {
    const at = int(bytes.length)
    if (kind === 2) bytes[at] = int(256)
    else bytes[at]! ^= 1 << int(8)
  }
  return bytes
}
