// The local state of one file that this peer has open, shared by all its handles: chunk buffers being
// written, chunks sealed and stored but not yet committed, the size and mtime the writer sees, and
// attribute changes made meanwhile. Full chunks are sealed while the next ones fill; flush/fsync/release
// seal the rest and commit the new chunk list and the staged attributes with one metadata command, once
// the chunk service says the chunks may be referenced (commitReady); fsync makes every chunk of the
// file durable on its holders first.
import { Errno, FsError } from '../native/errno.js'
import type { ChunkRef, FileId, Inode } from '../metadata/fs/inode.js'
import { CHUNK_BYTES, FILE_BYTES_MAX, setOwnerModeAtime } from '../metadata/fs/inode.js'
import type { AttributeChanges, ChunkUpdate, StagedAttributes } from '../metadata/fs/commands.js'
import { Mutex } from './mutex.js'
import type { ChunkService, MetadataService } from './services.js'
import { nowNs } from './time.js'
import type { WriteBudget } from './write-budget.js'

/** Chunk buffers one file may hold before its oldest are sealed early (random writes across a file). */
const DIRTY_CHUNKS_MAX = 4
/** Seals one file may have in flight; a writer past it waits (pipelining without unbounded memory). */
const SEALS_IN_FLIGHT_MAX = 4
/** Buffers grow in steps of this size, so a small file never allocates a whole chunk. */
const BUFFER_STEP_BYTES = 64 * 1024
/**
 * A buffer that outgrows this is being streamed into: it takes the whole chunk at once rather than
 * doubling four more times (each step a copy and a larger allocation for the collector to reclaim).
 */
const BUFFER_STREAMING_BYTES = 256 * 1024
/**
 * Sequential readers get the next bytes read ahead into the chunk cache: one large pread and a run of
 * block decryptions instead of a disk round trip per 128 KiB FUSE read, or whole chunks fetched from
 * their holders. The window is topped up whenever a step's worth is missing, so fetches from peers
 * follow one another (two or three in flight, spread over the holders) rather than going out in bursts
 * with the link idle in between.
 */
const READ_AHEAD_BYTES = 12 * 1024 * 1024
const READ_AHEAD_STEP_BYTES = CHUNK_BYTES
const READ_AHEAD_PIECE_BYTES = 1024 * 1024
/**
 * The kernel reads ahead several requests at once (native/fuse.ts), and they reach us out of order, so a
 * read this close to where the last one ended still counts as sequential. Two such reads in a row make a
 * streak: a random reader rarely lands near its previous read twice in a row.
 */
const SEQUENTIAL_SLACK_BYTES = 2 * 1024 * 1024
const SEQUENTIAL_STREAK_MIN = 2

/** Plaintext of one chunk slot being written: bytes [0, length) are the slot's content. */
interface ChunkBuffer {
  data: Buffer
  length: number
}

export class OpenFile {
  readonly fileId: FileId
  handles = 0
  private readonly metadata: MetadataService
  private readonly chunks: ChunkService
  private readonly budget: WriteBudget
  private readonly dirty = new Map<number, ChunkBuffer>()
  private readonly sealing = new Map<number, { buffer: ChunkBuffer, done: Promise<void> }>()
  private readonly sealed = new Map<number, ChunkRef>()
  private readonly mutex = new Mutex()
  /** The size as this peer's writers see it, while it differs from the committed size. */
  private localSize: number | null = null
  private localMtimeNs: bigint | null = null
  /** When this peer's writers last changed the file (a write, a staged attribute), until committed. */
  private localCtimeNs: bigint | null = null
  /** Owner, mode and atime changes to commit with the data (stageAttributes). */
  private staged: StagedAttributes = {}
  /** A failure of a background seal, reported to the next write, flush or fsync (as Linux does). */
  private error: FsError | null = null
  /** The furthest end of the current sequential streak, its length, and how far read-ahead was issued. */
  private sequentialPosition = -1
  private sequentialStreak = 0
  private readAheadEnd = 0

