// The write path of one open file, in process: a chunk that fails to seal (a full disk, a lost peer)
// reports its error once, like Linux, but its bytes stay buffered and the next flush seals them again:
// what gets committed is always what was written, never the slot's older content or zeros. Reads of
// holes inside buffered chunks are zeros. Owner, mode and times set while a file is being written ride on
// the commit of its data, unless other peers could read committed bytes under the old owner or mode. A
// sequential reader's read-ahead is topped up a chunk at a time, never far ahead, each byte asked once.
import test from 'brittle'
import { createHash } from 'node:crypto'
import type { Command } from '../../metadata/fs/commands.js'
import { CHUNK_BYTES, ROOT_ID, S_IFREG } from '../../metadata/fs/inode.js'
import type { ChunkRef } from '../../metadata/fs/inode.js'
import { FsState } from '../../metadata/fs/state.js'
import { Errno, FsError } from '../../native/errno.js'
import { OpenFile } from '../../mount/open-file.js'
import type { ChunkService, MetadataService } from '../../mount/services.js'
import { WriteBudget } from '../../mount/write-budget.js'

const NOW = 1_700_000_000_000_000_000n

class MemoryMetadata implements MetadataService {
  readonly state = new FsState(NOW)
  readonly proposed: Command[] = []
  async propose (command: Command): Promise<ReturnType<FsState['apply']>> {
    this.proposed.push(command)
    return this.state.apply(command)
  }

  async sync (): Promise<void> {}
  async refresh (): Promise<void> {}
}

/** Chunks in memory; `failures` puts fail with ENOSPC before they start to succeed. */
class FlakyChunks implements ChunkService {
  readonly stored = new Map<string, Buffer>()
  failures = 0
  putDelayMs = 0 // how long a put takes: sealing and storing are not instant
  async put (plaintext: Buffer): Promise<ChunkRef> {
    if (this.putDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.putDelayMs))
    if (this.failures > 0) {
      this.failures--
      throw new FsError(Errno.ENOSPC, 'no room for the chunk')
    }
    const id = createHash('sha256').update(plaintext).digest()
    this.stored.set(id.toString('hex'), Buffer.from(plaintext))
    return { id, length: plaintext.length }
  }

  unpin (): void {}
  async readInto (id: Buffer, offset: number, target: Buffer): Promise<number> {
    return this.stored.get(id.toString('hex'))!.copy(target, 0, offset, offset + target.length)
  }

  async read (id: Buffer, offset: number, length: number): Promise<Buffer> {
    return this.stored.get(id.toString('hex'))!.subarray(offset, offset + length)
  }

  readonly prefetched: Array<{ key: string, offset: number, length: number }> = []
  prefetch (id: Buffer, offset: number, length: number): void {
    this.prefetched.push({ key: id.toString('hex'), offset, length })
  }

  async sync (): Promise<void> {}
  async commitReady (): Promise<void> {}
  async capacity (): Promise<{ totalBytes: number, freeBytes: number, availableBytes: number }> {
    return { totalBytes: 0, freeBytes: 0, availableBytes: 0 }
  }
}

async function fixture (): Promise<{ metadata: MemoryMetadata, chunks: FlakyChunks, file: OpenFile, budget: WriteBudget }> {
  const metadata = new MemoryMetadata()
  const created = await metadata.propose({ type: 'create', parent: ROOT_ID, name: 'f', mode: S_IFREG | 0o644, rdev: 0, uid: 0, gid: 0, nowNs: NOW })
  const chunks = new FlakyChunks()
  const budget = new WriteBudget(64 * CHUNK_BYTES)
  return { metadata, chunks, budget, file: new OpenFile(created.fileId!, metadata, chunks, budget) }
}

async function committedBytes (metadata: MemoryMetadata, chunks: FlakyChunks, fileId: number): Promise<Buffer> {
  const inode = metadata.state.get(fileId)!
  const parts = await Promise.all(inode.chunks.map(async (ref) => ref === null ? Buffer.alloc(0) : await chunks.read(ref.id, 0, ref.length)))
  return Buffer.concat(parts).subarray(0, inode.size)
}

