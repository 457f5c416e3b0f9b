// One test per claim of the Raft paper (Ongaro & Ousterhout 2014) and, where swarmfs relies on it,
// the thesis (Ongaro 2014), named by section. Method: real RawNodes over MemoryStorage on the
// synchronous Net (net.ts), driven only through the public API (campaign, tick, step, propose,
// proposeConfChange, transferLeader, readIndex, ready/advance); the checks read status and the
// messages on the wire.
import test from 'brittle'
import { Net, text } from './net.js'
import { MemoryStorage } from '../../../metadata/raft/memory-storage.js'
import { RawNode } from '../../../metadata/raft/raw-node.js'
import { Rng } from '../../../metadata/raft/rng.js'
import { RaftError } from '../../../metadata/raft/errors.js'
import { ConfChangeType, EntryType, MessageType, makeMessage } from '../../../metadata/raft/messages.js'
import type { Entry, Message } from '../../../metadata/raft/messages.js'

const ELECTION = 10

function votesTo (net: Net, type: MessageType): Message[] {
  return net.trace.filter((m) => m.type === type)
}

test('5.2 a follower that hears nothing starts an election: new term, votes for itself, asks every voter', (t) => {
  const net = new Net(['a', 'b', 'c'], { preVote: false })
  net.isolate('a')
  net.tick('a', 2 * ELECTION)
  net.deliver()
  const a = net.raft('a')
  t.is(a.role, 'candidate')
  t.is(a.term, 2)
  t.is(a.vote, 'a')
  const requests = votesTo(net, MessageType.Vote)
  t.alike(requests.map((m) => m.to).sort(), ['b', 'c'])
  t.ok(requests.every((m) => m.term === 2 && m.index === 1 && m.logTerm === 1), 'the request carries the last log position')
})

test('5.2 a candidate with votes from a majority becomes leader and asserts itself', (t) => {
  const net = new Net(['a', 'b', 'c'], { preVote: false })
  net.campaign('a')
  t.is(net.raft('a').role, 'leader')
  t.is(net.raft('b').lead, 'a')
  t.is(net.raft('c').lead, 'a')
  t.is(net.raft('b').term, 2)
  t.ok(votesTo(net, MessageType.App).some((m) => m.from === 'a'), 'the new leader sends AppendEntries at once')
})

test('5.2 a server votes for at most one candidate per term, first come first served', (t) => {
  const net = new Net(['a', 'b', 'c'], { preVote: false, checkQuorum: false })
  const b = net.get('b').raw
  b.step(makeMessage({ type: MessageType.Vote, from: 'a', to: 'b', term: 2, index: 1, logTerm: 1 }))
  b.step(makeMessage({ type: MessageType.Vote, from: 'c', to: 'b', term: 2, index: 1, logTerm: 1 }))
  const rd = b.ready()
  t.is(rd.messages.length, 0, 'vote replies never leave before the vote is persisted')
  t.alike(rd.messagesAfterPersist.map((m) => [m.to, m.reject]), [['a', false], ['c', true]])
  t.is(rd.hardState?.vote, 'a')
  t.ok(rd.mustSync)
  b.advance(rd)
})

test('5.2 a candidate that hears from a leader of its term returns to follower', (t) => {
  const net = new Net(['a', 'b', 'c'], { preVote: false })
  net.isolate('a')
  net.tick('a', 2 * ELECTION)
  net.deliver()
  t.is(net.raft('a').role, 'candidate')
  net.get('a').raw.step(makeMessage({ type: MessageType.App, from: 'b', to: 'a', term: 2, index: 1, logTerm: 1, commit: 1 }))
  t.is(net.raft('a').role, 'follower')
  t.is(net.raft('a').lead, 'b')
})

