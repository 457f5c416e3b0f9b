// Proves RaftStorage keeps the Raft durability contract on a real disk: a fresh directory is
// bootstrapped with the founding configuration; what was appended and synced — entries, terms, term
// and vote — survives a reopen, including a suffix replaced by a new leader, a compaction behind a
// snapshot and a snapshot installed from a leader; a torn WAL tail costs only the torn record; crash
// images that the parallel writes of one Ready can leave (snapshot file ahead of the WAL, hard state
// behind or ahead of the log) open into a consistent state; and a single-voter RaftNode over it keeps
// every acknowledged proposal across a clean restart and across a crash.
//
// "Crash image": fs.cpSync copies the directory synchronously, between two turns of the event loop, so
// the copy holds whatever the page cache held at that instant — at least everything already synced.
import { cpSync, mkdtempSync } from 'node:fs'
import { readdir, rm, stat, truncate } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'brittle'
import type { Test } from 'brittle'
import { RaftNode } from '../../metadata/raft/node-api.js'
import { bootstrapEntry } from '../../metadata/raft/memory-storage.js'
import { EntryType, NONE } from '../../metadata/raft/messages.js'
import type { ConfState, Entry, Snapshot } from '../../metadata/raft/messages.js'
import { Rng } from '../../metadata/raft/rng.js'
import { CompactedError } from '../../metadata/raft/storage.js'
import type { Transport } from '../../metadata/raft/transport.js'
import { RaftStorage, UNKNOWN_VOTE } from '../../metadata/raft-storage.js'
import { loadHardState } from '../../metadata/storage/hard-state.js'
import { writeSnapshot } from '../../metadata/storage/snapshot-file.js'
import { KvStateMachine, decodeJson, encodeJson } from '../sim/kv.js'

const FOUNDERS = ['a', 'b', 'c']
const CONF: ConfState = { voters: FOUNDERS, learners: [] }