test('a seal that fails is reported once; the bytes stay buffered and the next commit stores them', async (t) => {
  const { metadata, chunks, file, budget } = await fixture()
  const first = Buffer.alloc(1000, 1)
  await file.write(first, 0)
  chunks.failures = 1
  await t.exception(async () => await file.commit(), /no room/, 'the flush reports the failure')
  t.ok(budget.exhausted === false, 'the budget is not exhausted')
  await file.commit()
  t.alike(await committedBytes(metadata, chunks, file.fileId), first, 'the next flush commits the bytes that were written')
})

test('a full chunk failing in the background: the next write reports it, later writes keep the earlier bytes', async (t) => {
  const { metadata, chunks, file } = await fixture()
  const whole = Buffer.alloc(CHUNK_BYTES + 10, 0)
  for (let i = 0; i < whole.length; i++) whole[i] = (i * 7) & 0xff
  chunks.failures = 1
  await file.write(whole.subarray(0, CHUNK_BYTES), 0) // fills slot 0: its seal starts and fails
  await t.exception(async () => await file.write(whole.subarray(100, 200), 100), /no room/, 'a write into the failed chunk reports it')
  await file.write(whole.subarray(CHUNK_BYTES), CHUNK_BYTES)
  await file.commit()
  t.alike(await committedBytes(metadata, chunks, file.fileId), whole, 'every byte of the failed chunk is committed, none as zeros')
})

