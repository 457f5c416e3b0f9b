// What a path holds, as the checker compares it: a regular file (size and sha256), a directory, a
// symbolic link (its target), or nothing (null). A model may also allow "some file, any content": what a
// failed write leaves behind is unspecified (a failed seal can even commit the other chunks with a hole).
import { createHash } from 'node:crypto'

export interface FileEntry { kind: 'file', size: number, sha256: string }
export interface DirectoryEntry { kind: 'dir' }
export interface SymlinkEntry { kind: 'symlink', target: string }
/** Anything else a mount may show (a device, a fifo): never expected, always a violation. */
export interface OtherEntry { kind: 'other', type: string }
export type Entry = FileEntry | DirectoryEntry | SymlinkEntry | OtherEntry
export type PathState = Entry | null

export interface AnyFile { kind: 'any-file' }
export const ANY_FILE: AnyFile = { kind: 'any-file' }
/** One state a path may be in, by the model's knowledge. */
export type Possibility = PathState | AnyFile

export const DIRECTORY: DirectoryEntry = { kind: 'dir' }

export function sha256Of (bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export function fileEntry (bytes: Buffer): FileEntry {
  return { kind: 'file', size: bytes.length, sha256: sha256Of(bytes) }
}

/** A canonical string: two states are the same exactly when their keys are equal. */
export function keyOf (state: Possibility): string {
  if (state === null) return 'absent'
  switch (state.kind) {
    case 'file': return `file ${state.size} ${state.sha256}`
    case 'dir': return 'dir'
    case 'symlink': return `symlink -> ${state.target}`
    case 'other': return `other ${state.type}`
    case 'any-file': return 'any file'
  }
}

/** For reports: like keyOf, with the hash shortened. */
export function describe (state: Possibility): string {
  return state !== null && state.kind === 'file' ? `file ${state.size} B sha256 ${state.sha256.slice(0, 16)}…` : keyOf(state)
}

export function matches (possibility: Possibility, observed: PathState): boolean {
  if (possibility !== null && possibility.kind === 'any-file') return observed !== null && observed.kind === 'file'
  return keyOf(possibility) === keyOf(observed)
}
