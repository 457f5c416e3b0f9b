// Sealed chunks on the local disk, one file per chunk: <dir>/ab/abcdef… (256 fan-out directories keep
// each directory small). Writes go to <dir>/tmp/ and are renamed into place whole, so a reader never
// sees a half-written file under a chunk's name. They are made durable by sync() (fdatasync of each
// file, then fsync of its directory), batched: a caller syncs before it commits metadata that must not
// outlive the chunk, and a background flush does it within FLUSH_INTERVAL_MS anyway, like a local
// filesystem's commit interval. Large chunks are fdatasync'd as they are written instead: a stream's
// flushes then overlap its writes rather than piling up at its commit. A file a crash tore before its
// sync fails its size or authentication checks and is reported as ChunkCorruptError, never returned as
// data. Writes stop short of filling the disk (disk-room.ts): a write that does not fit, or that the
// disk refuses anyway, fails with ChunkStoreFullError (ENOSPC) and leaves nothing behind.
// Only node:fs/promises: this runs in the process that answers FUSE, where a synchronous call stalls
// every operation (STACK.md §7).
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { KEY_BYTES, randomBytes } from '../../native/crypto.js'
import { type ChunkId, assertChunkId, chunkIdFromHex, chunkIdOf, chunkIdToHex, isChunkIdHex } from './chunk-id.js'
import { ChunkStoreFullError, DiskRoom } from './disk-room.js'
import type { DiskSpace } from './disk-room.js'
import type { SealPool } from './seal-pool.js'
import { ScratchBuffers } from './scratch-buffers.js'
import { type OpenFile, READ_HANDLES_MAX_DEFAULT, ReadHandleCache } from './read-handle-cache.js'
import {
  type BlockRange, type ChunkKeys, type ChunkLayout, ChunkCorruptError, HEADER_BYTES, blockRange, blockSpan,
  copyPlaintextRange, layoutFor, openBlocks, openChunk, parseHeader, sealChunk, splitBlocks
} from './sealed-chunk.js'

export const FANOUT_DIRS = 256 // named 00..ff after the id's first byte
export const SEAL_POOL_BYTES_MIN = 256 * 1024 // below this, sealing or opening on the calling thread beats a worker round trip
const SCRATCH_BUFFERS_KEPT = 8 // reads of a few blocks in flight at once, each with a reused buffer
export const SYNCS_PARALLEL_MAX = 16 // fdatasyncs of chunk files, then fsyncs of fan-out dirs, in flight at once
export const FLUSH_INTERVAL_MS = 5000 // chunks written but not yet synced are synced in the background this often
export const SYNC_ON_WRITE_BYTES_MIN = 1024 * 1024 // sealed chunks this large are fdatasync'd before their rename
const TEMP_DIR = 'tmp'
const CHUNK_FILE_MODE = 0o600

/** The chunk is not stored here (never was, deleted, or its name was lost in a crash). */
export class ChunkMissingError extends Error {
  readonly code = 'ENOCHUNK'
  constructor (message: string, options?: { cause: unknown }) {
    super(message, options)
    this.name = 'ChunkMissingError'
  }
}

export interface ChunkStoreOptions extends ChunkKeys {
  /** Open read handles kept (LRU); 0 disables the cache. */
  readonly readHandlesMax?: number
  /** Hash and seal puts on worker threads (owned by the caller, same keys); without it, on this thread. */
  readonly sealPool?: SealPool
  /** Bytes of the disk chunks never take (see disk-room.ts); undefined: 5 % of it, 16 MiB to 1 GiB. */
  readonly reserveBytes?: number
  /** How often chunks written but not yet synced are synced in the background (FLUSH_INTERVAL_MS). */
  readonly flushIntervalMs?: number
  /** Hears of a background sync that failed (its chunks stay listed for the next one). */
  readonly onFlushError?: (error: unknown) => void
}

export interface ChunkStoreStats {
  readonly chunks: number
  readonly bytes: number // sealed bytes on disk, headers and tags included
}

