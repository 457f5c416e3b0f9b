// The replicated metadata of one peer on its real WAL and snapshot files: a snapshot of a state big
// enough to take many steps is taken while proposals keep coming (the event loop stays free between
// steps), and a restart from it and the log after it restores exactly the state that was left.
import test from 'brittle'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { ROOT_ID, S_IFDIR, S_IFREG } from '../../metadata/fs/inode.js'
import { SNAPSHOT_PIECE_ITEMS, encodeSnapshot } from '../../metadata/fs/snapshot.js'
import { ReplicatedMetadata } from '../../metadata/replicated-metadata.js'

const PEER = 'a'.repeat(64)

test('replicated metadata: a snapshot is taken in steps while proposals go on; a restart restores the state', async (t) => {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'swarmfs-metadata-test-'))
  t.teardown(async () => { await rm(directory, { recursive: true, force: true }) })
  const open = async (): Promise<ReplicatedMetadata> => await ReplicatedMetadata.open({ directory, peerId: PEER, founder: true, rootTimeNs: 1n })
  let metadata = await open()
  const parent = (await metadata.propose({ type: 'mkdir', parent: ROOT_ID, name: 'd', mode: S_IFDIR | 0o755, uid: 0, gid: 0, nowNs: 2n })).fileId!
  const create = async (name: string): Promise<void> => {
    const { errno, fileId } = await metadata.propose({ type: 'create', parent, name, mode: S_IFREG | 0o644, rdev: 0, uid: 0, gid: 0, nowNs: 3n })
    if (errno !== 0) throw new Error(`create failed: ${errno}`)
    const ref = { id: randomBytes(32), length: 100, holders: [PEER] }
    await metadata.propose({ type: 'commitChunks', fileId: fileId!, size: 100, updates: [{ index: 0, ref }], mtimeNs: 4n, attributes: {}, nowNs: 4n })
  }
  // A timer that runs while the snapshot is being taken (the loop is free between its steps) creates a
  // file then: it commits, and is applied once the snapshot, which must not contain it, is taken.
  let timerRunsWhilePending = 0
  let late: Promise<void> | null = null
  let lateVisibleWhilePending = false
  const timer = setInterval(() => {
    if (!metadata.node.snapshotPending()) return
    timerRunsWhilePending++
    late ??= create('late')
    if (metadata.state.entries.get(parent)?.has('late') === true) lateVisibleWhilePending = true
  }, 1)
  t.teardown(() => { clearInterval(timer) })
  let created = 0
  while (metadata.status().storage.snapshotIndex === 0) { // the first comes after 10,000–100,000 entries
    await new Promise((resolve) => setImmediate(resolve)) // as a mount's requests come: each in its own turn
    await Promise.all(Array.from({ length: 16 }, async () => { await create(`f${created++}`) }))
    if (created > 100_000) throw new Error('no snapshot was taken')
  }
  t.ok(created >= SNAPSHOT_PIECE_ITEMS, `${created} files before the snapshot`)
  t.ok(timerRunsWhilePending > 0, `timers ran while it was being taken (${timerRunsWhilePending} times)`)
  t.ok(late !== null, 'a file was created meanwhile')
  await late
  t.absent(lateVisibleWhilePending, 'it was applied only after the snapshot was taken')
  t.ok(metadata.state.entries.get(parent)?.has('late'), 'and then it was')
  created++
  const snapshotIndex = metadata.status().storage.snapshotIndex
  t.ok(snapshotIndex >= 10_000, `snapshot at entry ${snapshotIndex}`)
  while (metadata.node.snapshotPending()) await new Promise((resolve) => setTimeout(resolve, 5))
  await metadata.sync()
  const before = encodeSnapshot(metadata.state)
  t.is(metadata.state.entries.get(parent)?.size, created)
  await metadata.close()

  metadata = await open()
  await metadata.caughtUp()
  t.ok(encodeSnapshot(metadata.state).equals(before), 'restarted from the snapshot and the log after it: the same state')
  t.is(metadata.state.locationCount(), created)
  await metadata.close()
})