test('5.2 election timeouts are randomized in [election, 2·election − 1] and reproducible from the seed', (t) => {
  const seen = new Set<number>()
  const timeouts = (seed: number): number[] => {
    const raw = new RawNode({ id: 'a', storage: MemoryStorage.bootstrap(['a', 'b', 'c']), rng: new Rng(seed), electionTicks: ELECTION })
    const out: number[] = []
    for (let i = 0; i < 50; i++) {
      raw.raft.becomeFollower(raw.raft.term + 1, '')
      out.push(raw.raft.randomizedElectionTimeout)
    }
    return out
  }
  for (let seed = 0; seed < 20; seed++) for (const v of timeouts(seed)) seen.add(v)
  t.ok([...seen].every((v) => v >= ELECTION && v <= 2 * ELECTION - 1), 'within range')
  t.is(seen.size, ELECTION, 'every value of the range occurs')
  t.alike(timeouts(7), timeouts(7), 'same seed, same timeouts')
})

test('5.2 ticking alone elects exactly one leader (split votes resolve)', (t) => {
  const net = new Net(['a', 'b', 'c', 'd', 'e'])
  for (let i = 0; i < 10 * ELECTION && net.leaders().length === 0; i++) net.tickAll()
  t.is(net.leaders().length, 1)
})

test('5.3 an entry is committed once a majority stores it, then applied everywhere; a lagging follower catches up', (t) => {
  const net = new Net(['a', 'b', 'c'])
  net.campaign('a')
  net.propose('a', 'x')
  for (const id of ['a', 'b', 'c']) t.alike(net.appliedText(id), ['x'], `${id} applied x`)
  net.isolate('c')
  net.propose('a', 'y')
  t.alike(net.appliedText('a'), ['x', 'y'], 'a and b are a majority')
  t.alike(net.appliedText('c'), ['x'])
  net.recover()
  net.tickAll(2)
  t.alike(net.appliedText('c'), ['x', 'y'], 'c caught up')
})

test('5.3 the consistency check: a follower rejects an append whose previous entry it lacks, with a hint', (t) => {
  const net = new Net(['a', 'b', 'c'])
  const b = net.get('b').raw
  b.step(makeMessage({ type: MessageType.App, from: 'a', to: 'b', term: 2, index: 5, logTerm: 2, entries: [{ term: 2, index: 6, type: EntryType.Normal, data: text('z') }] }))
  const rd = b.ready()
  const reply = rd.messagesAfterPersist.find((m) => m.type === MessageType.AppResp)
  t.ok(reply?.reject, 'rejected')
  t.is(reply?.rejectHint, 1, 'hint: our last index')
  t.is(b.raft.log.lastIndex(), 1, 'nothing appended')
  b.advance(rd)
})

test('5.3 a new leader overwrites a follower\'s conflicting uncommitted suffix (fast backoff)', (t) => {
  const net = new Net(['a', 'b', 'c'], { checkQuorum: false })
  net.campaign('a')
  net.isolate('a')
  for (const s of ['lost1', 'lost2', 'lost3']) net.get('a').raw.propose(text(s))
  net.deliver()
  net.campaign('b')
  net.propose('b', 'kept')
  net.recover()
  net.tickAll(3)
  const a = net.raft('a')
  const b = net.raft('b')
  t.is(a.role, 'follower')
  t.is(a.log.lastIndex(), b.log.lastIndex())
  for (let i = 1; i <= b.log.lastIndex(); i++) t.is(a.log.term(i), b.log.term(i), `entry ${i} matches`)
  t.alike(net.appliedText('a'), ['kept'], 'the unreplicated entries were never applied')
})

test('5.4.1 a voter denies its vote to a candidate whose log is less up-to-date', (t) => {
  const net = new Net(['a', 'b', 'c'], { preVote: false, checkQuorum: false })
  net.campaign('a')
  net.isolate('c')
  net.propose('a', 'x')
  net.recover()
  net.onSend = (m) => m.type !== MessageType.App && m.type !== MessageType.Heartbeat // keep c behind
  net.campaign('c')
  t.not(net.raft('c').role, 'leader')
  const replies = votesTo(net, MessageType.VoteResp).filter((m) => m.to === 'c')
  t.ok(replies.length === 2 && replies.every((m) => m.reject), 'both denied')
})

