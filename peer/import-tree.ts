// `swarmfs import SRC DEST`: copies a local file or tree into the filesystem through its mount, as any
// program would, in its own process (the daemon's JS thread keeps answering FUSE). It measures the tree
// first so that progress has a total, streams each file in 1 MiB pieces (memory stays flat whatever the
// file size), copies a few files at once (each close waits for the cluster to commit), keeps modes,
// times, symlinks and — as root — owners, and goes on past a failed entry, reporting it at the end.
import { createReadStream, createWriteStream } from 'node:fs'
import type { Stats } from 'node:fs'
import { chmod, lchown, lstat, lutimes, mkdir, readdir, readlink, stat, symlink, unlink, utimes } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'

export const IMPORT_READ_BYTES = 1024 * 1024
export const IMPORT_FILES_PARALLEL = 4
export const IMPORT_FAILURES_KEPT_MAX = 20

export interface TreeTotals { files: number, bytes: number }

export interface ImportProgress {
  filesTotal: number
  bytesTotal: number
  filesDone: number
  bytesDone: number
  /** Entries that are neither file, directory nor symlink (devices, sockets, FIFOs): not copied. */
  skipped: number
  failed: number
  /** The first failures, for the report. */
  failures: Array<{ path: string, error: string }>
}

/** Regular files and their bytes under `source` (or `source` itself); unreadable parts count as nothing. */
export async function measureTree (source: string): Promise<TreeTotals> {
  const totals: TreeTotals = { files: 0, bytes: 0 }
  const visit = async (entry: string): Promise<void> => {
    const info = await lstat(entry).catch(() => null)
    if (info === null) return
    if (info.isFile()) {
      totals.files++
      totals.bytes += info.size
    } else if (info.isDirectory()) {
      const names = await readdir(entry).catch(() => [] as string[])
      for (const name of names) await visit(path.join(entry, name))
    }
  }
  await visit(source)
  return totals
}

/** Where SRC lands, like `cp -r`: inside DEST when DEST is a directory, else at DEST itself. */
export async function importTarget (source: string, destination: string): Promise<string> {
  const into = await stat(destination).then((info) => info.isDirectory(), () => false)
  const target = path.resolve(into ? path.join(destination, path.basename(path.resolve(source))) : destination)
  const from = path.resolve(source)
  if (target === from || target.startsWith(from + path.sep)) throw new Error(`cannot import ${from} into itself (${target})`)
  return target
}

/** atime and mtime in seconds, keeping the sub-millisecond part that Date objects would drop. */
function timesOf (info: Stats): [number, number] {
  return [info.atimeMs / 1000, info.mtimeMs / 1000]
}

/** At most `limit` tasks at once; run() returns once its task has started. */
class TaskPool {
  private readonly limit: number
  private readonly active = new Set<Promise<void>>()

  constructor (limit: number) {
    this.limit = limit
  }

  async run (task: () => Promise<void>): Promise<void> {
    while (this.active.size >= this.limit) await Promise.race(this.active)
    const running: Promise<void> = task().finally(() => { this.active.delete(running) })
    this.active.add(running)
  }

  async drain (): Promise<void> {
    await Promise.all(this.active)
  }
}

/** Copies `source` to `target`; `onProgress` is called as bytes arrive. Failures are counted, not thrown. */
export async function importTree (source: string, target: string, progress: ImportProgress, onProgress: () => void): Promise<void> {
  const pool = new TaskPool(IMPORT_FILES_PARALLEL)
  const directories: Array<{ target: string, info: Stats }> = []
  const asRoot = process.getuid?.() === 0
  const fail = (entry: string, error: unknown): void => {
    progress.failed++
    if (progress.failures.length < IMPORT_FAILURES_KEPT_MAX) progress.failures.push({ path: entry, error: (error as Error).message ?? String(error) })
    onProgress()
  }
  const keepOwner = async (to: string, info: Stats): Promise<void> => {
    if (asRoot) await lchown(to, info.uid, info.gid)
  }

  const copyFile = async (from: string, to: string, info: Stats): Promise<void> => {
    const input = createReadStream(from, { highWaterMark: IMPORT_READ_BYTES })
    input.on('data', (piece) => { progress.bytesDone += piece.length; onProgress() })
    await pipeline(input, createWriteStream(to, { mode: info.mode & 0o7777, highWaterMark: IMPORT_READ_BYTES }))
    await keepOwner(to, info)
    await chmod(to, info.mode & 0o7777) // after chown, which clears set-id bits; and past the umask
    await utimes(to, ...timesOf(info))
    progress.filesDone++
    onProgress()
  }

  const copySymlink = async (from: string, to: string, info: Stats): Promise<void> => {
    const link = await readlink(from)
    await symlink(link, to).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST' || (await lstat(to)).isDirectory()) throw error
      await unlink(to)
      await symlink(link, to)
    })
    await keepOwner(to, info)
    await lutimes(to, ...timesOf(info))
  }

  const visit = async (from: string, to: string): Promise<void> => {
    let info: Stats
    try {
      info = await lstat(from)
    } catch (error) {
      fail(from, error)
      return
    }
    if (info.isFile()) {
      await pool.run(async () => { await copyFile(from, to, info).catch((error: unknown) => fail(from, error)) })
    } else if (info.isDirectory()) {
      try {
        await mkdir(to).catch((error: NodeJS.ErrnoException) => { if (error.code !== 'EEXIST') throw error })
        directories.push({ target: to, info })
        for (const name of (await readdir(from)).sort()) await visit(path.join(from, name), path.join(to, name))
      } catch (error) {
        fail(from, error)
      }
    } else if (info.isSymbolicLink()) {
      await copySymlink(from, to, info).catch((error: unknown) => fail(from, error))
    } else {
      progress.skipped++
    }
  }

  await visit(path.resolve(source), target)
  await pool.drain()
  // Last, deepest first: creating entries inside a directory changes its times.
  for (const { target: to, info } of directories.reverse()) {
    try {
      await keepOwner(to, info)
      await chmod(to, info.mode & 0o7777)
      await utimes(to, ...timesOf(info))
    } catch (error) {
      fail(to, error)
    }
  }
}
