// The workload's operations, planned against the model: each picks certain paths whose outcome it can
// predict exactly (a new name for a create, a file known byte for byte for an append, a directory known
// to be empty for rmdir), declares its locks, and carries the shell command that performs it on a
// mount, the states its paths hold once it succeeds, and what a failed attempt may leave besides.
// Data writes go through dd, which reports a failed fsync and a failed close alike; a share of them is
// acknowledged by close alone (close-to-open: close commits the chunk list), the rest by fsync as well.
import type { Rng } from '../../metadata/raft/rng.js'
import { pickSize, randomBytes } from './content.js'
import type { SizeProfile } from './content.js'
import type { AcknowledgedModel, PathChange } from './model.js'
import { ANY_FILE, DIRECTORY, fileEntry } from './path-state.js'
import type { PathState } from './path-state.js'
import { PathLocks, exclusive, shared } from './path-locks.js'
import type { PathLock } from './path-locks.js'
import { depthOf, isWithin, joinPath, parentOf } from './paths.js'

export const OPERATION_KINDS = ['create', 'overwrite', 'append', 'truncate', 'rename', 'unlink', 'mkdir', 'rmdir', 'symlink'] as const
export type OperationKind = typeof OPERATION_KINDS[number]
/** Relative weights of the kinds; a kind left out never runs. */
export type OperationMix = Partial<Record<OperationKind, number>>

const MiB = 1024 * 1024
/** Appends stop growing a file past this; a larger one only shrinks or is replaced. */
const FILE_BYTES_MAX = 12 * MiB
const PLAN_ATTEMPTS = 12

export interface Operation {
  kind: OperationKind
  /** One line for logs and the model's history. */
  summary: string
  locks: PathLock[]
  /** Bytes the command reads from a staging file outside the mount (the file's path replaces SOURCE). */
  source?: Buffer
  /** The shell command, run with the mount as working directory. */
  command: (sourcePath: string) => string
  /** Every path the operation changes, with its state after success. */
  after: PathChange[]
  /** States a failed attempt may leave besides the old and the new one. */
  partial: PathChange[]
}

export interface PlannerOptions {
  mix: OperationMix
  /** How deep directories nest (the root is depth 0, its entries depth 1). */
  depthMax: number
  /** Past this many entries that may exist, removals are favoured over creations. */
  entriesMax: number
  /** Past this many bytes of acknowledged content, new data stays under 1 MiB. */
  bytesMax: number
  /** Share of data writes that fsync before close. */
  fsyncShare: number
  sizes: SizeProfile
}

function conv (...flags: string[]): string {
  return flags.length === 0 ? '' : ` conv=${flags.join(',')}`
}

/** Targets chosen and locks declared; the data (possibly MiBs) is made only once the locks are held. */
interface Draft {
  locks: PathLock[]
  make: () => Operation
}

export class OperationPlanner {
  private readonly model: AcknowledgedModel
  private readonly rng: Rng
  private readonly options: PlannerOptions
  private nameSequence = 0

  constructor (model: AcknowledgedModel, rng: Rng, options: PlannerOptions) {
    this.model = model
    this.rng = rng
    this.options = options
  }

  /** An operation whose locks are now held (release them after it ran), or null when none fits now. */
  plan (locks: PathLocks): Operation | null {
    for (let attempt = 0; attempt < PLAN_ATTEMPTS; attempt++) {
      const draft = this.draft(this.pickKind())
      if (draft !== null && locks.tryAcquire(draft.locks)) return draft.make()
    }
    return null
  }

  private pickKind (): OperationKind {
    const crowded = this.model.paths().length > this.options.entriesMax
    const weights = OPERATION_KINDS.map((kind) => {
      const weight = this.options.mix[kind] ?? 0
      if (!crowded) return weight
      return kind === 'create' || kind === 'mkdir' || kind === 'symlink' ? weight * 0.2 : kind === 'unlink' || kind === 'rmdir' ? weight * 3 : weight
    })
    let draw = this.rng.nextFloat() * weights.reduce((sum, weight) => sum + weight, 0)
    for (let i = 0; i < OPERATION_KINDS.length; i++) {
      draw -= weights[i]!
      if (draw < 0) return OPERATION_KINDS[i]!
    }
    return 'create'
  }

