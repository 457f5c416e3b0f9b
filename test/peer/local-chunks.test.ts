// Proves how a peer keeps the copies other peers replicate to it: a held copy survives collection while
// its writer may still commit it; once a file came to reference it and is gone again, the hold is over
// and the copy is deleted at once (not minutes later, keeping a full disk full); a copy that some file
// already referenced when it was held keeps its hold (that writer's own commit may still be coming), and
// a repair or rebalance copy stays held until the metadata lists this peer for it; holds end when their
// time is up, all under one timer.
import { createHook } from 'node:async_hooks'
import test from 'brittle'
import type { Test } from 'brittle'
import { randomBytes } from '../../native/crypto.js'
import type { FsState } from '../../metadata/fs/state.js'
import { chunkIdOf, chunkIdToHex } from '../../peer/chunks/chunk-id.js'
import { sealChunk } from '../../peer/chunks/sealed-chunk.js'
import { LocalChunks } from '../../peer/local-chunks.js'
import { newKeys, tempDir } from './chunks/fixtures.js'

const HOLD_MS = 60_000

/** A LocalChunks over a temporary directory whose state knows only the chunk references the test sets. */
async function openLocal (t: Test): Promise<{ keys: ReturnType<typeof newKeys>, references: Map<string, number>, local: LocalChunks }> {
  const keys = newKeys()
  const references = new Map<string, number>()
  const state = { chunkReferences: references } as unknown as FsState
  const local = await LocalChunks.open({
    directory: await tempDir(t), encryptionKey: Buffer.from(keys.encryptionKey), idKey: Buffer.from(keys.idKey), cacheBytesMax: 1024 * 1024
  }, () => state)
  t.teardown(async () => await local.close(), { order: -1 })
  return { keys, references, local }
}

async function settled (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setTimeout(resolve, 50))
}

test('a held copy goes once the file that referenced it is gone; one referenced when held stays held', async (t) => {
  const { keys, references, local } = await openLocal(t)
  const replicate = async (): Promise<{ id: Buffer, hex: string }> => {
    const plaintext = randomBytes(10_000)
    const id = chunkIdOf(plaintext, keys.idKey)
    local.hold(id, HOLD_MS)
    await local.store.putSealed(id, sealChunk(plaintext, id, keys.encryptionKey))
    return { id, hex: chunkIdToHex(id) }
  }

  const fresh = await replicate()
  local.collectUnreferenced().catch(() => {})
  await settled()
  t.ok(await local.store.has(fresh.id), 'held: not collected before its commit lands')
  references.set(fresh.hex, 1) // the writer's commit
  references.delete(fresh.hex) // and the file is deleted again before anything released the hold
  local.collect([fresh.hex])
  await settled()
  t.absent(await local.store.has(fresh.id), 'freed after its commit: deleted at once')

  const plaintext = randomBytes(10_000)
  const dedupe = chunkIdOf(plaintext, keys.idKey)
  references.set(chunkIdToHex(dedupe), 1) // referenced by an existing file when another writer sends it
  local.hold(dedupe, HOLD_MS)
  await local.store.putSealed(dedupe, sealChunk(plaintext, dedupe, keys.encryptionKey))
  references.delete(chunkIdToHex(dedupe))
  local.collect([chunkIdToHex(dedupe)])
  await settled()
  t.ok(await local.store.has(dedupe), 'a copy referenced when it was held keeps its hold: its own writer may still commit it')
})

test('a repair or rebalance copy stays held until the metadata lists this peer for it', async (t) => {
  const { keys, references, local } = await openLocal(t)
  const plaintext = randomBytes(10_000)
  const id = chunkIdOf(plaintext, keys.idKey)
  const hex = chunkIdToHex(id)
  references.set(hex, 1) // an existing file's chunk, copied here by repair or rebalance
  local.hold(id, HOLD_MS)
  await local.store.putSealed(id, sealChunk(plaintext, id, keys.encryptionKey))
  let listed = false
  local.releaseCommittedHolds(() => listed)
  t.ok(local.isPinned(hex), 'not yet listed here: still held (the keeper must not take it for surplus)')
  t.absent(await local.dropCopy(id), 'so it cannot be dropped')
  listed = true
  local.releaseCommittedHolds(() => listed)
  t.absent(local.isPinned(hex), 'listed: the hold is over')

  const fresh = randomBytes(10_000)
  const freshId = chunkIdOf(fresh, keys.idKey)
  local.hold(freshId, HOLD_MS)
  await local.store.putSealed(freshId, sealChunk(fresh, freshId, keys.encryptionKey))
  references.set(chunkIdToHex(freshId), 1) // the writer's commit
  local.releaseCommittedHolds(() => false)
  t.absent(local.isPinned(chunkIdToHex(freshId)), 'a new chunk is released by its commit, listed here or not (the writer recorded who stored it)')
})

test('holds end when their time is up, all under one timer', async (t) => {
  const { keys, local } = await openLocal(t)
  const ids = Array.from({ length: 200 }, () => chunkIdOf(randomBytes(100), keys.idKey))
  let timers = 0
  const counter = createHook({ init (_id, type) { if (type === 'Timeout') timers++ } }).enable()
  for (const id of ids) local.hold(id, HOLD_MS)
  counter.disable()
  t.ok(timers <= 1, `200 holds set ${timers} timers`)
  const short = chunkIdOf(randomBytes(100), keys.idKey)
  local.hold(short, 100) // ends before the others: the sweep is moved up
  t.ok(local.isPinned(chunkIdToHex(short)), 'held')
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.absent(local.isPinned(chunkIdToHex(short)), 'its time is up: no longer held')
  t.ok(ids.every((id) => local.isPinned(chunkIdToHex(id))), 'the longer holds go on')
  local.hold(ids[0]!, 100) // renewed with a shorter time: it ends then
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.absent(local.isPinned(chunkIdToHex(ids[0]!)), 'a renewed hold ends at its new time')
  t.ok(local.isPinned(chunkIdToHex(ids[1]!)))
})