export class ChunkStore {
  private readonly touchedDirectories = new Set<string>() // fan-out dirs with renames not yet fsynced
  private readonly unsyncedFiles = new Set<string>() // chunk files (hex) written since the last sync, data not yet fdatasync'd
  private readonly flushTimer: NodeJS.Timeout
  // Puts and deletes of one id run one after another (see exclusive): a delete decided by garbage
  // collection must never remove a file that a put of the same content just found and reused.
  private readonly operations = new Map<string, Promise<unknown>>()
  private readonly handles: ReadHandleCache<ChunkLayout>
  private readonly scratch = new ScratchBuffers(SEAL_POOL_BYTES_MIN, SCRATCH_BUFFERS_KEPT)
  private lastSync: Promise<void> = Promise.resolve()
  private queuedSync: Promise<void> | null = null // the sync that will start after the running one
  private readonly disk: DiskRoom

  private constructor (readonly dir: string, private readonly keys: ChunkKeys, readHandlesMax: number, private readonly sealPool: SealPool | null, reserveBytes: number | undefined, flush: { intervalMs: number, onError: (error: unknown) => void }) {
    this.handles = new ReadHandleCache<ChunkLayout>(readHandlesMax)
    this.disk = new DiskRoom(dir, reserveBytes === undefined ? {} : { reserveBytes })
    // A failed background sync keeps its files listed, so the next sync (a caller's or this) retries.
    this.flushTimer = setInterval(() => { if (this.hasUnsynced()) this.sync().catch(flush.onError) }, flush.intervalMs)
    this.flushTimer.unref()
  }

  /** Creates the layout if needed and removes temp files a crash left behind. */
  static async open (dir: string, options: ChunkStoreOptions): Promise<ChunkStore> {
    if (options.encryptionKey.length !== KEY_BYTES || options.idKey.length !== KEY_BYTES) throw new RangeError('chunk keys must be 32 bytes')
    const keys = { encryptionKey: options.encryptionKey, idKey: options.idKey }
    const store = new ChunkStore(dir, keys, options.readHandlesMax ?? READ_HANDLES_MAX_DEFAULT, options.sealPool ?? null, options.reserveBytes, {
      intervalMs: options.flushIntervalMs ?? FLUSH_INTERVAL_MS, onError: options.onFlushError ?? (() => {})
    })
    await mkdir(dir, { recursive: true })
    await rm(join(dir, TEMP_DIR), { recursive: true, force: true })
    await mkdir(join(dir, TEMP_DIR))
    await Promise.all(fanoutNames().map(async (name) => { await mkdir(join(dir, name), { recursive: true }) }))
    await fsyncDirectory(dir) // the fan-out dirs themselves must survive a crash before any chunk does
    return store
  }

  /**
   * Stores `plaintext` (1..CHUNK_BYTES) and returns its id. A chunk already stored whole is not
   * rewritten: content addressing dedupes. Durable once a sync() called after it has resolved. With a
   * seal pool the id is only known after sealing, so a dedupe hit wastes one seal, on a worker.
   */
  async put (plaintext: Uint8Array, onStored: (id: ChunkId) => void = () => {}, onSealed: (id: ChunkId, sealed: Buffer) => void = () => {}): Promise<ChunkId> {
    // Small chunks seal faster here than a round trip to the worker costs.
    const presealed = this.sealPool === null || plaintext.length < SEAL_POOL_BYTES_MIN ? null : await this.sealPool.seal(plaintext)
    const id = presealed?.id ?? chunkIdOf(plaintext, this.keys.idKey)
    // `onStored` runs before any later delete of this id may look: the caller pins the chunk there.
    return await this.exclusive(chunkIdToHex(id), async (hex) => {
      await this.putOnce(plaintext, id, hex, presealed?.sealed ?? null, onSealed)
      onStored(id)
      return id
    })
  }

  /** Runs `operation` after every earlier put or delete of the same id has finished. */
  private async exclusive<T> (hex: string, operation: (hex: string) => Promise<T>): Promise<T> {
    const previous = this.operations.get(hex) ?? Promise.resolve()
    const result = previous.then(async () => await operation(hex))
    const settled = result.then(() => {}, () => {})
    this.operations.set(hex, settled)
    void settled.then(() => { if (this.operations.get(hex) === settled) this.operations.delete(hex) })
    return await result
  }

