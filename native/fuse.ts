// The only door to fuse-native. It talks to the (patched, source-built) binding directly instead of
// fuse-native's index.js, so that: every handler answers exactly once with a number (a throw or a
// rejected promise becomes -EIO, never a hung caller); times carry nanoseconds; utimens gets atime and
// mtime separately with UTIME_NOW/UTIME_OMIT; create gets its open flags; open may ask for keep_cache;
// every op knows its caller's uid/gid/pid; and libfuse2 gets big_writes and the cache options we choose.
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { promisify } from 'node:util'
import nodeGypBuild from 'node-gyp-build'
import { Errno, FsError } from './errno.js'
import { escapeMountPath, isSwarmfsMounted } from './mount-table.js'

const require = createRequire(import.meta.url)
const execFileAsync = promisify(execFile)

type Signal = (...args: unknown[]) => void
interface Binding {
  swarmfs_patch: number
  sizeof_fuse_thread_t: number
  offsetof_fuse_thread_locals_t_caller_uid: number
  offsetof_fuse_thread_locals_t_caller_gid: number
  offsetof_fuse_thread_locals_t_caller_pid: number
  offsetof_fuse_thread_locals_t_interrupted: number
  offsetof_fuse_thread_t_no_capability_xattrs: number
  offsetof_fuse_thread_t_threads_started: number
  fuse_native_mount: (mnt: string, options: string, thread: Buffer, context: object, malloc: (size: number) => Buffer, handlers: unknown[], implemented: Uint32Array) => void
  fuse_native_unmount: (mnt: string, thread: Buffer) => void
  [key: string]: unknown
}

function loadBinding (): Binding {
  const directory = path.dirname(require.resolve('fuse-native/package.json'))
  const binding = nodeGypBuild(directory) as unknown as Binding
  if (binding.swarmfs_patch !== PATCH_VERSION) {
    throw new Error('fuse-native was not built with swarmfs\'s patch: run `npm rebuild` or `sh native/build-addon.sh`')
  }
  return binding
}

const UTIME_NOW = (1 << 30) - 1
const UTIME_OMIT = (1 << 30) - 2
const OPS_COUNT = 37
/** The version of swarmfs's patch the binding must report (native/patches; build-addon.sh checks it too). */
const PATCH_VERSION = 8
const NANOSECONDS = 1_000_000_000n

export interface Caller { uid: number, gid: number, pid: number }

/** Attributes as FUSE wants them; times are nanoseconds since the epoch. */
export interface Stat {
  mode: number
  uid: number
  gid: number
  size: number
  nlink: number
  ino: number
  rdev: number
  blksize: number
  blocks: number
  atimeNs: bigint
  mtimeNs: bigint
  ctimeNs: bigint
}

export interface StatFs {
  blockBytes: number
  blocks: number
  blocksFree: number
  blocksAvailable: number
  files: number
  filesFree: number
  nameBytesMax: number
}

/** A time argument of utimens: a value in nanoseconds, the current time, or "leave unchanged". */
export type TimeChange = { ns: bigint } | 'now' | 'omit'

/** An answer to open or create; create also gives the new file's attributes (see createAnswer). */
export interface Opened { fd: number, keepCache?: boolean, directIo?: boolean }
export interface Created extends Opened { stat: Stat }

/**
 * The filesystem's operations. Each returns a promise; throw FsError(errno) for an operating error.
 * `path` may be '' when libfuse2 no longer knows a name for the file: key such calls by fd.
 */
