// The bookkeeping of the disk cache tier: chunk copies a peer keeps only to serve its own reads (the
// metadata does not list it as a holder), ordered by when a read last used them and bounded in bytes.
// It decides what to evict, least recently read first, and nothing else: the caller deletes the files
// and reports back with remove(). Entries the caller says are busy (being read right now) are passed
// over, so the tier may exceed its bound by those until they are free again. Pure.

export interface CachedCopy {
  key: string
  bytes: number
  /** When a read last used the copy, as well as anyone knows (after a restart: the file's times). */
  lastReadMs: number
}

export class DiskCacheIndex {
  readonly bytesMax: number
  // key → bytes, least recently read first: a Map iterates in insertion order, and a read re-inserts.
  private readonly entries = new Map<string, number>()
  private total = 0

  constructor (bytesMax: number) {
    assert(Number.isSafeInteger(bytesMax) && bytesMax >= 0, `bad disk cache bytesMax ${bytesMax}`)
    this.bytesMax = bytesMax
  }

  /** An index of copies found on disk, the least recently read admitted first (ties in key order). */
  static rebuilt (bytesMax: number, copies: readonly CachedCopy[]): DiskCacheIndex {
    const index = new DiskCacheIndex(bytesMax)
    const ordered = [...copies].sort((a, b) => a.lastReadMs - b.lastReadMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    for (const copy of ordered) index.admit(copy.key, copy.bytes)
    return index
  }

  get bytes (): number {
    return this.total
  }

  get size (): number {
    return this.entries.size
  }

  has (key: string): boolean {
    return this.entries.has(key)
  }

  /** The size of a cached copy, or undefined when it is not cached. */
  bytesOf (key: string): number | undefined {
    return this.entries.get(key)
  }

  /** Keys, least recently read first. */
  keys (): string[] {
    return [...this.entries.keys()]
  }

  /** A read used the copy: it becomes the most recently read. False when it is not cached. */
  touch (key: string): boolean {
    const bytes = this.entries.get(key)
    if (bytes === undefined) return false
    this.entries.delete(key)
    this.entries.set(key, bytes)
    return true
  }

  /** Adds a copy (or refreshes one, with its size as given) as the most recently read. */
  admit (key: string, bytes: number): void {
    assert(Number.isSafeInteger(bytes) && bytes > 0, `bad cached copy size ${bytes}`)
    this.remove(key)
    this.entries.set(key, bytes)
    this.total += bytes
  }

  /** The copy is gone or no longer cache; false when it was not cached. */
  remove (key: string): boolean {
    const bytes = this.entries.get(key)
    if (bytes === undefined) return false
    this.entries.delete(key)
    this.total -= bytes
    return true
  }

  /** Whether the tier holds more than its bound. */
  over (): boolean {
    return this.total > this.bytesMax
  }

  /** The copies to evict, least recently read first, to bring the tier within its bound; busy ones are passed over. */
  overflow (busy: (key: string) => boolean = () => false): string[] {
    return this.victims(this.total - this.bytesMax, busy)
  }

  /** The copies to evict, least recently read first, to free at least `bytes` (or all that are not busy). */
  victimsFor (bytes: number, busy: (key: string) => boolean = () => false): string[] {
    assert(Number.isFinite(bytes), `bad byte count ${bytes}`)
    return this.victims(bytes, busy)
  }

  private victims (bytes: number, busy: (key: string) => boolean): string[] {
    const chosen: string[] = []
    let freed = 0
    for (const [key, size] of this.entries) {
      if (freed >= bytes) break
      if (busy(key)) continue
      chosen.push(key)
      freed += size
    }
    return chosen
  }

  checkInvariants (): void {
    let sum = 0
    for (const [key, bytes] of this.entries) {
      assert(key.length > 0, 'an empty key')
      assert(Number.isSafeInteger(bytes) && bytes > 0, `copy ${key} has size ${bytes}`)
      sum += bytes
    }
    assert(sum === this.total, `bytes ${this.total} but the entries sum to ${sum}`)
  }
}

function assert (condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion: ${message}`)
}