test('5.4.2 figure 8: a leader does not commit an entry of an earlier term by counting replicas', (t) => {
  const net = new Net(['a', 'b', 'c'], { preVote: false, checkQuorum: false, appendBytesMax: 1 })
  for (const [i, id] of ['a', 'b', 'c'].entries()) {
    const storage = MemoryStorage.bootstrap(['a', 'b', 'c'])
    const entries: Entry[] = [{ term: 2, index: 2, type: EntryType.Empty, data: new Uint8Array(0) }]
    if (id === 'a') entries.push({ term: 2, index: 3, type: EntryType.Normal, data: text('old') })
    storage.append(entries)
    storage.setHardState({ term: 2, vote: '', commit: 2 })
    storage.sync()
    net.add(id, storage, 10 + i)
  }
  // Only index 3 (term 2) may reach the followers: the new leader's term-3 no-op is held back.
  net.onSend = (m) => {
    if (m.type === MessageType.App) m.entries = m.entries.filter((e) => e.index < 4)
    return true
  }
  net.campaign('a')
  net.tickAll(2)
  const a = net.raft('a')
  t.is(a.role, 'leader')
  t.is(a.term, 3)
  t.ok((a.progress.get('b')?.match ?? 0) >= 3 && (a.progress.get('a')?.match ?? 0) >= 3, 'a majority stores entry 3')
  t.is(a.log.committed, 2, 'but entry 3 (term 2) is not committed by counting')
  net.onSend = null
  net.tickAll(2)
  t.is(a.log.committed, 4, 'committing the term-3 entry commits entry 3 too')
  t.alike(net.appliedText('b'), ['old'])
})

test('5.4 leader completeness: a newly elected leader holds every committed entry', (t) => {
  const net = new Net(['a', 'b', 'c', 'd', 'e'])
  net.campaign('a')
  for (const s of ['p', 'q', 'r']) net.propose('a', s)
  const committed = net.raft('a').log.committed
  net.isolate('a')
  for (let i = 0; i < 20 * ELECTION && net.leaders().filter((id) => id !== 'a').length === 0; i++) net.tickAll()
  const next = net.leaders().find((id) => id !== 'a')
  t.ok(next !== undefined, 'another leader was elected')
  const leader = net.raft(next as string)
  for (let i = 1; i <= committed; i++) t.is(leader.log.term(i), net.raft('a').log.term(i), `committed entry ${i} present`)
})

test('6 membership: add a learner, promote it, remove a voter; each takes effect when appended (thesis §4.1)', (t) => {
  const net = new Net(['a', 'b', 'c'])
  net.campaign('a')
  net.add('d', new MemoryStorage(), 99)
  const a = net.get('a').raw
  a.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 'd' })
  t.alike(a.status().conf.learners, ['d'], 'in force on the leader as soon as appended')
  t.ok(a.status().commit < a.status().lastIndex, 'before it commits')
  net.deliver()
  net.propose('a', 'x')
  t.alike(net.appliedText('d'), ['x'], 'the learner receives the log')
  t.is(net.raft('d').promotable(), false, 'a learner never campaigns')
  a.proposeConfChange({ type: ConfChangeType.Promote, nodeId: 'd' })
  net.deliver()
  t.alike(net.raft('d').conf().voters, ['a', 'b', 'c', 'd'])
  a.proposeConfChange({ type: ConfChangeType.Remove, nodeId: 'c' })
  net.deliver()
  t.alike(a.status().conf.voters, ['a', 'b', 'd'])
  net.isolate('c')
  net.propose('a', 'y')
  t.alike(net.appliedText('d'), ['x', 'y'], 'commits without the removed voter')
})

