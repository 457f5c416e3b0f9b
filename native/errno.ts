// errno is the currency of the mount seam: every failure that reaches a FUSE caller is one of these.
import { constants } from 'node:os'

export const Errno = constants.errno

/** An operating error with a POSIX errno; thrown by the filesystem layers, answered as -errno by FUSE. */
export class FsError extends Error {
  readonly errno: number
  constructor (errno: number, message?: string) {
    // An operating error, not a bug: no stack trace. ENOENT and ENODATA are thrown on hot paths
    // (lookups of new names, the kernel's security.capability probe on every write).
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message ?? errnoName(errno))
    Error.stackTraceLimit = limit
    this.errno = errno
  }
}

const NAMES = new Map(Object.entries(Errno).map(([name, value]) => [value, name]))

export function errnoName (errno: number): string {
  return NAMES.get(errno) ?? `errno ${errno}`
}