  private draft (kind: OperationKind): Draft | null {
    switch (kind) {
      case 'create': return this.create()
      case 'overwrite': return this.overwrite()
      case 'append': return this.append()
      case 'truncate': return this.truncate()
      case 'rename': return this.rename()
      case 'unlink': return this.unlink()
      case 'mkdir': return this.mkdir()
      case 'rmdir': return this.rmdir()
      case 'symlink': return this.symlink()
    }
  }

  // ---- the kinds ----

  private create (): Draft | null {
    const directory = this.pick(this.directoriesForNewEntries())
    if (directory === undefined) return null
    const path = joinPath(directory, this.freshName('f'))
    return this.writeDraft('create', path, [shared(directory), exclusive(path)])
  }

  private overwrite (): Draft | null {
    const path = this.pick(this.certainOfKind('file'))
    if (path === undefined) return null
    return this.writeDraft('overwrite', path, [shared(parentOf(path)), exclusive(path)])
  }

  private append (): Draft | null {
    const path = this.pick(this.certainOfKind('file'))
    if (path === undefined) return null
    return this.writeDraft('append', path, [shared(parentOf(path)), exclusive(path)])
  }

  /**
   * New random bytes for `path`, written with dd: a new file (`excl`: it must not exist yet), the whole
   * of an existing one, or appended to what it holds.
   */
  private writeDraft (kind: 'create' | 'overwrite' | 'append', path: string, locks: Draft['locks']): Draft {
    return {
      locks,
      make: () => {
        const before = kind === 'append' ? this.model.contentOf(path) : Buffer.alloc(0)
        const data = this.newData(before.length > FILE_BYTES_MAX - MiB)
        const sync = this.syncChoice()
        const bytes = Buffer.concat([before, data])
        const oflag = kind === 'append' ? ' oflag=append' : ''
        const convFlags = kind === 'create' ? ['excl'] : kind === 'append' ? ['notrunc'] : []
        return {
          kind,
          summary: kind === 'append'
            ? `append ${data.length} B to ${path} (${before.length} B, ${sync.label})`
            : `${kind} ${path} (${data.length} B, ${sync.label})`,
          locks,
          source: data,
          command: (source) => `dd if=${source} of=${path} bs=1M${oflag}${conv(...convFlags, ...sync.conv)} status=none`,
          after: [{ path, state: fileEntry(bytes), bytes }],
          partial: [{ path, state: ANY_FILE }]
        }
      }
    }
  }

  private truncate (): Draft | null {
    const path = this.pick(this.certainOfKind('file'))
    if (path === undefined) return null
    const locks = [shared(parentOf(path)), exclusive(path)]
    return {
      locks,
      make: () => {
        const before = this.model.contentOf(path)
        const grow = before.length < FILE_BYTES_MAX - 2 * MiB && this.rng.chance(0.3)
        const size = grow ? before.length + this.rng.nextInt(2 * MiB) : this.rng.nextInt(before.length + 1)
        const bytes = Buffer.alloc(size)
        before.copy(bytes, 0, 0, Math.min(size, before.length))
        return {
          kind: 'truncate',
          summary: `truncate ${path} from ${before.length} to ${size} B`,
          locks,
          command: () => `truncate -s ${size} -- ${path}`,
          after: [{ path, state: fileEntry(bytes), bytes }],
          partial: []
        }
      }
    }
  }

  private rename (): Draft | null {
    const files = [...this.certainOfKind('file'), ...this.certainOfKind('symlink')]
    const directories = this.certainOfKind('dir').filter((path) => this.wholeSubtreeCertain(path))
    const source = this.pick(this.rng.chance(0.8) || directories.length === 0 ? files : directories)
    if (source === undefined) return null
    const moved = this.model.certain(source)!
    const height = moved.kind === 'dir' ? Math.max(0, ...this.model.mayExistWithin(source).map((path) => depthOf(path) - depthOf(source))) : 0
    let target: string | undefined
    if (moved.kind !== 'dir' && this.rng.chance(0.4)) {
      target = this.pick(this.certainOfKind('file').filter((path) => path !== source)) // replaces a file
    }
    if (target === undefined) {
      const into = this.pick(this.directoriesForNewEntries().filter((directory) =>
        directory !== source && !isWithin(directory, source) && depthOf(directory) + 1 + height <= this.options.depthMax))
      if (into === undefined) return null
      target = joinPath(into, this.freshName(moved.kind === 'dir' ? 'd' : moved.kind === 'symlink' ? 'l' : 'f'))
    }
    const to = target
    const locks = [shared(parentOf(source)), exclusive(source), shared(parentOf(to)), exclusive(to)]
    return {
      locks,
      make: () => {
        const after: PathChange[] = [{ path: source, state: null }, this.movedState(source, to)]
        for (const path of this.model.mayExistWithin(source)) {
          after.push({ path, state: null }, this.movedState(path, to + path.slice(source.length)))
        }
        return {
          kind: 'rename',
          summary: `rename ${source} -> ${to}${moved.kind === 'dir' ? ` (a directory of ${after.length / 2 - 1} entries)` : ''}`,
          locks,
          command: () => `mv -f -T -- ${source} ${to}`,
          after,
          partial: []
        }
      }
    }
  }