test('6 one change at a time: a second change is refused while the first is uncommitted', (t) => {
  const net = new Net(['a', 'b', 'c'])
  net.campaign('a')
  net.isolate('a')
  const a = net.get('a').raw
  a.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 'd' })
  t.exception(() => a.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 'e' }), /CONF_CHANGE_PENDING/)
  t.exception(() => net.get('b').raw.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 'e' }), RaftError, 'only the leader')
  t.exception(() => a.proposeConfChange({ type: ConfChangeType.Remove, nodeId: 'a' }), /CONF_CHANGE_PENDING|INVALID/)
})

test('6 an appended but uncommitted configuration is rolled back when its entry is overwritten', (t) => {
  const net = new Net(['a', 'b', 'c'], { checkQuorum: false })
  net.campaign('a')
  net.cut('a', 'c')
  net.onSend = (m) => !(m.from === 'a' && m.to === 'b' && m.type === MessageType.App && m.entries.some((e) => e.type === EntryType.ConfChange))
  net.get('a').raw.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 'd' })
  net.deliver()
  t.alike(net.raft('a').conf().learners, ['d'])
  net.isolate('a')
  net.onSend = null
  net.campaign('b')
  net.propose('b', 'x')
  net.recover()
  net.tickAll(3)
  t.alike(net.raft('a').conf().learners, [], 'a adopted the new leader\'s log and its configuration')
})

test('7 a compacted leader brings a lagging follower up with a chunked snapshot while heartbeats continue', (t) => {
  const net = new Net(['a', 'b', 'c'], { snapshotChunkBytes: 8, snapshotWindowChunks: 2 })
  net.campaign('a')
  net.isolate('c')
  for (let i = 0; i < 10; i++) net.propose('a', `e${i}`)
  const leader = net.get('a')
  const applied = leader.raw.status().applied
  const state = text('snapshot-of-the-state-machine-'.repeat(4))
  leader.storage.createSnapshot(applied, leader.raw.raft.configs.at(applied), state)
  leader.storage.compact(applied)
  leader.raw.onCompacted(applied)
  net.recover()
  net.trace.length = 0
  // Stall the transfer after two chunks: heartbeats must keep flowing to c, and c keeps its leader.
  net.onSend = (m) => !(m.type === MessageType.Snap && (m.snapshot?.offset ?? 0) >= 16)
  net.tickAll(3)
  t.is(leader.raw.status().progress.get('c')?.state, 'snapshot', 'transfer in progress')
  const firstSnap = net.trace.findIndex((m) => m.type === MessageType.Snap)
  t.ok(net.trace.slice(firstSnap).some((m) => m.type === MessageType.HeartbeatResp && m.from === 'c'), 'heartbeats flow during the transfer')
  t.is(net.raft('c').lead, 'a')
  // Lose every third chunk from now on: the leader rewinds to the acknowledged offset.
  let chunks = 0
  net.onSend = (m) => !(m.type === MessageType.Snap && ++chunks % 3 === 0)
  net.tickAll(40)
  const c = net.raft('c')
  t.is(c.log.committed, leader.raw.status().commit, 'c caught up')
  t.alike(net.get('c').storage.snapshot().data, state, 'c installed the snapshot')
  const snaps = net.trace.map((m, i) => [m, i] as const).filter(([m]) => m.type === MessageType.Snap && m.to === 'c')
  t.ok(snaps.length >= Math.ceil(state.byteLength / 8), 'sent in chunks')
  t.ok(snaps.every(([m]) => (m.snapshot?.data.byteLength ?? 0) <= 8), 'bounded chunks')
  net.onSend = null
  net.propose('a', 'after')
  t.ok(net.appliedText('c').includes('after'), 'replication resumes from the log')
})