test('whole-chunk buffers are reused once their chunk is stored, and what was stored from them stays intact', async (t) => {
  const { metadata, chunks, budget } = await fixture()
  chunks.putDelayMs = 5 // a chunk seals while the next one fills, as when streaming (a 128 KiB write every 1 ms)
  const handedOut: Buffer[] = []
  const chunkBuffer = budget.chunkBuffer.bind(budget)
  budget.chunkBuffer = () => { const buffer = chunkBuffer(); handedOut.push(buffer); return buffer }
  const contents: Array<{ fileId: number, bytes: Buffer }> = []
  for (let index = 0; index < 2; index++) {
    const created = await metadata.propose({ type: 'create', parent: ROOT_ID, name: `g${index}`, mode: S_IFREG | 0o644, rdev: 0, uid: 0, gid: 0, nowNs: NOW })
    const file = new OpenFile(created.fileId!, metadata, chunks, budget)
    const bytes = Buffer.alloc(6 * CHUNK_BYTES + 5)
    for (let i = 0; i < bytes.length; i += 4096) bytes.fill((index * 31 + i / 4096) & 0xff, i, Math.min(i + 4096, bytes.length))
    for (let offset = 0; offset < bytes.length; offset += 128 * 1024) {
      await file.write(bytes.subarray(offset, offset + 128 * 1024), offset)
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    await file.commit()
    contents.push({ fileId: created.fileId!, bytes })
  }
  t.ok(handedOut.length >= 12, `every full chunk was written into a whole-chunk buffer (${handedOut.length})`)
  t.ok(new Set(handedOut).size < handedOut.length / 2, `buffers were reused (${new Set(handedOut).size} for ${handedOut.length} chunks)`)
  for (const { fileId, bytes } of contents) t.ok((await committedBytes(metadata, chunks, fileId)).equals(bytes), `file ${fileId} reads back as written`)
  t.absent(budget.exhausted, 'the budget is back')
})

test('discarding a file whose seals keep failing returns every buffered byte to the budget', async (t) => {
  const { chunks, file, budget } = await fixture()
  chunks.failures = 100
  await file.write(Buffer.alloc(1000, 3), 0)
  await t.exception(async () => await file.commit(), /no room/)
  await t.exception(async () => await file.commit(), /no room/, 'every retry fails while there is no room')
  file.discard()
  t.is((budget as unknown as { bytesUsed: number }).bytesUsed, 0, 'nothing is left taken')
})

test('salvage after a failed last commit: the file grows up to the first chunk that failed, never zeros', async (t) => {
  const { metadata, chunks, file, budget } = await fixture()
  const data = Buffer.alloc(3 * CHUNK_BYTES, 0)
  for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff
  await file.write(data.subarray(0, CHUNK_BYTES), 0) // slot 0 seals
  await file.commit()
  chunks.failures = 100
  await t.exception(async () => await file.write(data.subarray(CHUNK_BYTES), CHUNK_BYTES), /no room/, 'slot 1 fails to seal, reported to a write')
  await t.exception(async () => await file.commit(), /no room/, 'and to the commit')
  await file.salvage()
  const kept = await committedBytes(metadata, chunks, file.fileId)
  t.is(kept.length, CHUNK_BYTES, 'the file keeps what was stored: up to the chunk that failed')
  t.alike(kept, data.subarray(0, CHUNK_BYTES), 'with the bytes written, no zeros')
  t.is((budget as unknown as { bytesUsed: number }).bytesUsed, 0, 'every buffer is given back')
})

test('salvage of an overwrite inside the file: a chunk that failed keeps its committed content and the size stays', async (t) => {
  const { metadata, chunks, file } = await fixture()
  const old = Buffer.alloc(2 * CHUNK_BYTES, 1)
  await file.write(old, 0)
  await file.commit()
  chunks.failures = 1
  await file.write(Buffer.alloc(1000, 2), 10)
  await t.exception(async () => await file.commit(), /no room/)
  chunks.failures = 100
  await file.salvage()
  t.alike(await committedBytes(metadata, chunks, file.fileId), old, 'the committed content and size are untouched')
})

test('a read of a hole inside a buffered chunk, past what its buffer holds, is zeros', async (t) => {
  const { file } = await fixture()
  await file.write(Buffer.alloc(4269, 1), 2 * CHUNK_BYTES + 207) // chunk 2 buffered, chunks 0 and 1 holes
  await file.write(Buffer.alloc(96, 2), 798_002) // chunk 0 buffered up to 798,098 bytes
  const target = Buffer.alloc(5331, 9)
  t.is(await file.read(target, 3_660_704), 5331, 'a full read (this threw RangeError, answered EIO)')
  t.ok(target.equals(Buffer.alloc(5331)), 'of zeros')
  const across = Buffer.alloc(1000, 9)
  t.is(await file.read(across, 798_098 - 500), 1000)
  t.ok(across.subarray(0, 404).equals(Buffer.alloc(404)) && across.subarray(404, 500).equals(Buffer.alloc(96, 2)) && across.subarray(500).equals(Buffer.alloc(500)), 'hole, written bytes, hole')
})

test('owner, mode and times set on a new file being written ride on its commit: one command, seen here at once', async (t) => {
  const { metadata, file } = await fixture()
  const committed = metadata.state.get(file.fileId)!
  t.is(await file.stageAttributes({ mode: 0o755 }, NOW + 1n), false, 'nothing uncommitted to ride on: the caller commits')
  await file.write(Buffer.from('hello'), 0)
  const past = 946_684_799_500_000_000n
  t.ok(await file.stageAttributes({ mtimeNs: past }, NOW + 2n), 'an mtime (futimens after the writes)')
  t.ok(await file.stageAttributes({ uid: 1234, gid: 5678 }, NOW + 3n), 'the owner')
  t.ok(await file.stageAttributes({ mode: 0o4755 }, NOW + 4n), 'the mode')
  const seen = file.overlay(committed)
  t.alike([seen.mode & 0o7777, seen.uid, seen.gid, file.pendingMtimeNs, file.pendingCtimeNs], [0o4755, 1234, 5678, past, NOW + 4n], 'this peer sees them')
  t.alike([committed.mode & 0o7777, committed.uid, committed.gid], [0o644, 0, 0], 'the committed inode does not, yet')
  const before = metadata.proposed.length
  await file.commit()
  t.is(metadata.proposed.length - before, 1, 'one command commits data and attributes')
  const inode = metadata.state.get(file.fileId)!
  t.alike([inode.mode & 0o7777, inode.uid, inode.gid, inode.mtimeNs, inode.size], [0o4755, 1234, 5678, past, 5], 'all of it committed')
  t.is(file.overlay(inode), inode, 'nothing is staged any more')
})

test('a write after a staged mtime sets its own time; discard drops what was staged', async (t) => {
  const { metadata, file } = await fixture()
  await file.write(Buffer.from('a'), 0)
  t.ok(await file.stageAttributes({ mtimeNs: 5n, atimeNs: 6n }, NOW + 1n))
  await file.write(Buffer.from('b'), 1)
  t.ok(file.pendingMtimeNs! > 5n, 'the later write moved the mtime on')
  t.is(file.overlay(metadata.state.get(file.fileId)!).atimeNs, 6n, 'the atime stays staged')
  t.ok(await file.stageAttributes({ mode: 0o600 }, NOW + 2n))
  file.discard()
  t.is(file.overlay(metadata.state.get(file.fileId)!).mode & 0o7777, 0o644, 'discarded with the data')
  t.is(file.pendingCtimeNs, null)
})

test('owner and mode of a file with committed bytes are not staged: other peers must not read them under the old ones', async (t) => {
  const { metadata, file } = await fixture()
  await file.write(Buffer.from('secret'), 0)
  await file.commit()
  await file.write(Buffer.from('more'), 6)
  t.is(await file.stageAttributes({ mode: 0o600 }, NOW + 1n), false, 'a mode change is committed at once')
  t.is(await file.stageAttributes({ uid: 7 }, NOW + 1n), false, 'an owner change too')
  t.is(await file.stageAttributes({ size: 1 }, NOW + 1n), false, 'a size change is never staged')
  t.ok(await file.stageAttributes({ mtimeNs: 9n }, NOW + 1n), 'times are')
  const before = metadata.proposed.length
  await file.commit()
  t.is(metadata.proposed.length - before, 1)
  t.is(metadata.state.get(file.fileId)!.mtimeNs, 9n, 'the staged mtime is committed with the data')
})

test('read-ahead of a sequential reader: topped up a chunk at a time, at most 12 MiB ahead, every byte asked once', async (t) => {
  const { metadata, chunks, file } = await fixture()
  const size = 10 * CHUNK_BYTES + 12345
  for (let position = 0; position < size; position += CHUNK_BYTES) {
    await file.write(Buffer.alloc(Math.min(CHUNK_BYTES, size - position), position / CHUNK_BYTES), position)
  }
  await file.commit()
  const slotOf = new Map(metadata.state.get(file.fileId)!.chunks.map((ref, slot) => [ref!.id.toString('hex'), slot]))
  const asked: Array<[number, number]> = []
  let farthestAhead = 0
  let batches = 0
  const piece = Buffer.alloc(128 * 1024)
  for (let position = 0; position < size; position += piece.length) {
    const before = chunks.prefetched.length
    await file.read(piece, position)
    const batch = chunks.prefetched.slice(before).map(({ key, offset, length }): [number, number] => {
      const start = slotOf.get(key)! * CHUNK_BYTES + offset
      return [start, start + length]
    })
    if (batch.length === 0) continue
    batches++
    const batchBytes = batch.reduce((sum, [start, end]) => sum + end - start, 0)
    if (batch.at(-1)![1] < size && batchBytes < CHUNK_BYTES) t.fail(`a batch of ${batchBytes} bytes before the end of the file`)
    farthestAhead = Math.max(farthestAhead, batch.at(-1)![1] - (position + piece.length))
    asked.push(...batch)
  }
  asked.sort((a, b) => a[0] - b[0])
  t.ok(asked.every(([start], index) => index === 0 || start === asked[index - 1]![1]), 'each byte asked once, none skipped')
  t.is(asked.at(-1)![1], size, 'up to the end of the file')
  t.ok(farthestAhead <= 12 * 1024 * 1024, `at most 12 MiB ahead of the reader (${farthestAhead})`)
  t.ok(batches >= 8, `topped up step by step (${batches} batches)`)
})