  /**
   * Stores a sealed chunk received from a peer (replication, repair). It is fully verified first (every
   * block and the id), so garbage from the wire never lands on disk; it overwrites a local copy, which is
   * what repair of a corrupt copy needs. Durable once a sync() called after it has resolved, unless
   * `durable` is false (a copy kept only to serve reads: a crash costs a refetch, never a sync). With
   * `blocks`, resolves with the verified plaintext block by block (a copy about to be read: decrypted
   * once, not again by the read); otherwise with null. With `keepWhole` (a writer's copy of a chunk,
   * not a repair), a copy already stored whole is kept as put() keeps it: the same content written
   * again (a file copied twice, rewritten unchanged) costs no file create and rename on every holder.
   */
  async putSealed (id: ChunkId, sealed: Uint8Array, options: { durable: boolean, blocks?: boolean, keepWhole?: boolean } = { durable: true }): Promise<Buffer[] | null> {
    const wantBlocks = options.blocks === true
    if (options.keepWhole === true && !wantBlocks) {
      assertChunkId(id)
      const kept = await this.exclusive(chunkIdToHex(id), async (hex) => await this.keptWhole(hex, sealed.length, options.durable))
      if (kept) return null
    }
    let blocks: Buffer[] | null
    // A whole chunk is verified on the worker: on this thread it would stall every FUSE request ~7 ms.
    if (this.sealPool !== null && sealed.length >= SEAL_POOL_BYTES_MIN) {
      assertChunkId(id)
      blocks = await this.sealPool.verify(id, sealed, wantBlocks)
    } else {
      const plaintext = this.openSealed(id, sealed)
      blocks = wantBlocks ? splitBlocks(plaintext, parseHeader(sealed)) : null
    }
    await this.writeAtomically(chunkIdToHex(id), sealed, options.durable)
    return blocks
  }

  /** The plaintext of sealed bytes from elsewhere, verified in full (ChunkCorruptError otherwise); nothing is stored. */
  openSealed (id: ChunkId, sealed: Uint8Array): Buffer {
    assertChunkId(id)
    try {
      return openChunk(sealed, id, this.keys)
    } catch (error) {
      // Whatever a peer sent, failing to open it means a bad copy, never a fault of this peer.
      if (error instanceof ChunkCorruptError) throw error
      throw new ChunkCorruptError(`sealed chunk does not open: ${(error as Error).message}`, { cause: error })
    }
  }

  /**
   * Plaintext bytes [offset, offset + length) of chunk `id`, clamped to its end like pread. Reads only
   * the header (once per cached handle) and the blocks covering the range, authenticating each block.
   */
  async read (id: ChunkId, offset: number, length: number): Promise<Buffer> {
    const hex = chunkIdToHex(id)
    return await this.handles.use(hex, async () => await this.openFile(hex), async (file) => {
      const range = blockRange(file.header, offset, length)
      const blocks = await this.readRange(file, range, id)
      const start = offset - range.plaintextOffset
      const end = Math.min(offset + length, file.header.plaintextBytes) - range.plaintextOffset
      return range.blockCount === 0 ? Buffer.alloc(0) : copyPlaintextRange(blocks, start, end)
    })
  }

  /** Plaintext of whole blocks [firstBlock, firstBlock + blockCount), each authenticated: the cache's unit. */
  async readBlocks (id: ChunkId, firstBlock: number, blockCount: number): Promise<Buffer[]> {
    const hex = chunkIdToHex(id)
    return await this.handles.use(hex, async () => await this.openFile(hex), async (file) => {
      return await this.readRange(file, blockSpan(file.header, firstBlock, blockCount), id)
    })
  }

  /** The chunk's header (plaintext length, block size, sizes). */
  async layout (id: ChunkId): Promise<ChunkLayout> {
    const hex = chunkIdToHex(id)
    return await this.handles.use(hex, async () => await this.openFile(hex), async (file) => file.header)
  }

