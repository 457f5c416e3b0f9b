// A small LRU of open read handles to chunk files, so a burst of 4 KiB reads on one chunk pays one
// open + fstat + header pread instead of one per read (measured in chunk-bench.ts: see the report).
// A handle is closed only when it has been evicted AND no read is still using it; closing it under a
// pending pread would make that read fail with EBADF (or, worse, read a reused descriptor).
import type { FileHandle } from 'node:fs/promises'
import { LRUCache } from 'lru-cache'

export const READ_HANDLES_MAX_DEFAULT = 64 // each costs one descriptor; 64 × 4 MiB covers 256 MiB of hot data

/** An open chunk file and what its header said; `T` is the parsed header. */
export interface OpenFile<T> {
  readonly handle: FileHandle
  readonly header: T
}

interface Entry<T> extends OpenFile<T> {
  users: number
  evicted: boolean
  closing: Promise<void> | null // set once; later callers wait for the same close
}

export class ReadHandleCache<T> {
  private readonly entries: LRUCache<string, Promise<Entry<T>>> | null

  /** `handlesMax` = 0 disables caching: every use opens and closes its own handle. */
  constructor (handlesMax: number) {
    if (!Number.isSafeInteger(handlesMax) || handlesMax < 0) throw new RangeError(`bad handlesMax ${handlesMax}`)
    this.entries = handlesMax === 0
      ? null
      : new LRUCache<string, Promise<Entry<T>>>({
        max: handlesMax,
        dispose: (pending) => { pending.then((entry) => this.retire(entry), () => {}) }
      })
  }

  /** Runs `use` with an open file for `key`, opening it with `open` unless a cached one exists. */
  async use<R> (key: string, open: () => Promise<OpenFile<T>>, use: (file: OpenFile<T>) => Promise<R>): Promise<R> {
    const entry = await this.acquire(key, open)
    try {
      return await use(entry)
    } finally {
      entry.users--
      if (entry.evicted && entry.users === 0) await closeEntry(entry)
    }
  }

  /** Forgets `key` (after delete or a rewrite): later uses reopen; current uses finish on the old file. */
  evict (key: string): void {
    this.entries?.delete(key)
  }

  async close (): Promise<void> {
    if (this.entries === null) return
    const pending = [...this.entries.values()]
    this.entries.clear() // disposes every entry: idle ones start closing, busy ones close after their use
    const settled = await Promise.allSettled(pending)
    await Promise.all(settled.map(async (result) => {
      if (result.status === 'fulfilled' && result.value.users === 0) await closeEntry(result.value)
    }))
  }

  private async acquire (key: string, open: () => Promise<OpenFile<T>>): Promise<Entry<T>> {
    if (this.entries === null) {
      const entry = toEntry(await open())
      entry.evicted = true // not cached: close after this one use
      entry.users++
      return entry
    }
    let pending = this.entries.get(key)
    if (pending === undefined) {
      pending = open().then(toEntry)
      const opened = pending
      this.entries.set(key, opened)
      opened.catch(() => { if (this.entries?.peek(key) === opened) this.entries.delete(key) })
    }
    const entry = await pending
    if (entry.closing !== null) return await this.acquire(key, open) // retired between lookup and now: reopen
    entry.users++
    return entry
  }

  private retire (entry: Entry<T>): void {
    entry.evicted = true
    if (entry.users === 0) void closeEntry(entry)
  }
}

function toEntry<T> (file: OpenFile<T>): Entry<T> {
  return { handle: file.handle, header: file.header, users: 0, evicted: false, closing: null }
}

async function closeEntry<T> (entry: Entry<T>): Promise<void> {
  // A failed close of a read-only handle loses nothing, so it is not reported.
  entry.closing ??= entry.handle.close().catch(() => {})
  await entry.closing
}