function entry (index: number, term: number, text = `entry-${index}@${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: Buffer.from(text) }
}

function entries (first: number, last: number, term: number): Entry[] {
  const list: Entry[] = []
  for (let index = first; index <= last; index++) list.push(entry(index, term))
  return list
}

/** Comparable form: index, term, type and the payload as text. */
function shape (list: readonly Entry[]): Array<[number, number, number, string]> {
  return list.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString()])
}

function logOf (storage: RaftStorage): Entry[] {
  return storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER)
}

/** A crash image of `directory` taken now (see the header), removed after the test. */
function crashImage (t: Test, directory: string): string {
  const copy = mkdtempSync(path.join(os.tmpdir(), 'swarmfs-raft-crash-'))
  cpSync(directory, copy, { recursive: true })
  // Removed last, after the node that reopens the image has stopped writing into it.
  t.teardown(async () => { await rm(copy, { recursive: true, force: true, maxRetries: 5 }) }, { order: 1 })
  return copy
}

async function open (t: Test, directory: string): Promise<RaftStorage> {
  const storage = await RaftStorage.open(directory, FOUNDERS)
  t.teardown(async () => { await storage.close().catch(() => {}) })
  return storage
}

async function lastSegment (directory: string): Promise<string> {
  const names = (await readdir(path.join(directory, 'wal'))).filter((name) => name.endsWith('.seg')).sort()
  return path.join(directory, 'wal', names.at(-1)!)
}

test('bootstrap: a fresh directory holds the founding configuration as entry 1 of term 1', async (t) => {
  const directory = await t.tmp()
  const storage = await RaftStorage.open(directory, FOUNDERS)
  t.is(storage.firstIndex(), 1)
  t.is(storage.lastIndex(), 1)
  t.is(storage.term(1), 1)
  t.is(storage.term(0), 0, 'the dummy entry before the log')
  const [first] = logOf(storage)
  t.is(first?.type, EntryType.ConfChange)
  t.alike(Buffer.from(first!.data), Buffer.from(bootstrapEntry(FOUNDERS).data), 'the bootstrap configuration entry')
  t.alike(storage.initialState().hardState, { term: 1, vote: NONE, commit: 1 })
  t.is(storage.snapshot().metadata.index, 0)
  t.alike(await loadHardState(directory), { term: 1, vote: null, commit: 1 }, 'durable before open() resolves')
  await storage.close()

  const reopened = await open(t, directory)
  t.is(reopened.lastIndex(), 1, 'not bootstrapped twice')
  t.alike(shape(logOf(reopened)), shape([first!]))
  t.alike(reopened.initialState().hardState, { term: 1, vote: NONE, commit: 1 })
})

test('append + sync survive a reopen: entries, term(), term and vote (no vote is stored as null)', async (t) => {
  const directory = await t.tmp()
  const storage = await RaftStorage.open(directory, FOUNDERS)
  const written = [...entries(2, 6, 1), ...entries(7, 12, 2), { index: 13, term: 3, type: EntryType.Empty, data: new Uint8Array(0) }]
  storage.append(written.slice(0, 5))
  storage.append(written.slice(5))
  storage.setHardState({ term: 3, vote: 'b', commit: 9 })
  await storage.sync()
  // Synced, not closed: the crash image must already hold it all.
  const image = crashImage(t, directory)
  await storage.close()

  for (const [name, dir] of [['after close', directory], ['crash image after sync', image]] as const) {
    const reopened = await RaftStorage.open(dir, FOUNDERS)
    t.alike(shape(logOf(reopened)).slice(1), shape(written), `${name}: the same entries`)
    t.is(reopened.term(6), 1, `${name}: term()`)
    t.is(reopened.term(12), 2)
    t.is(reopened.term(13), 3)
    t.is(reopened.lastIndex(), 13)
    const { hardState } = reopened.initialState()
    t.is(hardState.term, 3, `${name}: term survives`)
    t.is(hardState.vote, 'b', `${name}: vote survives`)
    t.ok(hardState.commit <= 13, `${name}: commit within the log`)
    await reopened.close()
  }

  const again = await RaftStorage.open(directory, FOUNDERS)
  again.setHardState({ term: 4, vote: NONE, commit: 13 })
  await again.sync()
  t.alike(await loadHardState(directory), { term: 4, vote: null, commit: 13 }, "NONE ('') is written as null")
  await again.close()
  const last = await open(t, directory)
  t.is(last.initialState().hardState.vote, NONE, 'and read back as NONE')
  t.is(last.initialState().hardState.term, 4)
})

test('a conflicting suffix replaced by append() is replaced on disk too', async (t) => {
  const directory = await t.tmp()
  const storage = await RaftStorage.open(directory, FOUNDERS)
  storage.append(entries(2, 10, 1))
  await storage.sync()
  // A new leader of term 2 overwrites 6..10 with a shorter suffix (paper §5.3).
  storage.append([entry(6, 2, 'new-6'), entry(7, 2, 'new-7')])
  storage.setHardState({ term: 2, vote: 'c', commit: 5 })
  t.is(storage.lastIndex(), 7, 'visible at once')
  await storage.sync()
  const image = crashImage(t, directory)
  await storage.close()

  for (const dir of [directory, image]) {
    const reopened = await open(t, dir)
    t.is(reopened.lastIndex(), 7, 'the old tail is gone')
    t.alike(shape(logOf(reopened).slice(1)), shape([...entries(2, 5, 1), entry(6, 2, 'new-6'), entry(7, 2, 'new-7')]))
    reopened.append([entry(8, 2, 'new-8')])
    await reopened.sync()
    t.is(reopened.term(8), 2, 'the log continues after the replaced suffix')
  }
})

test('createSnapshot + compact, then reopen: the log starts after the snapshot, commit covers it', async (t) => {
  const directory = await t.tmp()
  const storage = await RaftStorage.open(directory, FOUNDERS)
  storage.append(entries(2, 20, 1))
  storage.setHardState({ term: 1, vote: NONE, commit: 18 }) // commit alone is not written
  await storage.sync()
  storage.createSnapshot(15, CONF, Buffer.from('state@15'))
  storage.compact(10)
  t.is(storage.firstIndex(), 11, 'a tail behind the snapshot is kept in memory')
  t.exception(() => storage.term(9), CompactedError)
  await storage.sync()
  const image = crashImage(t, directory)
  await storage.close()

  for (const dir of [directory, image]) {
    const reopened = await open(t, dir)
    t.is(reopened.snapshot().metadata.index, 15)
    t.is(reopened.snapshot().metadata.term, 1)
    t.alike(reopened.snapshot().metadata.conf, CONF)
    t.is(Buffer.from(reopened.snapshot().data).toString(), 'state@15')
    t.is(reopened.firstIndex(), 16, 'starts right after the snapshot')
    t.is(reopened.lastIndex(), 20)
    t.is(reopened.term(15), 1, "the snapshot's term answers for its index")
    t.exception(() => reopened.entries(15, 16, 1000), CompactedError)
    t.alike(shape(logOf(reopened)), shape(entries(16, 20, 1)))
    t.ok(reopened.initialState().hardState.commit >= 15, 'commit >= snapshot index')
    t.alike(reopened.initialState().confState, CONF, "the snapshot's configuration")
  }
})

test('applySnapshot from a leader replaces the whole log, durable after sync (with entries in the same Ready)', async (t) => {
  const directory = await t.tmp()
  const storage = await RaftStorage.open(directory, FOUNDERS)
  storage.append(entries(2, 10, 1))
  await storage.sync()
  const snapshot: Snapshot = { metadata: { index: 50, term: 3, conf: CONF }, data: Buffer.from('state@50') }
  // One Ready: the snapshot, the entries the leader sent right after it, the new term.
  storage.applySnapshot(snapshot)
  storage.append(entries(51, 53, 3))
  storage.setHardState({ term: 3, vote: NONE, commit: 50 })
  t.is(storage.firstIndex(), 51)
  t.is(storage.lastIndex(), 53)
  await storage.sync()
  const image = crashImage(t, directory)
  storage.append(entries(54, 54, 3))
  await storage.sync()
  await storage.close()

  for (const [dir, last] of [[directory, 54], [image, 53]] as const) {
    const reopened = await open(t, dir)
    t.is(reopened.snapshot().metadata.index, 50)
    t.is(Buffer.from(reopened.snapshot().data).toString(), 'state@50')
    t.is(reopened.firstIndex(), 51, 'nothing of the old log is left')
    t.is(reopened.term(50), 3)
    t.alike(shape(logOf(reopened)), shape(entries(51, last, 3)))
    t.is(reopened.initialState().hardState.term, 3)
    t.ok(reopened.initialState().hardState.commit >= 50)
  }
})

test('applySnapshot over a longer conflicting log: the suffix past the snapshot goes too', async (t) => {
  const directory = await t.tmp()
  const storage = await RaftStorage.open(directory, FOUNDERS)
  storage.append(entries(2, 10, 1))
  await storage.sync()
  // Our entry 5 is of term 1, the leader's snapshot ends at 5 with term 2: 6..10 do not follow it.
  storage.applySnapshot({ metadata: { index: 5, term: 2, conf: CONF }, data: Buffer.from('state@5') })
  storage.append([entry(6, 2, 'leader-6')])
  storage.setHardState({ term: 2, vote: NONE, commit: 5 })
  await storage.sync()
  await storage.close()
  const reopened = await open(t, directory)
  t.is(reopened.firstIndex(), 6)
  t.alike(shape(logOf(reopened)), shape([entry(6, 2, 'leader-6')]))
})

test('a torn WAL tail reopens with the good prefix, and the log continues after it', async (t) => {
  const directory = await t.tmp()
  const storage = await RaftStorage.open(directory, FOUNDERS)
  for (const e of entries(2, 10, 1)) {
    storage.append([e]) // one write each, so the last record is a write of its own
    await storage.sync()
  }
  await storage.close()
  const segment = await lastSegment(directory)
  const { size } = await stat(segment)
  await truncate(segment, size - 7) // mid-record: entry 10's frame loses its last bytes

  const reopened = await RaftStorage.open(directory, FOUNDERS)
  t.is(reopened.lastIndex(), 9, 'the torn record is dropped')
  t.alike(shape(logOf(reopened)).slice(1), shape(entries(2, 9, 1)), 'the prefix is intact')
  reopened.append([entry(10, 1, 'rewritten-10')])
  await reopened.sync()
  await reopened.close()
  const again = await open(t, directory)
  t.alike(shape(logOf(again).slice(-1)), shape([entry(10, 1, 'rewritten-10')]))
})

test('crash images of one Ready whose writes were only partly durable open consistently', async (t) => {
  // (1) The snapshot file is durable, the WAL was not emptied yet: it still holds the old, shorter log.
  const first = await t.tmp()
  const storage = await RaftStorage.open(first, FOUNDERS)
  storage.append(entries(2, 10, 1))
  await storage.sync()
  await storage.close()
  await writeSnapshot(path.join(first, 'snapshots'), { index: 20, term: 2, conf: CONF }, Buffer.from('state@20'))
  const afterSnapshot = await RaftStorage.open(first, FOUNDERS)
  t.is(afterSnapshot.firstIndex(), 21)
  t.is(afterSnapshot.lastIndex(), 20)
  afterSnapshot.append(entries(21, 22, 2))
  await t.execution(afterSnapshot.sync(), 'the log continues after the snapshot')
  await afterSnapshot.close()
  const reopened = await open(t, first)
  t.alike(shape(logOf(reopened)), shape(entries(21, 22, 2)))

  // (2) Entries of a new term are durable, the hard state with that term is not; (3) the hard state's
  // commit is durable but the entries it covers were torn off.
  const second = await t.tmp()
  const behind = await RaftStorage.open(second, FOUNDERS)
  behind.setHardState({ term: 1, vote: 'a', commit: 1 })
  behind.append([...entries(2, 4, 1), ...entries(5, 8, 4)])
  await behind.sync()
  await behind.close() // writes term 1 / vote a / commit 1: the hard state lags the log's term 4
  const ahead = await RaftStorage.open(second, FOUNDERS)
  const hs = ahead.initialState().hardState
  t.is(hs.term, 4, 'the term is raised to the last entry term')
  t.is(hs.vote, UNKNOWN_VOTE, 'with a vote that grants nobody a second vote in it')
  ahead.setHardState({ term: 4, vote: UNKNOWN_VOTE, commit: 8 })
  ahead.setHardState({ term: 5, vote: 'b', commit: 8 }) // written: term changed
  await ahead.sync()
  await ahead.close()
  const segment = await lastSegment(second)
  const { size } = await stat(segment)
  await truncate(segment, size - 3)
  const torn = await open(t, second)
  t.is(torn.lastIndex(), 7)
  t.is(torn.initialState().hardState.commit, 7, 'commit is clamped to the surviving log')
  t.is(torn.initialState().hardState.term, 5)
})

// ---- a single-voter RaftNode over RaftStorage, driven by a tick timer as replicated-metadata.ts does

const ALONE: Transport = { send () {}, onMessage () {} }

interface Running {
  node: RaftNode
  storage: RaftStorage
  machine: KvStateMachine
  timer: NodeJS.Timeout
}

async function startNode (directory: string, seed: number, applyBeforeDurableWhenAlone = false): Promise<Running> {
  const storage = await RaftStorage.open(directory, ['solo'])
  const machine = new KvStateMachine()
  const node = new RaftNode({
    raft: { id: 'solo', electionTicks: 10, heartbeatTicks: 1 },
    storage,
    rng: new Rng(seed),
    transport: ALONE,
    stateMachine: machine,
    waitTicksMax: 500,
    retryTicks: 10,
    snapshotEntries: 40, // several snapshots + compactions per test
    keepEntries: 8,
    applyBeforeDurableWhenAlone
  })
  const timer = setInterval(() => node.tick(), 5)
  node.raw.campaign()
  node.process()
  // A proposal that commits after the restart proves everything before it is applied too.
  await node.propose(encodeJson({ op: 'put', key: 'start', value: String(seed) }), `start-${seed}`)
  return { node, storage, machine, timer }
}

async function put (running: Running, key: string, value: string): Promise<void> {
  const result = decodeJson<{ ok: boolean }>(await running.node.propose(encodeJson({ op: 'put', key, value }), `put-${key}-${value}`))
  if (!result.ok) throw new Error('put failed')
}

function userData (machine: KvStateMachine): Array<[string, string]> {
  return [...machine.data].filter(([key]) => key !== 'start').sort(([a], [b]) => (a < b ? -1 : 1))
}

test('a single-voter RaftNode commits proposals and reaches the same state after close + reopen', async (t) => {
  const directory = await t.tmp()
  const first = await startNode(directory, 1)
  for (let round = 0; round < 5; round++) {
    await Promise.all(Array.from({ length: 30 }, async (_, i) => await put(first, `k${i}`, `v${round}`)))
  }
  await put(first, 'last', 'yes')
  const expected = userData(first.machine)
  t.is(expected.length, 31)
  t.ok(first.storage.stats().snapshotIndex > 0, 'snapshots were taken and the log compacted')
  const status = first.node.status()
  clearInterval(first.timer)
  first.node.stop()
  await first.storage.close()

  const second = await startNode(directory, 2)
  t.teardown(async () => { clearInterval(second.timer); second.node.stop(); await second.storage.close() })
  t.alike(userData(second.machine), expected, 'the same state after reopen')
  t.ok(second.node.status().term > status.term, 'a new term')
  t.ok(second.node.status().applied > status.applied, 'and the log continues')
  await put(second, 'after', 'restart')
  t.is(second.machine.read('after'), 'restart')
})

test('crash: everything acknowledged survives, whether the process dies or the disk image is cut mid-load', async (t) => {
  const directory = await t.tmp()
  const first = await startNode(directory, 3)
  const acknowledged = new Map<string, string>()
  let image: { directory: string, acknowledged: Map<string, string> } | null = null
  let sequence = 0
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; i < 40; i++) {
      const key = `w${w}-${i % 7}`
      const value = `${++sequence}`
      await put(first, key, value)
      acknowledged.set(key, value) // later puts to a key are acknowledged later (one writer per key)
      // A crash image mid-load, taken synchronously right after an acknowledgement: Readies are in flight.
      if (image === null && acknowledged.size >= 40 && sequence > 300) image = { directory: crashImage(t, directory), acknowledged: new Map(acknowledged) }
    }
  }
  await Promise.all(Array.from({ length: 16 }, async (_, w) => await writer(w)))
  t.ok(image !== null, 'an image was taken mid-load')
  const expected = new Map(acknowledged)
  // The process "dies": no close(), no final hard-state write; only I/O already under way finishes.
  clearInterval(first.timer)
  first.node.stop()
  await new Promise((resolve) => setTimeout(resolve, 100))

  const restarted = await startNode(directory, 4)
  t.teardown(async () => {
    clearInterval(restarted.timer)
    restarted.node.stop()
    await restarted.storage.close()
    await first.storage.close() // only now (its file handles stayed open, as a dead process's would not)
  })
  const missing = [...expected].filter(([key, value]) => restarted.machine.read(key) !== value)
  t.alike(missing, [], `all ${expected.size} acknowledged keys hold their last acknowledged value after the crash`)

  const cut = image as { directory: string, acknowledged: Map<string, string> } | null
  if (cut === null) return
  const fromImage = await startNode(cut.directory, 5)
  t.teardown(async () => { clearInterval(fromImage.timer); fromImage.node.stop(); await fromImage.storage.close() })
  // A value acknowledged before the image may have been overwritten by a later (unacknowledged at the
  // time) put that was already durable: accept any value at least as new as the acknowledged one.
  const lost = [...cut.acknowledged].filter(([key, value]) => Number(fromImage.machine.read(key) ?? -1) < Number(value))
  t.alike(lost, [], `all ${cut.acknowledged.size} keys acknowledged before the image are in it`)
})

test('alone, entries are answered once appended; durable() covers them; a crash keeps a prefix with all of them', async (t) => {
  const directory = await t.tmp()
  const first = await startNode(directory, 7, true)
  let answeredAhead = 0
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; i < 40; i++) {
      await put(first, `w${w}`, String(i))
      // Answered before its commit: the state machine is ahead of the committed (durable) index.
      if (first.node.status().applied < first.storage.lastIndex()) answeredAhead++
    }
  })
  await Promise.all(writers)
  await first.node.durable()
  t.ok(answeredAhead > 0, `${answeredAhead} answers came before their entries were durable`)
  t.ok(first.node.status().applied >= first.storage.lastIndex() - 1, 'durable() waited for the commit of everything answered')
  t.ok(first.storage.stats().snapshotIndex > 0, 'snapshots still happen (at committed indexes)')
  const expected = userData(first.machine)
  // The process dies right after durable(): no close().
  clearInterval(first.timer)
  first.node.stop()
  await new Promise((resolve) => setTimeout(resolve, 50))
  const restarted = await startNode(directory, 8, true)
  t.teardown(async () => { clearInterval(restarted.timer); restarted.node.stop(); await restarted.storage.close(); await first.storage.close() })
  t.alike(userData(restarted.machine), expected, 'everything covered by durable() survived the crash')
})