export interface FuseOperations {
  getattr (path: string, caller: Caller): Promise<Stat>
  fgetattr (path: string, fd: number, caller: Caller): Promise<Stat>
  access (path: string, mode: number, caller: Caller): Promise<void>
  statfs (path: string): Promise<StatFs>
  opendir (path: string, flags: number, caller: Caller): Promise<number>
  readdir (path: string, caller: Caller): Promise<string[]>
  releasedir (path: string, fd: number): Promise<void>
  open (path: string, flags: number, caller: Caller): Promise<Opened>
  create (path: string, mode: number, flags: number, caller: Caller): Promise<Created>
  read (path: string, fd: number, buffer: Buffer, position: number): Promise<number>
  write (path: string, fd: number, buffer: Buffer, position: number): Promise<number>
  /** Optional: without it libfuse2 answers ENOSYS once and the kernel stops sending FLUSH on close. */
  flush?: (path: string, fd: number) => Promise<void>
  fsync (path: string, dataOnly: boolean, fd: number): Promise<void>
  fsyncdir (path: string, dataOnly: boolean, fd: number): Promise<void>
  release (path: string, fd: number): Promise<void>
  truncate (path: string, size: number, caller: Caller): Promise<void>
  ftruncate (path: string, fd: number, size: number, caller: Caller): Promise<void>
  /** fallocate(2) on an open file: `mode` carries its FALLOC_FL_* flags. */
  fallocate (path: string, fd: number, mode: number, offset: number, length: number): Promise<void>
  /**
   * Optional: flock(2) with LOCK_SH/LOCK_EX/LOCK_UN (| LOCK_NB); `owner` (hex) names the open file
   * description, and LOCK_UN also comes when its last close drops the lock. Without it the kernel keeps
   * flocks itself, local to this mount. `interrupted` turns true once the caller got a signal (^C,
   * kill -9) while waiting: answer EINTR then, or the process stays in the kernel until the answer.
   */
  flock?: (path: string, fd: number, operation: number, owner: string, interrupted: () => boolean) => Promise<void>
  utimens (path: string, atime: TimeChange, mtime: TimeChange, caller: Caller): Promise<void>
  readlink (path: string, caller: Caller): Promise<string>
  chown (path: string, uid: number, gid: number, caller: Caller): Promise<void>
  chmod (path: string, mode: number, caller: Caller): Promise<void>
  mknod (path: string, mode: number, device: number, caller: Caller): Promise<void>
  setxattr (path: string, name: string, value: Buffer, flags: number, caller: Caller): Promise<void>
  getxattr (path: string, name: string, caller: Caller): Promise<Buffer>
  listxattr (path: string, caller: Caller): Promise<string[]>
  removexattr (path: string, name: string, caller: Caller): Promise<void>
  unlink (path: string, caller: Caller): Promise<void>
  rmdir (path: string, caller: Caller): Promise<void>
  rename (source: string, target: string, caller: Caller): Promise<void>
  link (source: string, target: string, caller: Caller): Promise<void>
  symlink (target: string, linkPath: string, caller: Caller): Promise<void>
  mkdir (path: string, mode: number, caller: Caller): Promise<void>
}

export interface MountOptions {
  /** libfuse2 options beyond the defaults below (e.g. 'allow_other'). */
  extraOptions?: string[]
  /** Called for an unexpected exception inside a handler (answered as EIO). */
  onError?: (operation: string, error: unknown) => void
  /** Called once per answered request with the time it took the handler (latency metrics). */
  onAnswered?: (operation: string, seconds: number) => void
}

// big_writes: 128 KiB write callbacks instead of 4 KiB (11x sequential write, STACK.md §1).
// use_ino: st_ino is our file_id, so tar/rsync/cp -a recognise hard links.
// An unlinked-but-open file is renamed to .fuse_hidden* by libfuse2 (no hard_remove): with hard_remove,
// libfuse2 answers fstat of such a file with ENOENT (the kernel's getattr carries no file handle).
// attr_timeout=0: libfuse2 gives each name of a hard link its own kernel inode, so a cached attribute of
// the other name would go stale after chmod/link (STACK.md §1).
// entry_timeout=10: a cached name saves the LOOKUP round trip of a path walk (stat then costs one round
// trip, not two). It cannot go stale through this mount, whose own changes the kernel applies to its
// cache; and as libfuse2 turns every request back into a path that we resolve afresh, a name another
// peer removed answers ENOENT at once, though the kernel may keep the name cached for up to 10 s.
// No default_permissions by default: with attributes never cached, the kernel fetches them for every
// directory of every path walk to check permissions itself (measured on one peer: creates -35 %, stat
// -45 %, unlink -55 %); the operations check the caller instead. A mount shared with other users adds it
// (peer/daemon.ts): opens of FIFOs and sockets never reach us, and only the kernel can check those.
const DEFAULT_OPTIONS = ['big_writes', 'max_write=131072', 'max_read=131072', 'use_ino',
  'fsname=swarmfs', 'subtype=swarmfs', 'attr_timeout=0', 'entry_timeout=10',
  'negative_timeout=0']