  private unlink (): Draft | null {
    const path = this.pick([...this.certainOfKind('file'), ...this.certainOfKind('symlink')])
    if (path === undefined) return null
    const locks = [shared(parentOf(path)), exclusive(path)]
    return {
      locks,
      make: () => ({ kind: 'unlink', summary: `unlink ${path}`, locks, command: () => `rm -- ${path}`, after: [{ path, state: null }], partial: [] })
    }
  }

  private mkdir (): Draft | null {
    const directory = this.pick(this.directoriesForNewEntries().filter((path) => depthOf(path) + 1 < this.options.depthMax))
    if (directory === undefined) return null
    const path = joinPath(directory, this.freshName('d'))
    const locks = [shared(directory), exclusive(path)]
    return {
      locks,
      make: () => ({ kind: 'mkdir', summary: `mkdir ${path}`, locks, command: () => `mkdir -- ${path}`, after: [{ path, state: DIRECTORY }], partial: [] })
    }
  }

  private rmdir (): Draft | null {
    const path = this.pick(this.certainOfKind('dir').filter((directory) => this.model.mayExistWithin(directory).length === 0))
    if (path === undefined) return null
    const locks = [shared(parentOf(path)), exclusive(path)]
    return {
      locks,
      make: () => ({ kind: 'rmdir', summary: `rmdir ${path}`, locks, command: () => `rmdir -- ${path}`, after: [{ path, state: null }], partial: [] })
    }
  }

  private symlink (): Draft | null {
    const directory = this.pick(this.directoriesForNewEntries())
    if (directory === undefined) return null
    const path = joinPath(directory, this.freshName('l'))
    const locks = [shared(directory), exclusive(path)]
    return {
      locks,
      make: () => {
        // Targets are only text to the filesystem: sometimes a sibling, sometimes nothing at all.
        const sibling = this.pick(this.model.paths().filter((other) => parentOf(other) === directory))
        const target = sibling !== undefined && this.rng.chance(0.5) ? sibling.slice(sibling.lastIndexOf('/') + 1) : `../missing-${this.nameSequence}`
        return {
          kind: 'symlink',
          summary: `symlink ${path} -> ${target}`,
          locks,
          command: () => `ln -s -- ${target} ${path}`,
          after: [{ path, state: { kind: 'symlink', target } }],
          partial: []
        }
      }
    }
  }

  // ---- choices ----

  private movedState (from: string, to: string): PathChange {
    const state = this.model.certain(from)!
    return state !== null && state.kind === 'file' ? { path: to, state, bytes: this.model.contentOf(from), from } : { path: to, state, from }
  }

  private newData (small = false): Buffer {
    const allowLarge = !small && this.model.certainBytes < this.options.bytesMax
    return randomBytes(this.rng, pickSize(this.rng, this.options.sizes, allowLarge))
  }

  /** dd's conv=fsync (fsync before close) or nothing (close alone commits). */
  private syncChoice (): { conv: string[], label: string } {
    return this.rng.chance(this.options.fsyncShare) ? { conv: ['fsync'], label: 'fsync + close' } : { conv: [], label: 'close' }
  }

  private freshName (prefix: string): string {
    return `${prefix}${++this.nameSequence}`
  }

  /** The root and every certain directory new entries may go into. */
  private directoriesForNewEntries (): string[] {
    return ['', ...this.certainOfKind('dir')].filter((path) => depthOf(path) < this.options.depthMax)
  }

  private certainOfKind (kind: NonNullable<PathState>['kind']): string[] {
    return this.model.paths().filter((path) => this.model.certain(path)?.kind === kind)
  }

  private wholeSubtreeCertain (directory: string): boolean {
    return this.model.mayExistWithin(directory).every((path) => this.model.certain(path) !== undefined)
  }

  private pick<T> (items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[this.rng.nextInt(items.length)]
  }
}