  /** The stored bytes, for sending to a replica; the header and total size are checked, blocks are not. */
  async readSealed (id: ChunkId): Promise<Buffer> {
    const hex = chunkIdToHex(id)
    const sealed = await readFile(this.chunkPath(hex)).catch((error: unknown) => { throw missingOr(error, hex) })
    const layout = parseHeader(sealed)
    if (sealed.length !== layout.sealedBytes) throw new ChunkCorruptError(`chunk ${hex} is ${sealed.length} bytes, its header says ${layout.sealedBytes}`)
    return sealed
  }

  /** Full verification for the scrubber: every block opens and the plaintext hashes to `id`, or it throws. */
  async verify (id: ChunkId): Promise<void> {
    openChunk(await this.readSealed(id), id, this.keys)
  }

  async has (id: ChunkId): Promise<boolean> {
    return await stat(this.chunkPath(chunkIdToHex(id))).then(() => true, (error: unknown) => {
      if (isNotFound(error)) return false
      throw error
    })
  }

  /** Removes the chunk; false if it was not there. Reads already running finish on the open file. */
  /**
   * Deletes a chunk if `stillGarbage()` — asked at the last moment, after earlier puts of the same id —
   * says so. Returns whether a file was removed.
   */
  async delete (id: ChunkId, stillGarbage: () => boolean = () => true): Promise<boolean> {
    return await this.exclusive(chunkIdToHex(id), async (hex) => {
      if (!stillGarbage()) return false
      this.handles.evict(hex)
      return await unlink(this.chunkPath(hex)).then(() => true, (error: unknown) => {
        if (isNotFound(error)) return false
        throw error
      })
    })
  }

  /** Every stored chunk id, in hex order, one fan-out directory in memory at a time. */
  async * list (): AsyncGenerator<ChunkId> {
    for (const name of fanoutNames()) {
      for (const entry of await this.chunkNames(name)) yield chunkIdFromHex(entry)
    }
  }

  /**
   * Makes every chunk written so far durable: the data of each file (fdatasync), then the directory
   * entries that name them. rename() makes a chunk visible, but until both are synced a crash can lose
   * or tear it: if metadata referencing the chunk committed in between, the file would point at a chunk
   * no replica has. So call this before committing metadata that must survive with the chunk. Files
   * are synced in parallel and each touched directory once per batch: a 2 GiB file of 512 chunks costs
   * 512 fdatasyncs (most of its data long written back by then) and ≤ 256 directory fsyncs. Calls queue
   * behind one another, so a caller never returns while a chunk it depends on is still being synced by
   * an earlier call.
   */
  async sync (): Promise<void> {
    // Group commit: everyone who arrives while a sync runs shares the single next one.
    if (this.queuedSync === null) {
      const next = this.lastSync.catch(() => {}).then(async () => {
        this.queuedSync = null
        await this.syncWritten()
      })
      this.queuedSync = next
      this.lastSync = next
    }
    await this.queuedSync
  }

  /** Whether chunks were written (or deduped) since the last sync began. */
  hasUnsynced (): boolean {
    return this.unsyncedFiles.size > 0 || this.touchedDirectories.size > 0
  }

  /** Chunk files written since the last sync began whose data is not yet known to be on disk. */
  unsyncedFileCount (): number {
    return this.unsyncedFiles.size
  }

  /** Counts by listing and stat-ing every chunk file: O(chunks), for status and metrics, not hot paths. */
  async stats (): Promise<ChunkStoreStats> {
    let chunks = 0
    let bytes = 0
    for (const name of fanoutNames()) {
      const sizes = await Promise.all((await this.chunkNames(name)).map(async (entry) => {
        return await stat(join(this.dir, name, entry)).then((info) => info.size, () => -1) // deleted meanwhile
      }))
      for (const size of sizes) if (size >= 0) { chunks++; bytes += size }
    }
    return { chunks, bytes }
  }

  /** Bytes chunks may still take here, as last measured (null before the first measurement). */
  room (): number | null {
    return this.disk.room()
  }