/**
 * Kernel read-ahead of the mount, in KiB. At the default 128 KiB (one FUSE read's worth) a sequential
 * reader has one request in flight, and every request waits for a round trip through this thread;
 * with more, the kernel sends the next reads while we answer the first. Measured (256 MiB, cold):
 * 1 MiB beat both 512 KiB and 2-4 MiB, where more requests in flight only cost more thread switches.
 */
const READ_AHEAD_KB = 1024

/** A mounted filesystem. */
export class FuseMount {
  readonly mountpoint: string
  private readonly binding: Binding
  private readonly thread: Buffer
  private readonly threadStates = new Set<Buffer>()
  private mounted = false

  private constructor (mountpoint: string, binding: Binding) {
    this.mountpoint = mountpoint
    this.binding = binding
    this.thread = Buffer.alloc(binding.sizeof_fuse_thread_t)
  }

  /** Mounts `operations` at `mountpoint`; resolves once the kernel has initialised the connection. */
  static async mount (mountpoint: string, operations: FuseOperations, options: MountOptions = {}): Promise<FuseMount> {
    const binding = loadBinding()
    const fuse = new FuseMount(path.resolve(mountpoint), binding)
    const flags = [...DEFAULT_OPTIONS, ...(options.extraOptions ?? [])].join(',')
    if (flags.length > 1000) throw new Error('FUSE option string too long')
    await new Promise<void>((resolve, reject) => {
      const handlers = makeHandlers(binding, operations, options.onError ?? defaultOnError, options.onAnswered ?? (() => {}), resolve)
      const implemented = new Uint32Array(OPS_COUNT)
      handlers.forEach((handler, op) => { if (handler !== undefined) implemented[op] = 1 })
      try {
        binding.fuse_native_mount(fuse.mountpoint, '-o' + flags, fuse.thread, fuse, (size) => fuse.allocate(size), handlers, implemented)
      } catch (error) {
        reject(new Error(`mounting ${fuse.mountpoint} failed: ${(error as Error).message}`))
      }
    })
    fuse.mounted = true
    await setReadAhead(fuse.mountpoint, READ_AHEAD_KB)
    return fuse
  }

  /** Unmounts; a busy mount is detached lazily so the daemon can still exit cleanly. */
  async unmount (): Promise<void> {
    if (!this.mounted) return
    this.mounted = false
    try {
      await unmountPath(this.mountpoint)
    } finally {
      // Also when fusermount failed because an `umount` from outside came first: the FUSE thread and
      // its handle on the event loop end only here.
      this.binding.fuse_native_unmount(this.mountpoint, this.thread)
    }
  }

  /**
   * Tells the binding whether any file may have a security.capability attribute. The kernel asks for
   * it before every write (to drop it, as a write must); while none exists, the binding answers
   * ENODATA itself and spares a round trip through this thread. Default: every probe is asked.
   */
  setCapabilityXattrsExist (exist: boolean): void {
    this.thread.writeInt32LE(exist ? 0 : 1, this.binding.offsetof_fuse_thread_t_no_capability_xattrs)
  }

  /**
   * libfuse2's worker threads started so far, and the per-thread states the binding allocated for
   * them: libfuse2 ends a thread once more than 10 are idle and starts another at the next burst, and
   * an exiting thread hands its state on, so states stay at the most threads ever alive at once.
   */
  get threads (): { started: number, states: number } {
    return { started: this.thread.readUInt32LE(this.binding.offsetof_fuse_thread_t_threads_started), states: this.threadStates.size }
  }

  private allocate (size: number): Buffer {
    const buffer = Buffer.alloc(size)
    this.threadStates.add(buffer) // per-FUSE-thread state; must stay alive as long as the mount
    return buffer
  }
}

const FUSERMOUNT_CHECK_MS = 5_000

/**
 * Runs fusermount. Seen once in a test run: fusermount had exited (a zombie, the mount gone) but its
 * exit never reached the event loop, and the daemon waited forever. So every few seconds the mount
 * table is checked as well: once the mount is gone, the unmount is done.
 */
