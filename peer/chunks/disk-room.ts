// How much of its disk the chunk store may fill. It always leaves a reserve free: the metadata log
// usually shares the disk, and a log that cannot append stops the daemon (fail-stop), so chunks must
// run out of room well before the disk does. Room is statfs's available bytes, minus the reserve, minus
// the chunk writes statfs cannot have seen yet: those in flight (claimed before they start, so
// concurrent writes cannot all squeeze into the same last megabytes) and those finished since the
// measurement began. statfs is asked again at most every second while the room is ample, and before
// every write once it is tight.
import { statfs } from 'node:fs/promises'
import { Errno, FsError } from '../../native/errno.js'

export const RESERVE_BYTES_MIN = 16 * 1024 * 1024
export const RESERVE_BYTES_MAX = 1024 * 1024 * 1024
export const RESERVE_FRACTION = 0.05
/** A measurement older than this is refreshed before it decides anything. */
export const MEASUREMENT_TTL_MS = 1_000
/** Below this much room (after the write), every write measures the disk afresh. */
export const TIGHT_ROOM_BYTES = 64 * 1024 * 1024

/** The chunk store has no room for a write: ENOSPC for the mount, a "no space" refusal for peers. */
export class ChunkStoreFullError extends FsError {
  constructor (message: string) {
    super(Errno.ENOSPC, message)
    this.name = 'ChunkStoreFullError'
  }
}

export interface DiskSpace {
  totalBytes: number
  freeBytes: number
  availableBytes: number
}

/** The reserve for a disk of `totalBytes`: 5 %, at least 16 MiB and at most 1 GiB. Pure. */
export function defaultReserveBytes (totalBytes: number): number {
  return Math.min(RESERVE_BYTES_MAX, Math.max(RESERVE_BYTES_MIN, Math.floor(totalBytes * RESERVE_FRACTION)))
}

/** Bytes chunks may still take: what is available beyond the reserve and the writes statfs has not seen. Pure. */
export function roomLeft (availableBytes: number, reserveBytes: number, unseenBytes: number): number {
  return Math.max(0, availableBytes - reserveBytes - unseenBytes)
}

export interface DiskRoomOptions {
  /** Bytes always left free; undefined: defaultReserveBytes of the disk's size. */
  reserveBytes?: number
  measure?: (directory: string) => Promise<DiskSpace>
  now?: () => number
}

export class DiskRoom {
  private readonly directory: string
  private readonly fixedReserve: number | undefined
  private readonly measure: (directory: string) => Promise<DiskSpace>
  private readonly now: () => number
  private last: { space: DiskSpace, atMs: number } | null = null
  private measuring: Promise<void> | null = null
  private inFlight = 0
  private writtenSinceMeasured = 0

  constructor (directory: string, options: DiskRoomOptions = {}) {
    this.directory = directory
    this.fixedReserve = options.reserveBytes
    this.measure = options.measure ?? measureDisk
    this.now = options.now ?? Date.now
  }

  /**
   * Claims `bytes` for a write about to start, or throws ChunkStoreFullError when they do not fit. Call
   * the returned function once the write is over (done or failed).
   */
  async claim (bytes: number): Promise<() => void> {
    if (this.last === null || this.now() - this.last.atMs > MEASUREMENT_TTL_MS || this.roomNow() - bytes < TIGHT_ROOM_BYTES) await this.refresh()
    const room = this.roomNow()
    if (room < bytes) throw new ChunkStoreFullError(`the chunk store has room for ${room} more bytes, not ${bytes} (${this.reserveBytes()} bytes of its disk stay free)`)
    this.inFlight += bytes
    let released = false
    return () => {
      if (released) return
      released = true
      this.inFlight -= bytes
      this.writtenSinceMeasured += bytes // a failed write counts too until the next measurement: harmless
    }
  }

  /**
   * Room for chunks as last measured, or null before the first measurement; a measurement older than
   * the TTL is renewed in the background (for heartbeats, which cannot wait).
   */
  room (): number | null {
    if (this.last === null || this.now() - this.last.atMs > MEASUREMENT_TTL_MS) this.refresh().catch(() => {})
    return this.last === null ? null : this.roomNow()
  }

  /** The disk as the mount's statfs reports it: the reserve counts as used. */
  async capacity (): Promise<DiskSpace> {
    await this.refresh()
    const { space } = this.last!
    const reserve = this.reserveBytes()
    return { totalBytes: space.totalBytes, freeBytes: Math.max(0, space.freeBytes - reserve), availableBytes: Math.max(0, space.availableBytes - reserve) }
  }

  reserveBytes (): number {
    return this.fixedReserve ?? defaultReserveBytes(this.last?.space.totalBytes ?? 0)
  }

  /** Measures the disk; callers arriving meanwhile share the measurement. */
  async refresh (): Promise<void> {
    if (this.measuring === null) {
      const writtenBefore = this.writtenSinceMeasured // on disk before statfs runs, so statfs sees them
      this.measuring = this.measure(this.directory).then((space) => {
        this.last = { space, atMs: this.now() }
        this.writtenSinceMeasured -= writtenBefore
      }).finally(() => { this.measuring = null })
    }
    await this.measuring
  }

  private roomNow (): number {
    return this.last === null ? 0 : roomLeft(this.last.space.availableBytes, this.reserveBytes(), this.inFlight + this.writtenSinceMeasured)
  }
}

/** The size, free and available (to unprivileged writers) bytes of the filesystem holding `directory`. */
export async function measureDisk (directory: string): Promise<DiskSpace> {
  const info = await statfs(directory)
  return { totalBytes: info.blocks * info.bsize, freeBytes: info.bfree * info.bsize, availableBytes: info.bavail * info.bsize }
}
