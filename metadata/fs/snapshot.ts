// FsState ⇄ bytes: the whole applied state as one compact-encoding record, used for snapshots (log
// compaction, restart, and later for Raft InstallSnapshot). Versioned and bounds-checked on decode.
import c from 'compact-encoding'
import { DecodeError, HOLDERS_MAX, LOCK_OWNER_BYTES_MAX, chunkRefCodec, ownedBuffer, peerIdCodec } from './commands.js'
import { LOCK_EXCLUSIVE, LOCK_SHARED, lockHolder } from './file-locks.js'
import type { ChunkRef, FileId, Inode } from './inode.js'
import { isDirectory } from './inode.js'
import { PEER_TABLE_MAX } from './locations.js'
import { FsState } from './state.js'
import { runSteps } from '../steps.js'

// Version 2: each orphan carries its holding peer, and the removed peers follow the orphans.
// Version 3: the peer table and the chunk locations follow the removed peers. A version 2 snapshot
// (the same bytes up to there) still decodes, with no locations known.
// Version 4: the flock table follows the locations; earlier snapshots decode with no locks held.
const SNAPSHOT_VERSION = 4
const SNAPSHOT_VERSION_MIN = 2

const optionalRef: c.Encoder<ChunkRef | null> = {
  preencode (state, ref) { state.end++; if (ref !== null) chunkRefCodec.preencode(state, ref) },
  encode (state, ref) { c.bool.encode(state, ref !== null); if (ref !== null) chunkRefCodec.encode(state, ref) },
  decode (state) { return c.bool.decode(state) ? chunkRefCodec.decode(state) : null }
}

// Sizing and writing walk the same fields in the same order.
function walkInode (state: c.State, inode: Inode, step: 'preencode' | 'encode'): void {
  for (const value of [inode.id, inode.mode, inode.uid, inode.gid, inode.rdev, inode.nlink, inode.size, inode.version, inode.parent]) c.uint[step](state, value)
  for (const value of [inode.atimeNs, inode.mtimeNs, inode.ctimeNs]) c.bigint[step](state, value)
  c.uint[step](state, inode.chunks.length)
  for (const ref of inode.chunks) optionalRef[step](state, ref)
  c.string[step](state, inode.target)
  c.uint[step](state, inode.xattrs?.size ?? 0)
  for (const [name, value] of inode.xattrs ?? []) { c.string[step](state, name); c.buffer[step](state, value) }
}

const inodeCodec: c.Encoder<Inode> = {
  preencode (state, inode) { walkInode(state, inode, 'preencode') },
  encode (state, inode) { walkInode(state, inode, 'encode') },
  decode (state) {
    // In walkInode's order (a restart decodes every inode: no intermediate arrays).
    const id = uint(state)
    const mode = uint(state)
    const uid = uint(state)
    const gid = uint(state)
    const rdev = uint(state)
    const nlink = uint(state)
    const size = uint(state)
    const version = uint(state)
    const parent = uint(state)
    const atimeNs = c.bigint.decode(state)
    const mtimeNs = c.bigint.decode(state)
    const ctimeNs = c.bigint.decode(state)
    const chunks: Array<ChunkRef | null> = []
    for (let i = count(state); i > 0; i--) chunks.push(optionalRef.decode(state))
    const target = c.string.decode(state)
    let xattrs: Map<string, Buffer> | null = null
    for (let i = count(state); i > 0; i--) (xattrs ??= new Map()).set(c.string.decode(state), ownedBuffer(c.buffer.decode(state) ?? Buffer.alloc(0)))
    return { id, mode, uid, gid, rdev, nlink, size, atimeNs, mtimeNs, ctimeNs, version, chunks, target, xattrs, parent }
  }
}

function uint (state: c.State): number {
  return safe(c.uint.decode(state))
}

function safe (value: number): number {
  if (!Number.isSafeInteger(value)) throw new DecodeError('integer out of range')
  return value
}

/** A length prefix, refused when it claims more items than bytes remain (each item takes ≥ 1 byte). */
function count (state: c.State): number {
  const length = c.uint.decode(state)
  if (length > state.end - state.start) throw new DecodeError('count exceeds input')
  return length
}

/** Items per piece of snapshotPieces: ~2–3 ms of encoding for inodes. */
export const SNAPSHOT_PIECE_ITEMS = 1024
/** Items per step of decodeSnapshotSteps: ~4 ms of decoding (with its share of the checks at the end). */
const RESTORE_STEP_ITEMS = 256