async function fusermount (args: string[], mountpoint: string): Promise<void> {
  const run = execFileAsync('fusermount', args)
  let timer: NodeJS.Timeout | undefined
  const gone = new Promise<void>((resolve) => {
    const check = (): void => {
      timer = setTimeout(() => { isSwarmfsMounted(mountpoint).then((mounted) => { if (mounted) check(); else resolve() }, check) }, FUSERMOUNT_CHECK_MS)
    }
    check()
  })
  try {
    await Promise.race([run, gone])
  } finally {
    clearTimeout(timer)
    run.catch(() => {}) // settled or abandoned: never an unhandled rejection
  }
}

/** Unmounts any FUSE mount at `mountpoint` (also one left behind by a killed daemon). */
export async function unmountPath (mountpoint: string): Promise<void> {
  try {
    await fusermount(['-u', mountpoint], mountpoint)
  } catch {
    await fusermount(['-uz', mountpoint], mountpoint)
  }
}

/** Sets the read-ahead of the mount's backing device info; without root or sysfs the default stays. */
async function setReadAhead (mountpoint: string, kilobytes: number): Promise<void> {
  try {
    // /proc/self/mountinfo names the mount's device (field 3) without asking the mount itself.
    const escaped = escapeMountPath(mountpoint)
    const line = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((entry) => entry.split(' ')[4] === escaped)
    const device = line?.split(' ')[2]
    if (device !== undefined && /^\d+:\d+$/.test(device)) await writeFile(`/sys/class/bdi/${device}/read_ahead_kb`, String(kilobytes))
  } catch {}
}

function defaultOnError (operation: string, error: unknown): void {
  console.error(`swarmfs: unexpected error in ${operation}:`, error)
}

function errnoOf (error: unknown, operation: string, onError: (operation: string, error: unknown) => void): number {
  if (error instanceof FsError) return -error.errno
  onError(operation, error)
  return -Errno.EIO
}

function readCaller (binding: Binding, locals: Buffer): Caller {
  return {
    uid: locals.readUInt32LE(binding.offsetof_fuse_thread_locals_t_caller_uid),
    gid: locals.readUInt32LE(binding.offsetof_fuse_thread_locals_t_caller_gid),
    pid: locals.readUInt32LE(binding.offsetof_fuse_thread_locals_t_caller_pid)
  }
}

function uint64 (low: number, high: number): number {
  return low + high * 0x100000000
}

function timeChange (secondsLow: number, secondsHigh: number, nanoseconds: number): TimeChange {
  if (nanoseconds === UTIME_NOW) return 'now'
  if (nanoseconds === UTIME_OMIT) return 'omit'
  return { ns: BigInt(uint64(secondsLow, secondsHigh)) * NANOSECONDS + BigInt(nanoseconds) }
}

export function statArray (stat: Stat): Uint32Array {
  const ints = new Uint32Array(21)
  ints[0] = stat.mode
  ints[1] = stat.uid
  ints[2] = stat.gid
  setUint64(ints, 3, stat.size)
  ints[6] = stat.nlink
  ints[7] = stat.ino
  ints[8] = stat.rdev
  ints[9] = stat.blksize
  setUint64(ints, 10, stat.blocks)
  setTime(ints, 12, stat.atimeNs)
  setTime(ints, 15, stat.mtimeNs)
  setTime(ints, 18, stat.ctimeNs)
  return ints
}

function setUint64 (ints: Uint32Array, index: number, value: number): void {
  ints[index] = value % 0x100000000
  ints[index + 1] = Math.floor(value / 0x100000000)
}

function setTime (ints: Uint32Array, index: number, ns: bigint): void {
  const clamped = ns < 0n ? 0n : ns // the binding carries unsigned seconds
  setUint64(ints, index, Number(clamped / NANOSECONDS))
  ints[index + 2] = Number(clamped % NANOSECONDS)
}

function statfsArray (info: StatFs): Uint32Array {
  const clamp = (value: number): number => Math.min(Math.max(0, Math.floor(value)), 0xffffffff)
  return Uint32Array.from([info.blockBytes, info.blockBytes, clamp(info.blocks), clamp(info.blocksFree),
    clamp(info.blocksAvailable), clamp(info.files), clamp(info.filesFree), clamp(info.filesFree), 0, 0, info.nameBytesMax])
}