  /** The disk's size and free space, with the reserve counted as used. */
  async capacity (): Promise<DiskSpace> {
    return await this.disk.capacity()
  }

  /** Syncs what was written, stops the background flush and closes cached read handles. */
  async close (): Promise<void> {
    clearInterval(this.flushTimer)
    await this.sync().catch(() => {}) // what is not synced now is at a crash's mercy, as before close
    await this.handles.close()
  }

  /** `onSealed` gets the sealed bytes as soon as they exist, before they are written (replication starts then). */
  private async putOnce (plaintext: Uint8Array, id: ChunkId, hex: string, presealed: Buffer | null, onSealed: (id: ChunkId, sealed: Buffer) => void): Promise<ChunkId> {
    // A file of the right size under this name was renamed into place whole, so it is whole unless a
    // crash tore it before its sync or the disk altered it (the scrubber's job).
    const sealedBytes = layoutFor(plaintext.length).sealedBytes
    if (await this.keptWhole(hex, sealedBytes, true)) {
      if (presealed !== null) onSealed(id, presealed)
      return id
    }
    const sealed = presealed ?? sealChunk(plaintext, id, this.keys.encryptionKey)
    if (sealed.length !== sealedBytes) throw new Error(`assertion: sealed ${sealed.length} bytes, expected ${sealedBytes}`)
    onSealed(id, sealed)
    await this.writeAtomically(hex, sealed)
    return id
  }

  /**
   * Whether a file of `sealedBytes` is stored under this chunk's name already; if so it counts as
   * written, since it may not be synced yet (written a moment ago, or by a run that never synced).
   */
  private async keptWhole (hex: string, sealedBytes: number, durable: boolean): Promise<boolean> {
    const whole = await stat(this.chunkPath(hex)).then((info) => info.size === sealedBytes, (error: unknown) => {
      if (isNotFound(error)) return false
      throw error
    })
    if (!whole) return false
    if (durable) this.unsyncedFiles.add(hex)
    this.touchedDirectories.add(fanoutName(hex))
    return true
  }

  /**
   * temp file → write → rename; the file's fdatasync (unless it is large: then before the rename) and
   * its directory's fsync are batched in sync(). Not durable (never synced) for a copy kept only to
   * serve reads: losing it in a crash costs a refetch.
   */
  private async writeAtomically (hex: string, sealed: Uint8Array, durable = true): Promise<void> {
    const tempPath = join(this.dir, TEMP_DIR, `${hex}.${randomBytes(8).toString('hex')}`)
    const syncNow = sealed.length >= SYNC_ON_WRITE_BYTES_MIN
    const release = await this.disk.claim(sealed.length)
    try {
      const file = await open(tempPath, 'wx', CHUNK_FILE_MODE)
      try {
        await file.writeFile(sealed)
        if (durable && syncNow) await file.datasync()
      } finally {
        await file.close()
      }
      await rename(tempPath, this.chunkPath(hex))
    } catch (error) {
      await unlink(tempPath).catch(() => {})
      if (isOutOfSpace(error)) throw new ChunkStoreFullError(`writing chunk ${hex} failed: ${(error as Error).message}`)
      throw error
    } finally {
      release()
    }
    this.handles.evict(hex) // a cached handle would still read the replaced (maybe corrupt) file
    if (durable && !syncNow) this.unsyncedFiles.add(hex)
    this.touchedDirectories.add(fanoutName(hex))
  }

  /** Opens a chunk file and checks its header against its size, so a torn file fails before any read. */
  private async openFile (hex: string): Promise<OpenFile<ChunkLayout>> {
    const handle = await open(this.chunkPath(hex), 'r').catch((error: unknown) => { throw missingOr(error, hex) })
    try {
      const header = await preadExactly(handle, 0, HEADER_BYTES, hex)
      const layout = parseHeader(header)
      const { size } = await handle.stat()
      if (size !== layout.sealedBytes) throw new ChunkCorruptError(`chunk ${hex} is ${size} bytes, its header says ${layout.sealedBytes}`)
      return { handle, header: layout }
    } catch (error) {
      await handle.close()
      throw error
    }
  }