  constructor (fileId: FileId, metadata: MetadataService, chunks: ChunkService, budget: WriteBudget) {
    this.fileId = fileId
    this.metadata = metadata
    this.chunks = chunks
    this.budget = budget
  }

  get size (): number {
    return this.localSize ?? this.metadata.state.get(this.fileId)?.size ?? 0
  }

  /** The mtime of the last uncommitted write (or one set since), if any. */
  get pendingMtimeNs (): bigint | null {
    return this.localMtimeNs
  }

  /** The ctime of the last uncommitted change, if any. */
  get pendingCtimeNs (): bigint | null {
    return this.localCtimeNs
  }

  /** `inode` (the committed one) as this peer sees it: with the owner, mode and atime staged here. */
  overlay (inode: Inode): Inode {
    if (Object.keys(this.staged).length === 0) return inode
    const seen = { ...inode }
    setOwnerModeAtime(seen, this.staged)
    return seen
  }

  get hasUncommittedData (): boolean {
    return this.dirty.size > 0 || this.sealing.size > 0 || this.sealed.size > 0 || this.localSize !== null
  }

  async write (source: Buffer, position: number): Promise<number> {
    return await this.mutex.run(async () => await this.writeLocked(source, position))
  }

  /**
   * Writes at the end of the file as this peer knows it (O_APPEND) and returns where the bytes went. The
   * kernel would place them at the size it last fetched, which another peer's close may have moved.
   */
  async append (source: Buffer): Promise<{ written: number, position: number }> {
    return await this.mutex.run(async () => {
      const position = this.size
      return { written: await this.writeLocked(source, position), position }
    })
  }

  private async writeLocked (source: Buffer, position: number): Promise<number> {
    this.throwPendingError()
    const end = position + source.length
    if (end > FILE_BYTES_MAX) throw new FsError(Errno.EFBIG)
    for (let offset = 0; offset < source.length;) {
      const filePosition = position + offset
      const slot = Math.floor(filePosition / CHUNK_BYTES)
      const inChunk = filePosition - slot * CHUNK_BYTES
      const count = Math.min(source.length - offset, CHUNK_BYTES - inChunk)
      const buffer = await this.bufferFor(slot)
      this.ensureCapacity(buffer, inChunk + count)
      if (inChunk > buffer.length) buffer.data.fill(0, buffer.length, inChunk) // a hole inside the chunk
      source.copy(buffer.data, inChunk, offset, offset + count)
      buffer.length = Math.max(buffer.length, inChunk + count)
      this.localSize = Math.max(this.size, filePosition + count) // before sealing: the seal reads it
      if (buffer.length === CHUNK_BYTES) this.startSeal(slot)
      offset += count
    }
    this.localMtimeNs = nowNs()
    this.localCtimeNs = this.localMtimeNs
    await this.applyBackpressure()
    return source.length
  }

  /** Copies bytes at `position` into `target`; returns how many (0 at end of file). Holes read as zeros. */
  async read (target: Buffer, position: number): Promise<number> {
    const length = Math.max(0, Math.min(target.length, this.size - position))
    const reads: Array<Promise<void>> = []
    for (let offset = 0; offset < length;) {
      const filePosition = position + offset
      const slot = Math.floor(filePosition / CHUNK_BYTES)
      const inChunk = filePosition - slot * CHUNK_BYTES
      const count = Math.min(length - offset, CHUNK_BYTES - inChunk)
      reads.push(this.readSlot(slot, inChunk, target.subarray(offset, offset + count)))
      offset += count
    }
    await Promise.all(reads)
    this.readAhead(position, position + length)
    return length
  }

