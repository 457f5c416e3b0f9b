// The named errors of the metadata storage layer. Operating conditions (damaged files, asking for
// compacted or not-yet-written entries) are these classes; programmer errors stay RangeError/AssertionError.

/**
 * A log or marker file is damaged in a way a crash cannot explain. Opening refuses rather than serve a
 * state that may be wrong; `file` and `offset` say where to look. A plain Error subclass on purpose: a
 * decoder fed hostile bytes must never throw TypeError/RangeError (see STYLE.md §3, safety-catch).
 */
export class WalCorruptError extends Error {
  readonly code = 'EWALCORRUPT'
  readonly file: string
  readonly offset: number
  constructor (file: string, offset: number, reason: string) {
    super(`write-ahead log corrupt: ${file} at byte ${offset}: ${reason}`)
    this.name = 'WalCorruptError'
    this.file = file
    this.offset = offset
  }
}

/** The requested index is below firstIndex(): a snapshot covers it (etcd's ErrCompacted). */
export class LogCompactedError extends Error {
  readonly code = 'ECOMPACTED'
  constructor (index: number, firstIndex: number) {
    super(`log index ${index} is compacted (first index is ${firstIndex})`)
    this.name = 'LogCompactedError'
  }
}

/** The requested index is above lastIndex(): not written, or not yet durable (etcd's ErrUnavailable). */
export class LogUnavailableError extends Error {
  readonly code = 'EUNAVAILABLE'
  constructor (index: number, lastIndex: number) {
    super(`log index ${index} is unavailable (last index is ${lastIndex})`)
    this.name = 'LogUnavailableError'
  }
}

/** A small atomically-written file (hard state, snapshot) failed its checksum or framing. */
export class StorageFileCorruptError extends Error {
  readonly code = 'ESTORAGECORRUPT'
  readonly file: string
  constructor (file: string, reason: string) {
    super(`storage file corrupt: ${file}: ${reason}`)
    this.name = 'StorageFileCorruptError'
    this.file = file
  }
}
