// The session table remembers the first result of every request id: the same bytes come back (every
// byte value, a view's bytes only, a copy the caller may change), the oldest go first at capacity, and a
// snapshot of the table decodes to the same table.
import test from 'brittle'
import c from 'compact-encoding'
import { SessionTable } from '../../../metadata/raft/sessions.js'

const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i)

test('sessions: a result comes back byte for byte, and as a copy of its own', (t) => {
  const table = new SessionTable(10)
  table.record('a', everyByte)
  t.alike(table.get('a'), everyByte, 'all 256 byte values')
  const backing = Uint8Array.from([9, 9, 1, 2, 3, 9])
  table.record('b', backing.subarray(2, 5))
  t.alike(table.get('b'), Uint8Array.from([1, 2, 3]), 'only the bytes of the view')
  table.get('b')![0] = 42
  backing[2] = 42
  t.alike(table.get('b'), Uint8Array.from([1, 2, 3]), 'changing what was given or returned changes nothing kept')
  table.record('empty', new Uint8Array(0))
  t.alike(table.get('empty'), new Uint8Array(0))
  t.is(table.get('missing'), undefined)
  t.exception(() => table.record('a', everyByte), /applies once/, 'a request id is recorded once')
})

test('sessions: the oldest go first at capacity; a snapshot decodes to the same table', (t) => {
  const table = new SessionTable(3)
  for (let i = 0; i < 5; i++) table.record(`r${i}`, Uint8Array.from([i, 0xff - i]))
  t.is(table.size(), 3)
  t.is(table.get('r0'), undefined)
  t.is(table.get('r1'), undefined)
  t.alike(table.get('r4'), Uint8Array.from([4, 0xfb]))
  const decoded = SessionTable.decode(table.encode(), 3)
  for (const id of ['r2', 'r3', 'r4']) t.alike(decoded.get(id), table.get(id), `${id} survives the snapshot`)
  decoded.record('r5', everyByte)
  t.is(decoded.get('r2'), undefined, 'and eviction order with it')
  t.exception(() => SessionTable.decode(table.encode(), 2), /count out of range/, 'a table over capacity is refused')
})

test('sessions: the snapshot format is a count, then each id as a string and its result as a buffer', (t) => {
  const results: Array<[string, Uint8Array]> = [['a/1', everyByte], ['b/2', new Uint8Array(0)], ['c/3', Uint8Array.from([0, 0x80, 0xff])]]
  const state = c.state()
  c.uint.preencode(state, results.length)
  for (const [id, result] of results) { c.string.preencode(state, id); c.buffer.preencode(state, result) }
  state.buffer = new Uint8Array(state.end)
  c.uint.encode(state, results.length)
  for (const [id, result] of results) { c.string.encode(state, id); c.buffer.encode(state, result) }
  const table = new SessionTable(10)
  for (const [id, result] of results) table.record(id, result)
  t.alike(Buffer.from(table.encode()), Buffer.from(state.buffer), 'encoded byte for byte as before')
  const decoded = SessionTable.decode(state.buffer, 10)
  for (const [id, result] of results) t.alike(decoded.get(id), result, `${id} decoded`)
})
