// The mount's side of flock(2) (mount/flock.ts) over a real FsState behind a metadata service whose
// quorum can go: without one a lock fails with ENOLCK; an unlock is never lost, proposed again until
// it commits (the kernel forgot the owner when it asked), also for a request that failed without an
// answer but committed all the same; a later lock by that owner waits for its unlock; a waiter whose
// caller got a signal ends with EINTR.
import test from 'brittle'
import { constants } from 'node:os'
import type { Command } from '../../metadata/fs/commands.js'
import { lockOwner } from '../../metadata/fs/file-locks.js'
import { ROOT_ID, S_IFREG } from '../../metadata/fs/inode.js'
import { FsState } from '../../metadata/fs/state.js'
import type { ApplyResult } from '../../metadata/fs/state.js'
import { Errno, FsError } from '../../native/errno.js'
import { SILENT_LOGGER } from '../../peer/log.js'
import { Flocks, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN } from '../../mount/flock.js'
import type { MetadataService } from '../../mount/services.js'

const E = constants.errno
const PEER = 'a'.repeat(64)
const OTHER = 'b'.repeat(64)

/** A group that applies what it commits; `quorum` off fails proposals, `commitsUnanswered` still applies them. */
class FlakyMetadata implements MetadataService {
  readonly state = new FsState(1n)
  quorum = true
  commitsUnanswered = false
  proposals = 0

  async propose (command: Command): Promise<ApplyResult> {
    this.proposals++
    if (!this.quorum) {
      if (this.commitsUnanswered) this.state.apply(command)
      throw new FsError(Errno.ETIMEDOUT, 'no quorum')
    }
    return this.state.apply(command)
  }

  async sync (): Promise<void> {}
  async refresh (): Promise<void> {}
}

function setUp (): { metadata: FlakyMetadata, flocks: Flocks, file: number } {
  const metadata = new FlakyMetadata()
  const file = metadata.state.apply({ type: 'create', parent: ROOT_ID, name: 'f', mode: S_IFREG | 0o644, rdev: 0, uid: 0, gid: 0, nowNs: 1n }).fileId!
  return { metadata, flocks: new Flocks(metadata, PEER, SILENT_LOGGER), file }
}

async function errnoOf (promise: Promise<void>): Promise<number> {
  return await promise.then(() => 0, (error: unknown) => error instanceof FsError ? error.errno : -1)
}

async function until (condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 50) {
    if (waited > 10_000) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

test('locks and unlocks; a conflict answers EWOULDBLOCK; an unlock of nothing proposes nothing', async (t) => {
  const { metadata, flocks, file } = setUp()
  t.is(await errnoOf(flocks.flock(file, LOCK_EX | LOCK_NB, '01')), 0)
  t.is(await errnoOf(flocks.flock(file, LOCK_SH | LOCK_NB, '02')), E.EWOULDBLOCK, 'another owner is refused')
  const before = metadata.proposals
  t.is(await errnoOf(flocks.flock(file, LOCK_UN, '02')), 0)
  t.is(metadata.proposals, before, 'the owner held nothing: no command')
  t.is(await errnoOf(flocks.flock(file, LOCK_UN, '01')), 0)
  t.is(metadata.state.locks.of(file).size, 0, 'dropped')
  t.is(await errnoOf(flocks.flock(file, LOCK_UN | LOCK_NB, '01')), 0, 'unlocking twice is fine')
})

test('a blocked request gets the lock once the other owner lets go', async (t) => {
  const { metadata, flocks, file } = setUp()
  metadata.state.apply({ type: 'flock', fileId: file, owner: lockOwner(OTHER, '09'), mode: 2 })
  let got = false
  const waiting = flocks.flock(file, LOCK_EX, '01').then(() => { got = true })
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.absent(got, 'still waiting')
  metadata.state.apply({ type: 'flock', fileId: file, owner: lockOwner(OTHER, '09'), mode: 0 })
  await waiting
  t.ok(metadata.state.locks.of(file).has(lockOwner(PEER, '01')), 'held')
})

test('without a quorum: a lock fails with ENOLCK; an unlock is proposed again until it commits', async (t) => {
  const { metadata, flocks, file } = setUp()
  t.is(await errnoOf(flocks.flock(file, LOCK_EX, '01')), 0)
  metadata.quorum = false
  t.is(await errnoOf(flocks.flock(file, LOCK_SH | LOCK_NB, '02')), E.ENOLCK, 'no locks available')
  t.is(await errnoOf(flocks.flock(file, LOCK_UN, '01')), 0, 'the close that drops the lock is not failed')
  t.ok(metadata.state.locks.of(file).has(lockOwner(PEER, '01')), 'not committed yet')
  t.is(await errnoOf(flocks.flock(file, LOCK_EX | LOCK_NB, '01')), E.ENOLCK, 'that owner locking again waits for its unlock')
  metadata.quorum = true
  await until(() => metadata.state.locks.of(file).size === 0)
  t.pass('the unlock committed once the quorum was back')
  t.is(await errnoOf(flocks.flock(file, LOCK_EX | LOCK_NB, '01')), 0)
  t.ok(metadata.state.locks.of(file).has(lockOwner(PEER, '01')), 'and the owner may lock again')
})

test('a lock request that failed without an answer but committed is dropped by its owner\'s unlock', async (t) => {
  const { metadata, flocks, file } = setUp()
  metadata.quorum = false
  metadata.commitsUnanswered = true
  t.is(await errnoOf(flocks.flock(file, LOCK_EX | LOCK_NB, '01')), E.ENOLCK, 'the caller was told no')
  t.ok(metadata.state.locks.of(file).has(lockOwner(PEER, '01')), 'but the command committed')
  metadata.quorum = true
  t.is(await errnoOf(flocks.flock(file, LOCK_UN, '01')), 0, 'its last close')
  t.is(metadata.state.locks.of(file).size, 0, 'dropped the lock nobody knew it held')
})

test('a waiting request whose caller got a signal ends with EINTR and takes nothing', async (t) => {
  const { metadata, flocks, file } = setUp()
  metadata.state.apply({ type: 'flock', fileId: file, owner: lockOwner(OTHER, '09'), mode: 2 })
  let signalled = false
  const waiting = errnoOf(flocks.flock(file, LOCK_EX, '01', () => signalled))
  await new Promise((resolve) => setTimeout(resolve, 100))
  signalled = true
  t.is(await waiting, E.EINTR, 'answered EINTR')
  t.absent(metadata.state.locks.of(file).has(lockOwner(PEER, '01')), 'and holds nothing')
})