  /** On a sequential streak, keeps up to READ_AHEAD_BYTES in flight beyond what the reader asked for. */
  private readAhead (start: number, end: number): void {
    const near = this.sequentialPosition >= 0 && Math.abs(start - this.sequentialPosition) <= SEQUENTIAL_SLACK_BYTES
    this.sequentialStreak = near ? this.sequentialStreak + 1 : 0
    this.sequentialPosition = near ? Math.max(this.sequentialPosition, end) : end
    if (!near) this.readAheadEnd = end
    if (this.sequentialStreak < SEQUENTIAL_STREAK_MIN) return
    const front = this.sequentialPosition
    const from = Math.max(this.readAheadEnd, front)
    const to = Math.min(this.size, front + READ_AHEAD_BYTES)
    if (to - from < READ_AHEAD_STEP_BYTES && to < this.size) return // a step at a time: one chunk, one fetch
    this.readAheadEnd = Math.max(this.readAheadEnd, to)
    for (let position = from; position < to;) {
      const slot = Math.floor(position / CHUNK_BYTES)
      const inChunk = position - slot * CHUNK_BYTES
      // Pieces of READ_AHEAD_PIECE_BYTES: each is one pread and a short run of decryptions, so FUSE
      // requests are answered between pieces instead of waiting behind the whole read-ahead.
      const count = Math.min(to - position, CHUNK_BYTES - inChunk, READ_AHEAD_PIECE_BYTES)
      const ref = this.dirty.has(slot) || this.sealing.has(slot) ? null : this.sealed.get(slot) ?? this.metadata.state.get(this.fileId)?.chunks[slot] ?? null
      if (ref !== null && inChunk < ref.length) this.chunks.prefetch(ref.id, inChunk, Math.min(count, ref.length - inChunk))
      position += count
    }
  }

  /** Seals what is buffered and commits it with one metadata command. A no-op when nothing changed. */
  async commit (): Promise<void> {
    await this.mutex.run(async () => { await this.commitLocked() })
  }

  /**
   * fsync: seals what is buffered, makes every chunk of the file durable on its holders (those committed
   * before too: an earlier close only made them readable everywhere), then commits.
   */
  async sync (): Promise<void> {
    await this.mutex.run(async () => {
      await this.sealAll()
      const committed = (this.metadata.state.get(this.fileId)?.chunks ?? []).filter((ref): ref is ChunkRef => ref !== null)
      await this.chunks.sync([...committed, ...this.sealed.values()])
      await this.commitLocked()
    })
  }

  /**
   * Takes attribute changes to commit with the data written here: tar and cp -a set the times, owner and
   * mode of a file before they close it, and each change would otherwise be a metadata command of its
   * own (four commands per file instead of two). This peer sees the changes at once (overlay); others
   * see them with the data, at the commit. False when the caller must commit them now: nothing is left
   * uncommitted to ride on, the size changes, or owner or mode change while the committed file has
   * bytes, which other peers must not go on reading under the old owner or mode until the close.
   */
  async stageAttributes (changes: AttributeChanges, now: bigint): Promise<boolean> {
    return await this.mutex.run(async () => {
      if (!this.hasUncommittedData || changes.size !== undefined) return false
      const access = changes.mode !== undefined || changes.uid !== undefined || changes.gid !== undefined
      if (access && (this.metadata.state.get(this.fileId)?.size ?? 0) > 0) return false
      const { mtimeNs, ...rest } = changes
      if (mtimeNs !== undefined) this.localMtimeNs = mtimeNs // a later write sets it to its own time again
      this.staged = { ...this.staged, ...rest }
      this.localCtimeNs = now
      return true
    })
  }

  /** Sets the size: uncommitted data is committed first, so the truncate applies on top of it. */
  async truncate (size: number, changes: { mtimeNs?: bigint } = {}): Promise<void> {
    await this.mutex.run(async () => {
      await this.commitLocked()
      const result = await this.metadata.propose({ type: 'setattr', fileId: this.fileId, changes: { size, ...changes }, nowNs: nowNs() })
      if (result.errno !== 0) throw new FsError(result.errno)
    })
  }