test('9.6 pre-vote: a partitioned server that rejoins does not disrupt the leader', (t) => {
  const net = new Net(['a', 'b', 'c'])
  net.campaign('a')
  net.isolate('c')
  net.tick('c', 10 * ELECTION)
  net.deliver()
  t.is(net.raft('c').term, 2, 'pre-vote never bumps the term in isolation')
  net.recover()
  net.tickAll(3)
  t.is(net.raft('a').role, 'leader')
  t.is(net.raft('a').term, 2)
})

test('6.2 check quorum: a leader that cannot reach a majority steps down (within two election timeouts)', (t) => {
  const net = new Net(['a', 'b', 'c'])
  net.campaign('a')
  net.isolate('a')
  net.tick('a', ELECTION)
  t.is(net.raft('a').role, 'leader', 'it heard from them during the last timeout')
  net.tick('a', ELECTION)
  t.is(net.raft('a').role, 'follower')
})

test('4.2.3 a server that heard from its leader recently ignores vote requests (lease)', (t) => {
  const net = new Net(['a', 'b', 'c'], { preVote: false })
  net.campaign('a')
  const b = net.get('b').raw
  b.step(makeMessage({ type: MessageType.Vote, from: 'c', to: 'b', term: 5, index: 10, logTerm: 5 }))
  t.is(b.raft.term, 2, 'term unchanged')
  t.is(b.raft.lead, 'a')
})

test('3.10 leadership transfer: the target is caught up, sent TimeoutNow, and wins at once', (t) => {
  const net = new Net(['a', 'b', 'c'])
  net.campaign('a')
  net.propose('a', 'x')
  net.get('a').raw.transferLeader('b')
  net.deliver()
  t.is(net.raft('b').role, 'leader')
  t.is(net.raft('b').term, 3)
  t.ok(votesTo(net, MessageType.TimeoutNow).length === 1)
  t.is(net.raft('a').lead, 'b')
})

test('3.10 proposals are refused while a transfer is in progress', (t) => {
  const net = new Net(['a', 'b', 'c'])
  net.campaign('a')
  net.isolate('b')
  net.get('a').raw.transferLeader('b')
  t.exception(() => net.get('a').raw.propose(text('y')), /PROPOSAL_DROPPED/)
})

test('6.4 ReadIndex: the leader answers after a heartbeat round; followers forward; an isolated leader cannot', (t) => {
  const net = new Net(['a', 'b', 'c'])
  net.campaign('a')
  net.propose('a', 'x')
  const commit = net.raft('a').log.committed
  net.get('a').raw.readIndex(text('r1'))
  net.deliver()
  t.alike(net.get('a').readStates.map((r) => r.index), [commit])
  net.get('b').raw.readIndex(text('r2'))
  net.deliver()
  t.alike(net.get('b').readStates.map((r) => [r.index, new TextDecoder().decode(r.context)]), [[commit, 'r2']])
  net.isolate('a')
  net.get('a').raw.readIndex(text('r3'))
  net.deliver()
  t.is(net.get('a').readStates.length, 1, 'no confirmation without a quorum')
})

test('3.8 durability: replies that promise persisted state leave only after the Ready is persisted', (t) => {
  const net = new Net(['a', 'b', 'c'])
  net.campaign('a')
  const a = net.get('a').raw
  a.propose(text('x'))
  const rdA = a.ready()
  t.ok(rdA.messages.some((m) => m.type === MessageType.App), 'the leader may send appends before its own fsync (thesis §10.2.1)')
  t.ok(rdA.mustSync)
  const b = net.get('b').raw
  for (const m of rdA.messages.filter((m) => m.to === 'b')) b.step(m)
  const rdB = b.ready()
  t.ok(rdB.mustSync && rdB.entries.length === 1)
  t.ok(rdB.messages.every((m) => m.type !== MessageType.AppResp), 'no append reply before persistence')
  t.ok(rdB.messagesAfterPersist.some((m) => m.type === MessageType.AppResp && !m.reject))
  b.advance(rdB)
  a.advance(rdA)
})