type Section = (state: c.State, step: 'preencode' | 'encode') => void

/**
 * The snapshot of `fs` in pieces of at most SNAPSHOT_PIECE_ITEMS items each, encoded as they are asked
 * for, so a big state is encoded a few pieces at a time between other work. The state must not change
 * until the last piece is taken (it throws if it did). Concatenated, the pieces are encodeSnapshot's bytes.
 */
export function * snapshotPieces (fs: FsState): Generator<Buffer, void, undefined> {
  const changes = fs.changes
  for (const section of sections(fs)) {
    if (fs.changes !== changes) throw new Error('assertion: the state changed while a snapshot of it was taken')
    // Each section is walked twice: to size its buffer (preencode), then to fill it (encode).
    const state = c.state()
    section(state, 'preencode')
    state.buffer = Buffer.allocUnsafe(state.end)
    section(state, 'encode')
    yield state.buffer as Buffer
  }
}

export function encodeSnapshot (fs: FsState): Buffer {
  return Buffer.concat([...snapshotPieces(fs)])
}

function * sections (fs: FsState): Generator<Section, void, undefined> {
  yield (state, step) => {
    c.uint[step](state, SNAPSHOT_VERSION)
    c.uint[step](state, fs.nextFileId)
    c.uint[step](state, fs.inodes.size)
  }
  const directories: FileId[] = []
  for (const inodes of batches(fs.inodes.values())) {
    for (const inode of inodes) if (isDirectory(inode)) directories.push(inode.id)
    yield (state, step) => { for (const inode of inodes) inodeCodec[step](state, inode) }
  }
  for (const directory of directories) {
    const children = fs.entries.get(directory)!
    let counted = false // the first piece of a directory starts with its entry count
    for (const entries of batches(children.entries(), true)) {
      const first = !counted
      counted = true
      yield (state, step) => {
        if (first) c.uint[step](state, children.size)
        for (const [name, id] of entries) { c.string[step](state, name); c.uint[step](state, id) }
      }
    }
  }
  yield (state, step) => {
    c.uint[step](state, fs.orphans.size)
    for (const [id, holder] of fs.orphans) { c.uint[step](state, id); peerIdCodec[step](state, holder) }
    c.uint[step](state, fs.removedPeers.size)
    for (const peerId of fs.removedPeers) peerIdCodec[step](state, peerId)
    const { peers } = fs.chunkLocations
    c.uint[step](state, peers.length)
    for (const peerId of peers) peerIdCodec[step](state, peerId)
    c.uint[step](state, fs.chunkLocations.locations.size)
  }
  for (const located of batches(fs.chunkLocations.locations.entries())) {
    const ids = located.map(([chunk]) => Buffer.from(chunk, 'hex'))
    yield (state, step) => {
      located.forEach(([, indexes], i) => {
        c.fixed32[step](state, ids[i]!)
        c.uint[step](state, indexes.length)
        for (const index of indexes) c.uint[step](state, index)
      })
    }
  }
  yield (state, step) => {
    const locks = fs.locks.entries()
    c.uint[step](state, locks.length)
    for (const [fileId, owner, mode] of locks) { c.uint[step](state, fileId); c.string[step](state, owner); c.uint[step](state, mode) }
  }
}

/** Consecutive runs of at most SNAPSHOT_PIECE_ITEMS items; with `always`, one empty run for no items. */
function * batches<T> (items: Iterable<T>, always = false): Generator<T[], void, undefined> {
  let batch: T[] = []
  for (const item of items) {
    batch.push(item)
    if (batch.length === SNAPSHOT_PIECE_ITEMS) {
      yield batch
      batch = []
    }
  }
  if (batch.length > 0 || always) yield batch
}

/** The peer table, then each located chunk with its holders' indexes; the rest is checkInvariants' job. */
function * decodeLocations (state: c.State, fs: FsState, keys: ReadonlyMap<string, string>): Generator<void, void, undefined> {
  const table = fs.chunkLocations
  const peers = count(state)
  if (peers > PEER_TABLE_MAX) throw new DecodeError('peer table too long')
  for (let i = peers; i > 0; i--) {
    const peerId = peerIdCodec.decode(state)
    if (table.indexes.has(peerId)) throw new DecodeError('peer listed twice in the peer table')
    table.appendPeer(peerId)
  }
  for (let i = count(state); i > 0; i--) {
    const hex = Buffer.from(c.fixed32.decode(state)).toString('hex')
    const chunk = keys.get(hex) ?? hex
    if (table.locations.has(chunk)) throw new DecodeError('chunk located twice')
    const holders = count(state)
    if (holders > HOLDERS_MAX) throw new DecodeError('too many holders')
    table.locations.set(chunk, Array.from({ length: holders }, () => safe(c.uint.decode(state))))
    if (i % RESTORE_STEP_ITEMS === 0) yield
  }
}