type Handler = (locals: Buffer, op: number, ...args: any[]) => void

/**
 * Builds the handler table the binding calls, one per op code. Each handler runs the async operation
 * and answers through the op's signal exactly once, on the next tick as fuse-native itself does.
 */
function makeHandlers (binding: Binding, ops: FuseOperations, onError: (operation: string, error: unknown) => void, onAnswered: (operation: string, seconds: number) => void, onInit: () => void): Array<Handler | undefined> {
  const handlers: Array<Handler | undefined> = new Array(OPS_COUNT)
  const opCode = (name: string): number => binding[`op_${name}`] as number
  const signalOf = (name: string): Signal => binding[`fuse_native_signal_${name}`] as Signal

  // Registers `name`: `run` produces the arguments after the result code; `fallback` answers errors.
  function define (name: string, run: (locals: Buffer, ...args: any[]) => Promise<unknown[]>, fallback: (...args: any[]) => unknown[] = () => []): void {
    const signal = signalOf(name)
    handlers[opCode(name)] = (locals, _op, ...args) => {
      const started = process.hrtime.bigint()
      const answered = (): void => { onAnswered(name, Number(process.hrtime.bigint() - started) / 1e9) }
      let promise: Promise<unknown[]>
      try {
        promise = run(locals, ...args)
      } catch (error) {
        promise = Promise.reject(error)
      }
      promise.then(
        (answer) => { answered(); process.nextTick(signal, locals, ...answer) },
        (error: unknown) => { answered(); process.nextTick(signal, locals, errnoOf(error, name, onError), ...fallback(...args)) })
    }
  }
  const caller = (locals: Buffer): Caller => readCaller(binding, locals)
  const ok = async (work: Promise<void>): Promise<unknown[]> => { await work; return [0] }
  const emptyStat = (): unknown[] => [new Uint32Array(21)]

  handlers[opCode('init')] = (locals) => { process.nextTick(signalOf('init'), locals, 0); onInit() }
  define('getattr', async (l, p: string) => [0, statArray(await ops.getattr(p, caller(l)))], emptyStat)
  define('fgetattr', async (l, p: string, fd: number) => [0, statArray(await ops.fgetattr(p, fd, caller(l)))], emptyStat)
  define('access', (l, p: string, mode: number) => ok(ops.access(p, mode, caller(l))))
  define('statfs', async (_l, p: string) => [0, statfsArray(await ops.statfs(p))], () => [new Uint32Array(11)])
  define('opendir', async (l, p: string, _fd: number, flags: number) => [0, await ops.opendir(p, flags, caller(l))], () => [0])
  define('readdir', async (l, p: string) => [0, await ops.readdir(p, caller(l)), []], () => [[], []])
  define('releasedir', (_l, p: string, fd: number) => ok(ops.releasedir(p, fd)))
  const openAnswer = (opened: Opened): unknown[] => [0, opened.fd, (opened.keepCache === true ? 1 : 0) | (opened.directIo === true ? 2 : 0)]
  define('open', async (l, p: string, flags: number) => openAnswer(await ops.open(p, flags, caller(l))), () => [0, 0])
  // libfuse2 follows every create with an fgetattr of the new file: the patched binding answers that
  // one from the attributes create passed along, saving a round trip through this thread.
  const createAnswer = (created: Created): unknown[] => [...openAnswer(created), statArray(created.stat)]
  define('create', async (l, p: string, mode: number, flags: number) => createAnswer(await ops.create(p, mode, flags, caller(l))), () => [0, 0])
  define('read', async (_l, p: string, fd: number, buffer: Buffer, length: number, low: number, high: number) =>
    [await ops.read(p, fd, buffer.subarray(0, length), uint64(low, high)), 0, buffer.buffer], (_p, _fd, buffer: Buffer) => [0, buffer.buffer])
  define('write', async (_l, p: string, fd: number, buffer: Buffer, length: number, low: number, high: number) =>
    [await ops.write(p, fd, buffer.subarray(0, length), uint64(low, high)), 0, buffer.buffer], (_p, _fd, buffer: Buffer) => [0, buffer.buffer])
  // FLUSH (every close) only for a mount that implements it (close-to-open across peers): unimplemented,
  // libfuse2 answers ENOSYS once and the kernel stops sending it, a round trip saved on every close.
  const flush = ops.flush
  if (flush !== undefined) define('flush', (_l, p: string, fd: number) => ok(flush(p, fd)))
  define('fsync', (_l, p: string, dataOnly: number, fd: number) => ok(ops.fsync(p, dataOnly !== 0, fd)))
  define('fsyncdir', (_l, p: string, dataOnly: number, fd: number) => ok(ops.fsyncdir(p, dataOnly !== 0, fd)))
  define('release', (_l, p: string, fd: number) => ok(ops.release(p, fd)))
  define('truncate', (l, p: string, low: number, high: number) => ok(ops.truncate(p, uint64(low, high), caller(l))))
  define('ftruncate', (l, p: string, fd: number, low: number, high: number) => ok(ops.ftruncate(p, fd, uint64(low, high), caller(l))))
  const flock = ops.flock
  if (flock !== undefined) {
    const offset = binding.offsetof_fuse_thread_locals_t_interrupted
    define('flock', (l, p: string, fd: number, operation: number, ownerLow: number, ownerHigh: number) =>
      ok(flock(p, fd, operation, ownerHigh.toString(16).padStart(8, '0') + ownerLow.toString(16).padStart(8, '0'), () => l.readUInt32LE(offset) !== 0)))
  }
  define('fallocate', (_l, p: string, fd: number, mode: number, offsetLow: number, offsetHigh: number, lengthLow: number, lengthHigh: number) =>
    ok(ops.fallocate(p, fd, mode, uint64(offsetLow, offsetHigh), uint64(lengthLow, lengthHigh))))
  define('utimens', (l, p: string, aLow: number, aHigh: number, aNs: number, mLow: number, mHigh: number, mNs: number) =>
    ok(ops.utimens(p, timeChange(aLow, aHigh, aNs), timeChange(mLow, mHigh, mNs), caller(l))))
  define('readlink', async (l, p: string) => [0, await ops.readlink(p, caller(l))], () => [''])
  define('chown', (l, p: string, uid: number, gid: number) => ok(ops.chown(p, uid, gid, caller(l))))
  define('chmod', (l, p: string, mode: number) => ok(ops.chmod(p, mode, caller(l))))
  define('mknod', (l, p: string, mode: number, device: number) => ok(ops.mknod(p, mode, device, caller(l))))
  define('setxattr', async (l, p: string, name: string, value: Buffer, _position: number, flags: number) => {
    await ops.setxattr(p, name, Buffer.from(value), flags, caller(l))
    return [0, value.buffer]
  }, (_p, _name, value: Buffer) => [value.buffer])
  define('getxattr', async (l, p: string, name: string, target: Buffer) => {
    const value = await ops.getxattr(p, name, caller(l))
    if (target.length === 0) return [value.length, target.buffer] // a size probe
    if (value.length > target.length) throw new FsError(Errno.ERANGE)
    value.copy(target)
    return [value.length, target.buffer]
  }, (_p, _name, target: Buffer) => [target.buffer])
  define('listxattr', async (l, p: string, target: Buffer) => {
    const list = Buffer.concat((await ops.listxattr(p, caller(l))).map((name) => Buffer.from(name + '\0')))
    if (target.length === 0) return [list.length, target.buffer]
    if (list.length > target.length) throw new FsError(Errno.ERANGE)
    list.copy(target)
    return [list.length, target.buffer]
  }, (_p, target: Buffer) => [target.buffer])
  define('removexattr', (l, p: string, name: string) => ok(ops.removexattr(p, name, caller(l))))
  define('unlink', (l, p: string) => ok(ops.unlink(p, caller(l))))
  define('rmdir', (l, p: string) => ok(ops.rmdir(p, caller(l))))
  define('rename', (l, source: string, target: string) => ok(ops.rename(source, target, caller(l))))
  define('link', (l, source: string, target: string) => ok(ops.link(source, target, caller(l))))
  define('symlink', (l, target: string, linkPath: string) => ok(ops.symlink(target, linkPath, caller(l))))
  define('mkdir', (l, p: string, mode: number) => ok(ops.mkdir(p, mode, caller(l))))
  return handlers
}
