// A mount's whole tree as the checker compares it: every entry's path, type, size, link target, and
// the sha256 of every regular file, read through the mount by find and sha256sum in a child process.
import type { ClusterPeer } from '../helpers/cluster.js'
import { onMount } from './mount-shell.js'
import type { Entry } from './path-state.js'

const LISTING_TIMEOUT_MS = 300_000
const SEPARATOR = '--- sha256 ---'

export type Listing = Map<string, Entry>

export type ListingResult = { listing: Listing, bytes: number } | { error: string }

export async function listMount (peer: ClusterPeer): Promise<ListingResult> {
  const result = await onMount(peer, [
    'set -o pipefail',
    "find . -mindepth 1 -printf '%y\\t%s\\t%P\\t%l\\n'",
    `echo '${SEPARATOR}'`,
    "find . -type f -printf '%P\\0' | xargs -0 -r sha256sum --"
  ].join(' && '), LISTING_TIMEOUT_MS)
  if (result.code !== 0) return { error: `exit ${result.code}: ${result.stderr.trim().split('\n').slice(0, 5).join(' | ')}` }
  const [entries = '', sums = ''] = result.stdout.split(`${SEPARATOR}\n`)
  const hashes = new Map<string, string>()
  for (const line of sums.split('\n')) {
    const match = /^([0-9a-f]{64}) {2}(.*)$/.exec(line)
    if (match !== null) hashes.set(match[2]!, match[1]!)
  }
  const listing: Listing = new Map()
  let bytes = 0
  for (const line of entries.split('\n')) {
    if (line === '') continue
    const [type, size, path, target] = line.split('\t') as [string, string, string, string]
    if (type === 'f') {
      const sha256 = hashes.get(path)
      if (sha256 === undefined) return { error: `no sha256 for ${path}` }
      listing.set(path, { kind: 'file', size: Number(size), sha256 })
      bytes += Number(size)
    } else if (type === 'd') {
      listing.set(path, { kind: 'dir' })
    } else if (type === 'l') {
      listing.set(path, { kind: 'symlink', target })
    } else {
      listing.set(path, { kind: 'other', type })
    }
  }
  return { listing, bytes }
}
