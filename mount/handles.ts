// The fd table of one mount: fd → the open file it reaches. Open files are shared per file_id, so two
// handles on one file see each other's writes at once, and the file is committed when either closes.
import { Errno, FsError } from '../native/errno.js'
import type { FileId } from '../metadata/fs/inode.js'
import { OpenFile } from './open-file.js'
import type { ChunkService, MetadataService } from './services.js'
import type { WriteBudget } from './write-budget.js'

/** FUSE file handles are uint32 and 0 means "none"; open handles are bounded like a process's fds. */
const HANDLES_MAX = 1 << 20

export interface Handle {
  fd: number
  file: OpenFile
  flags: number
  /** The name it was opened by (for per-name kernel page-cache bookkeeping). */
  path: string
}

export class Handles {
  private readonly byFd = new Map<number, Handle>()
  private readonly files = new Map<FileId, OpenFile>()
  private nextFd = 1
  private readonly metadata: MetadataService
  private readonly chunks: ChunkService
  private readonly budget: WriteBudget

  constructor (metadata: MetadataService, chunks: ChunkService, budget: WriteBudget) {
    this.metadata = metadata
    this.chunks = chunks
    this.budget = budget
  }

  open (fileId: FileId, flags: number, path: string): Handle {
    if (this.byFd.size >= HANDLES_MAX) throw new FsError(Errno.ENFILE)
    let file = this.files.get(fileId)
    if (file === undefined) {
      file = new OpenFile(fileId, this.metadata, this.chunks, this.budget)
      this.files.set(fileId, file)
    }
    file.handles++
    while (this.byFd.has(this.nextFd) || this.nextFd === 0) this.nextFd = (this.nextFd + 1) >>> 0
    const handle = { fd: this.nextFd, file, flags, path }
    this.byFd.set(handle.fd, handle)
    this.nextFd = (this.nextFd + 1) >>> 0
    return handle
  }

  get (fd: number): Handle {
    const handle = this.byFd.get(fd)
    if (handle === undefined) throw new FsError(Errno.EBADF)
    return handle
  }

  /** The open file of `fileId` on this mount, if any handle has it open. */
  fileOf (fileId: FileId): OpenFile | undefined {
    return this.files.get(fileId)
  }

  isOpen (fileId: FileId): boolean {
    return this.files.has(fileId)
  }

  /**
   * Forgets `fd`. Returns the open file when this was its last handle: the caller commits it, then calls
   * `forget` — which drops it only if no new handle opened it meanwhile (that one must see the data).
   */
  close (fd: number): OpenFile | undefined {
    const handle = this.get(fd)
    this.byFd.delete(fd)
    handle.file.handles--
    return handle.file.handles === 0 ? handle.file : undefined
  }

  forget (file: OpenFile): boolean {
    if (file.handles > 0 || this.files.get(file.fileId) !== file) return false
    this.files.delete(file.fileId)
    return true
  }

  openFiles (): OpenFile[] {
    return [...this.files.values()]
  }
}