  /**
   * The last close, after its commit failed (chunks that would not seal, a disk full everywhere): keeps
   * what was stored, as a crash in the middle of the writes would. The file grows at most up to the
   * first chunk that failed, never shrinks below its committed size, and a failed chunk inside that
   * keeps its committed content: never zeros in place of bytes that were written. The rest is dropped.
   */
  async salvage (): Promise<void> {
    await this.mutex.run(async () => {
      for (const slot of [...this.dirty.keys()]) this.startSeal(slot) // one more try for each
      await Promise.all([...this.sealing.values()].map(async (seal) => await seal.done))
      this.error = null // reported by the commit that failed
      const failed = [...this.dirty.keys()]
      if (failed.length > 0) {
        const committedSize = this.metadata.state.get(this.fileId)?.size ?? 0
        const end = Math.min(this.size, Math.max(committedSize, Math.min(...failed) * CHUNK_BYTES))
        for (const buffer of this.dirty.values()) this.budget.give(buffer.data.length)
        this.dirty.clear()
        for (const [slot, ref] of [...this.sealed]) {
          if (slot * CHUNK_BYTES < end) continue
          this.chunks.unpin([ref.id])
          this.sealed.delete(slot)
        }
        this.localSize = end
      }
      await this.commitLocked()
    })
  }

  /** Drops buffered state without committing (the file is gone). Returns budget to the daemon. */
  discard (): void {
    for (const buffer of this.dirty.values()) this.budget.give(buffer.data.length)
    this.dirty.clear()
    this.chunks.unpin([...this.sealed.values()].map((ref) => ref.id))
    this.sealed.clear()
    this.forgetLocalChanges()
  }

  /** Size, times and attributes go back to the committed ones (committed, or dropped with the data). */
  private forgetLocalChanges (): void {
    this.localSize = null
    this.localMtimeNs = null
    this.localCtimeNs = null
    this.staged = {}
  }

  private async sealAll (): Promise<void> {
    this.throwPendingError()
    for (const slot of [...this.dirty.keys()]) this.startSeal(slot)
    await Promise.all([...this.sealing.values()].map(async (seal) => await seal.done))
    this.throwPendingError()
  }

  private async commitLocked (): Promise<void> {
    await this.sealAll()
    if (!this.hasUncommittedData) return
    await this.chunks.commitReady([...this.sealed.values()])
    const updates: ChunkUpdate[] = [...this.sealed].map(([index, ref]) => ({ index, ref }))
    const now = nowNs()
    const result = await this.metadata.propose({
      type: 'commitChunks', fileId: this.fileId, size: this.size, updates, mtimeNs: this.localMtimeNs ?? now, attributes: this.staged, nowNs: now
    })
    if (result.errno !== 0) throw new FsError(result.errno)
    this.chunks.unpin(updates.map((update) => update.ref!.id))
    this.sealed.clear()
    this.forgetLocalChanges()
  }

  private async readSlot (slot: number, inChunk: number, target: Buffer): Promise<void> {
    const buffer = this.dirty.get(slot) ?? this.sealing.get(slot)?.buffer
    if (buffer !== undefined) {
      const copied = Math.max(0, Math.min(target.length, buffer.length - inChunk))
      // Past the buffer's end (a hole up to a write further on) is zeros; Buffer.copy would throw there.
      if (copied > 0) buffer.data.copy(target, 0, inChunk, inChunk + copied)
      target.fill(0, copied)
      return
    }
    const ref = this.sealed.get(slot) ?? this.metadata.state.get(this.fileId)?.chunks[slot] ?? null
    const available = ref === null ? 0 : Math.max(0, Math.min(target.length, ref.length - inChunk))
    const copied = ref !== null && available > 0 ? await this.chunks.readInto(ref.id, inChunk, target.subarray(0, available)) : 0
    target.fill(0, copied)
  }