/** The flock table: [file id, owner, mode] each, taken in order (a conflict is a malformed snapshot). */
function decodeLocks (state: c.State, fs: FsState): void {
  for (let i = count(state); i > 0; i--) {
    const fileId = safe(c.uint.decode(state))
    const owner = c.string.decode(state)
    const mode = c.uint.decode(state)
    if (Buffer.byteLength(owner) > LOCK_OWNER_BYTES_MAX || lockHolder(owner) === '') throw new DecodeError('bad lock owner')
    if (mode !== LOCK_SHARED && mode !== LOCK_EXCLUSIVE) throw new DecodeError('bad lock mode')
    if (fs.locks.of(fileId).has(owner) || !fs.locks.take(fileId, owner, mode)) throw new DecodeError('lock listed twice or conflicting')
  }
}

/** Rebuilds the state; malformed bytes throw DecodeError, and the result passes checkInvariants. */
export function decodeSnapshot (bytes: Uint8Array): FsState {
  return runSteps(decodeSnapshotSteps(bytes))
}

/**
 * decodeSnapshot a piece at a time: yields after every RESTORE_STEP_ITEMS or so items, so a big state
 * is decoded between other work, and returns the state at the end.
 */
export function * decodeSnapshotSteps (bytes: Uint8Array): Generator<void, FsState, undefined> {
  try {
    const state = c.state(0, bytes.length, bytes)
    const version = c.uint.decode(state)
    if (version < SNAPSHOT_VERSION_MIN || version > SNAPSHOT_VERSION) throw new DecodeError('unknown snapshot version')
    const fs = new FsState()
    fs.inodes.clear()
    fs.entries.clear()
    fs.nextFileId = safe(c.uint.decode(state))
    let decoded = 0 // items so far: a step ends after every RESTORE_STEP_ITEMS
    const inodes: Inode[] = []
    for (let i = count(state); i > 0; i--) {
      const inode = inodeCodec.decode(state)
      inodes.push(inode)
      fs.inodes.set(inode.id, inode)
      if (++decoded % RESTORE_STEP_ITEMS === 0) yield
    }
    fs.recountDerived()
    for (const directory of inodes.filter(isDirectory)) {
      const children = new Map<string, number>()
      for (let i = count(state); i > 0; i--) {
        children.set(c.string.decode(state), safe(c.uint.decode(state)))
        if (++decoded % RESTORE_STEP_ITEMS === 0) yield
      }
      fs.entries.set(directory.id, children)
    }
    for (let i = count(state); i > 0; i--) {
      const id = safe(c.uint.decode(state))
      if (fs.orphans.has(id)) throw new DecodeError('orphan listed twice')
      fs.orphans.set(id, peerIdCodec.decode(state))
    }
    for (let i = count(state); i > 0; i--) {
      const peerId = peerIdCodec.decode(state)
      if (fs.removedPeers.has(peerId)) throw new DecodeError('removed peer listed twice')
      fs.removedPeers.add(peerId)
    }
    // Each chunk's key as one string that both tables share (a 64-character string is ~90 bytes).
    const keys = new Map<string, string>()
    for (const inode of inodes) {
      for (const ref of inode.chunks) {
        if (ref === null) continue
        const hex = ref.id.toString('hex')
        const known = keys.get(hex)
        const key = known ?? hex
        if (known === undefined) keys.set(hex, hex)
        fs.chunkReferences.set(key, (fs.chunkReferences.get(key) ?? 0) + 1)
      }
      if (++decoded % RESTORE_STEP_ITEMS === 0) yield
    }
    if (version >= 3) yield * decodeLocations(state, fs, keys)
    if (version >= 4) decodeLocks(state, fs)
    if (state.start !== state.end) throw new DecodeError('trailing bytes after snapshot')
    yield * fs.invariantSteps()
    return fs
  } catch (error) {
    if (error instanceof DecodeError) throw error
    throw new DecodeError(`malformed snapshot: ${(error as Error).message}`)
  }
}
