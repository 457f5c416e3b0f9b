// Durable file-system primitives shared by the WAL, the hard state and snapshots: replace a small file
// atomically, make a rename or unlink durable. All async (node:fs/promises): this code runs in the
// process that serves FUSE, where a synchronous call can deadlock the mount (STACK.md §7).
import { open, rename, rm } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'

/** Where fsync/fdatasync calls are counted, so callers can assert how many a path costs. */
export interface SyncCounter {
  syncs: number
}

/** fsync a directory: makes renames, creations and unlinks inside it durable (Linux semantics). */
export async function syncDirectory (directory: string, counter?: SyncCounter): Promise<void> {
  const handle = await open(directory, 'r')
  try {
    await handle.sync()
    if (counter !== undefined) counter.syncs++
  } finally {
    await handle.close()
  }
}

/**
 * Replaces `path` with `data` so that after a crash the file holds either the old or the new content:
 * write `<path>.tmp`, fdatasync it, rename over `path`, fsync the directory. One writer per path: two
 * concurrent calls would share the tmp name (callers serialize, as the Raft Ready loop does).
 */
export async function writeFileAtomic (directory: string, path: string, data: Uint8Array, counter?: SyncCounter): Promise<void> {
  const tmpPath = path + '.tmp'
  await writeAndSync(tmpPath, data, counter)
  await rename(tmpPath, path)
  await syncDirectory(directory, counter)
}

/** Creates or truncates `path`, writes all of `data` and fdatasyncs it (content and size are durable). */
export async function writeAndSync (path: string, data: Uint8Array, counter?: SyncCounter): Promise<void> {
  const handle = await open(path, 'w')
  try {
    await writeFully(handle, data, 0)
    await handle.datasync()
    if (counter !== undefined) counter.syncs++
  } finally {
    await handle.close()
  }
}

/** Positional write of all of `data`; loops only if the kernel reports a short write. */
export async function writeFully (handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let written = 0
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written)
    if (bytesWritten <= 0) throw new Error(`write made no progress at byte ${position + written}`)
    written += bytesWritten
  }
}

/** Deletes a file if present; a missing file is not an error (deletion may be redone after a crash). */
export async function removeFile (path: string): Promise<void> {
  await rm(path, { force: true })
}

/** Whether an fs error means "no such file" (a file that is legitimately absent). */
export function isMissing (error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT'
}
