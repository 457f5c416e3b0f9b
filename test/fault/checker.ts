// Compares mounts with the model: every path the model knows must be in one of its possible states,
// and nothing else may exist. Certain files are compared by size and sha256, so an acknowledged byte
// that is lost, changed or unreadable is a violation. A mount is listed again for a while before a
// mismatch counts: another peer's close reaches it within a heartbeat, a failed close may still commit
// in the background, and a name the kernel cached may linger for entry_timeout.
import type { ClusterPeer } from '../helpers/cluster.js'
import type { AcknowledgedModel } from './model.js'
import { describe, matches } from './path-state.js'
import type { Listing } from './tree-listing.js'
import { listMount } from './tree-listing.js'

const RETRY_MS = 2_000
const WHOLE_MOUNT = '(the whole mount)'

export interface Violation {
  peer: string
  path: string
  observed: string
  expected: string[]
  /** The model's record of the last operations on the path. */
  history: string[]
}

export interface CheckReport {
  violations: Violation[]
  /** Acknowledged (certain) files that matched byte for byte, summed over the mounts. */
  filesVerified: number
  bytesVerified: number
  /** Paths a failed operation left undecided, checked against their possible states. */
  uncertainPaths: number
}

/** Where `listing` differs from what the model allows, one violation per path. */
export function violationsIn (model: AcknowledgedModel, listing: Listing, peer: string): Violation[] {
  const violations: Violation[] = []
  for (const path of new Set([...model.paths(), ...listing.keys()])) {
    const observed = listing.get(path) ?? null
    const possible = model.possible(path)
    if (possible.some((state) => matches(state, observed))) continue
    violations.push({ peer, path, observed: describe(observed), expected: possible.map(describe), history: model.historyOf(path) })
  }
  return violations.sort((a, b) => a.path.localeCompare(b.path))
}

/** Checks each peer's mount in turn, listing it again until it matches or `timeoutMs` ran out. */
export async function checkMounts (peers: readonly ClusterPeer[], model: AcknowledgedModel, timeoutMs: number): Promise<CheckReport> {
  const report: CheckReport = { violations: [], filesVerified: 0, bytesVerified: 0, uncertainPaths: 0 }
  const certainFiles = model.paths().filter((path) => model.certain(path)?.kind === 'file')
  report.uncertainPaths = model.paths().filter((path) => model.certain(path) === undefined).length
  for (const peer of peers) {
    const deadline = Date.now() + timeoutMs
    let last: Violation[] = []
    for (;;) {
      const result = await listMount(peer)
      if ('error' in result) {
        last = [{ peer: peer.name, path: WHOLE_MOUNT, observed: `unreadable: ${result.error}`, expected: ['a readable tree'], history: [] }]
      } else {
        last = violationsIn(model, result.listing, peer.name)
      }
      if (last.length === 0 || Date.now() > deadline) break
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS))
    }
    report.violations.push(...last)
    const wrong = new Set(last.map((violation) => violation.path))
    const matched = wrong.has(WHOLE_MOUNT) ? [] : certainFiles.filter((path) => !wrong.has(path))
    report.filesVerified += matched.length
    report.bytesVerified += matched.reduce((sum, path) => sum + model.contentOf(path).length, 0)
  }
  return report
}

export function formatViolation (violation: Violation): string {
  const lines = [`${violation.peer}: ${violation.path}: observed ${violation.observed}; expected ${violation.expected.join(' or ')}`]
  for (const line of violation.history) lines.push(`    ${line}`)
  return lines.join('\n')
}
