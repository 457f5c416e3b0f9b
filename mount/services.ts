// What the mount needs from the rest of the peer, as interfaces: the mount holds these, never the
// implementations (the daemon wires them), so the FUSE layer can be tested and reasoned about alone.
import type { ApplyResult } from '../metadata/fs/state.js'
import type { Command } from '../metadata/fs/commands.js'
import type { FsState } from '../metadata/fs/state.js'
import type { ChunkRef } from '../metadata/fs/inode.js'

export interface MetadataService {
  /** The locally applied state: lookups, getattr and readdir are answered from it without a round trip. */
  readonly state: FsState
  /** Replicates and applies `command`; resolves with its result once it is applied here. */
  propose (command: Command): Promise<ApplyResult>
  /** Resolves once every change applied here so far is durable (fsync, fsyncdir). */
  sync (): Promise<void>
  /** Resolves once every change committed anywhere before the call is applied here (open: close-to-open). */
  refresh (): Promise<void>
}

export interface ChunkService {
  /**
   * Seals and stores `plaintext` on its holders, readable there at once and durable after `sync`;
   * resolves with the reference to commit. The chunk stays pinned (safe from garbage collection) until
   * `unpin`, after its commit or abandonment. `plaintext` is the caller's again once the promise
   * settles (its buffer is reused): keep a copy, never the buffer.
   */
  put (plaintext: Buffer): Promise<ChunkRef>
  unpin (ids: Buffer[]): void
  /**
   * Copies verified plaintext of a stored chunk, from `offset`, into `target` (as much as fits, up to
   * the chunk's end); resolves with how many bytes.
   */
  readInto (id: Buffer, offset: number, target: Buffer): Promise<number>
  /** Starts reading [offset, offset + length) into the cache without waiting (sequential read-ahead). */
  prefetch (id: Buffer, offset: number, length: number): void
  /** fsync: makes `chunks` durable on every peer that holds them (with whatever else was put there so far). */
  sync (chunks: readonly ChunkRef[]): Promise<void>
  /**
   * Resolves once metadata may reference `chunks` (call before committing it): a crash of one machine
   * must not leave the file naming bytes nobody has. Alone, that means synced to this disk; with copies
   * on other peers, stored there is enough, and only a chunk with a single holder is synced first.
   */
  commitReady (chunks: readonly ChunkRef[]): Promise<void>
  /** Space of the chunk store's disk, in bytes. */
  capacity (): Promise<{ totalBytes: number, freeBytes: number, availableBytes: number }>
}
