// The acknowledged state of the filesystem: for every path the workload touched, the states it may be
// in. An operation that returned success makes its paths certain (one state); one that failed may or
// may not have taken effect — a timeout can commit later, a crash can leave a chunk list uncommitted —
// so its paths may hold their old state, the new one, or what a half-done attempt leaves. The workload
// never touches an uncertain path again, so uncertainty never spreads and every certain path must match
// exactly: a certain path that reads back otherwise is acknowledged data lost.
import type { PathState, Possibility } from './path-state.js'
import { keyOf } from './path-state.js'
import { isWithin } from './paths.js'

export interface PathChange {
  path: string
  state: Possibility
  /** The content of a file state, kept while it is certain (appends and renames build on it). */
  bytes?: Buffer
  /** Where a renamed entry came from: its history moves along. */
  from?: string
}

const HISTORY_PER_PATH = 8
/** Paths whose history is kept, the most recently changed ones (a long soak touches millions). */
const HISTORY_PATHS_MAX = 50_000

export class AcknowledgedModel {
  /** path → the states it may be in. Paths not listed are certainly absent. */
  private readonly states = new Map<string, Possibility[]>()
  private readonly contents = new Map<string, Buffer>()
  /** The last operations on each path, for reports. */
  private readonly history = new Map<string, string[]>()

  /** The states `path` may be in; a single one when it is certain. */
  possible (path: string): Possibility[] {
    if (path === '') return [{ kind: 'dir' }]
    return this.states.get(path) ?? [null]
  }

  /** The state of `path` when it is certain and concrete; undefined otherwise. */
  certain (path: string): PathState | undefined {
    const states = this.possible(path)
    const state = states[0]
    if (states.length !== 1 || state === undefined) return undefined
    return state !== null && state.kind === 'any-file' ? undefined : state
  }

  /** The bytes of a certain file. */
  contentOf (path: string): Buffer {
    const bytes = this.contents.get(path)
    if (bytes === undefined) throw new Error(`no certain content for ${path}`)
    return bytes
  }

  /** Every path that is not certainly absent. */
  paths (): string[] {
    return [...this.states.keys()]
  }

  /** Paths below `directory` that may exist. */
  mayExistWithin (directory: string): string[] {
    return this.paths().filter((path) => isWithin(path, directory))
  }

  /** Bytes of acknowledged file content held in memory (the workload keeps it bounded). */
  get certainBytes (): number {
    let total = 0
    for (const bytes of this.contents.values()) total += bytes.length
    return total
  }

  /** An operation returned success: each path now holds exactly its new state. */
  acknowledge (changes: PathChange[], what: string): void {
    for (const change of changes) {
      if (change.state !== null && change.state.kind === 'any-file') throw new Error('an acknowledged state is concrete')
      this.set(change.path, [change.state])
      if (change.bytes !== undefined) this.contents.set(change.path, change.bytes)
      else this.contents.delete(change.path)
      this.note(change, `ok: ${what}`)
    }
  }

  /**
   * An operation failed and may have taken effect, now or later: each path may hold what it held, its
   * new state, or any of `partial` (states a half-done attempt leaves).
   */
  maybe (changes: PathChange[], partial: PathChange[], what: string): void {
    for (const change of changes) {
      const alternatives = [change.state, ...partial.filter((other) => other.path === change.path).map((other) => other.state)]
      const states = [...this.possible(change.path)]
      for (const state of alternatives) if (!states.some((known) => keyOf(known) === keyOf(state))) states.push(state)
      this.set(change.path, states)
      this.contents.delete(change.path)
      this.note(change, `FAILED (maybe applied): ${what}`)
    }
  }

  historyOf (path: string): string[] {
    return this.history.get(path) ?? []
  }

  private set (path: string, states: Possibility[]): void {
    if (states.length === 1 && states[0] === null) this.states.delete(path)
    else this.states.set(path, states)
  }

  private note (change: PathChange, line: string): void {
    const lines = [...(change.from === undefined ? [] : this.historyOf(change.from)), ...this.historyOf(change.path), line]
    this.history.delete(change.path) // re-inserted last: the map's order is the order of last change
    this.history.set(change.path, lines.slice(-HISTORY_PER_PATH))
    if (this.history.size > HISTORY_PATHS_MAX) this.history.delete(this.history.keys().next().value!)
  }
}