  /** The buffer of `slot`, created on first write; existing bytes of the slot are loaded (copy-on-write). */
  private async bufferFor (slot: number): Promise<ChunkBuffer> {
    const existing = this.dirty.get(slot)
    if (existing !== undefined) return existing
    await this.sealing.get(slot)?.done // a write into a chunk being sealed continues from its sealed copy
    this.throwPendingError()
    const ref = this.sealed.get(slot) ?? this.metadata.state.get(this.fileId)?.chunks[slot] ?? null
    const committedLength = Math.max(0, Math.min(ref?.length ?? 0, this.size - slot * CHUNK_BYTES))
    const buffer: ChunkBuffer = { data: Buffer.alloc(0), length: 0 }
    this.ensureCapacity(buffer, committedLength)
    const loaded = ref !== null && committedLength > 0 ? await this.chunks.readInto(ref.id, 0, buffer.data.subarray(0, committedLength)) : 0
    buffer.data.fill(0, loaded, committedLength)
    buffer.length = committedLength
    this.dirty.set(slot, buffer)
    if (this.dirty.size > DIRTY_CHUNKS_MAX) this.startSeal(this.dirty.keys().next().value!)
    return buffer
  }

  private ensureCapacity (buffer: ChunkBuffer, bytes: number): void {
    if (buffer.data.length >= bytes) return
    const doubled = buffer.data.length >= BUFFER_STREAMING_BYTES ? CHUNK_BYTES : buffer.data.length * 2
    const capacity = Math.min(CHUNK_BYTES, Math.max(bytes, doubled, BUFFER_STEP_BYTES))
    const data = capacity === CHUNK_BYTES ? this.budget.chunkBuffer() : Buffer.allocUnsafe(capacity)
    buffer.data.copy(data, 0, 0, buffer.length)
    this.budget.take(capacity - buffer.data.length)
    buffer.data = data
  }

  /** Seals `slot` in the background; its buffer stays readable until the sealed reference replaces it. */
  private startSeal (slot: number): void {
    const buffer = this.dirty.get(slot)
    if (buffer === undefined) return
    this.dirty.delete(slot)
    const validLength = Math.min(buffer.length, Math.max(0, this.size - slot * CHUNK_BYTES))
    const done = this.seal(slot, buffer, validLength)
    this.sealing.set(slot, { buffer, done })
  }

  private async seal (slot: number, buffer: ChunkBuffer, validLength: number): Promise<void> {
    let kept = false
    try {
      const previous = this.sealed.get(slot)
      if (validLength === 0) this.sealed.delete(slot) // nothing left in this slot: a hole
      else this.sealed.set(slot, await this.chunks.put(buffer.data.subarray(0, validLength)))
      if (previous !== undefined) this.chunks.unpin([previous.id]) // rewritten before its commit
    } catch (error) {
      this.error ??= error instanceof FsError ? error : new FsError(Errno.EIO, `sealing a chunk failed: ${(error as Error).message}`)
      // The bytes stay dirty, so the next flush or fsync seals them again (once space is back, say):
      // reported once like Linux, but never committed as the slot's older content or as zeros.
      if (!this.dirty.has(slot)) {
        this.dirty.set(slot, buffer)
        kept = true
      }
    } finally {
      this.sealing.delete(slot)
      if (!kept) {
        this.budget.recycle(buffer.data) // sealed and stored: no reader or writer holds it any more
        this.budget.give(buffer.data.length)
      }
    }
  }

  private async applyBackpressure (): Promise<void> {
    while (this.sealing.size >= SEALS_IN_FLIGHT_MAX) await Promise.race([...this.sealing.values()].map(async (seal) => await seal.done))
    if (!this.budget.exhausted) return
    // Past the daemon-wide bound: seal our own buffers so waiting can't deadlock, then wait for room.
    for (const slot of [...this.dirty.keys()]) this.startSeal(slot)
    await Promise.race([this.budget.waitForRoom(), ...[...this.sealing.values()].map(async (seal) => await seal.done)])
  }

  private throwPendingError (): void {
    if (this.error === null) return
    const error = this.error
    this.error = null
    throw error
  }
}