  private async readRange (file: OpenFile<ChunkLayout>, range: BlockRange, id: ChunkId): Promise<Buffer[]> {
    if (range.blockCount === 0) return []
    const hex = chunkIdToHex(id)
    // Long runs (read-ahead) decrypt on the worker, so FUSE requests are answered meanwhile; their sealed
    // bytes are handed over to it. A few blocks (a random read) decrypt faster here than a round trip to
    // the worker costs, out of a reused buffer.
    if (this.sealPool !== null && range.sealedBytes >= SEAL_POOL_BYTES_MIN) {
      return await this.sealPool.open(file.header, range, await preadExactly(file.handle, range.sealedOffset, range.sealedBytes, hex), id)
    }
    const scratch = range.sealedBytes <= this.scratch.bytes ? this.scratch.take() : null
    try {
      const sealed = await preadExactly(file.handle, range.sealedOffset, range.sealedBytes, hex, scratch ?? undefined)
      return openBlocks(file.header, range, sealed, id, this.keys.encryptionKey)
    } finally {
      if (scratch !== null) this.scratch.give(scratch)
    }
  }

  private async syncWritten (): Promise<void> {
    const files = [...this.unsyncedFiles]
    const names = [...this.touchedDirectories]
    this.unsyncedFiles.clear()
    this.touchedDirectories.clear()
    try {
      // Data first: a directory entry made durable must never name a file whose bytes are not.
      await inBatches(files, async (hex) => { await datasyncFile(this.chunkPath(hex)) })
      await inBatches(names, async (name) => { await fsyncDirectory(join(this.dir, name)) })
    } catch (error) {
      // Not known durable: the next call retries.
      for (const hex of files) this.unsyncedFiles.add(hex)
      for (const name of names) this.touchedDirectories.add(name)
      throw error
    }
  }

  private async chunkNames (fanout: string): Promise<string[]> {
    const names = await readdir(join(this.dir, fanout)).catch((error: unknown) => {
      if (isNotFound(error)) return []
      throw error
    })
    return names.filter((name) => isChunkIdHex(name) && name.startsWith(fanout)).sort()
  }

  private chunkPath (hex: string): string {
    return join(this.dir, fanoutName(hex), hex)
  }
}

function fanoutName (hex: string): string {
  return hex.slice(0, 2)
}

function fanoutNames (): string[] {
  return Array.from({ length: FANOUT_DIRS }, (_, index) => index.toString(16).padStart(2, '0'))
}

async function inBatches<T> (items: readonly T[], run: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += SYNCS_PARALLEL_MAX) {
    await Promise.all(items.slice(start, start + SYNCS_PARALLEL_MAX).map(run))
  }
}

/** fdatasync of a chunk file by name; one deleted meanwhile (garbage collection) has nothing to sync. */
async function datasyncFile (path: string): Promise<void> {
  const file = await open(path, 'r').catch((error: unknown) => {
    if (isNotFound(error)) return null
    throw error
  })
  if (file === null) return
  try {
    await file.datasync()
  } finally {
    await file.close()
  }
}

async function fsyncDirectory (path: string): Promise<void> {
  const directory = await open(path, 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}

/**
 * pread that fills `length` bytes (into the start of `into`, when given) or reports the file as torn
 * (EOF before the header said). Returns exactly the bytes read.
 */
async function preadExactly (handle: OpenFile<unknown>['handle'], position: number, length: number, hex: string, into: Buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
  const buffer = into.subarray(0, length)
  let filled = 0
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled)
    if (bytesRead === 0) throw new ChunkCorruptError(`chunk ${hex} ends at ${position + filled}, expected ${position + length} bytes`)
    filled += bytesRead
  }
  return buffer
}

function missingOr (error: unknown, hex: string): unknown {
  return isNotFound(error) ? new ChunkMissingError(`chunk ${hex} is not stored here`, { cause: error }) : error
}

function isOutOfSpace (error: unknown): boolean {
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined
  return code === 'ENOSPC' || code === 'EDQUOT'
}

function isNotFound (error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT'
}
