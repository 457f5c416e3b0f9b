// The commands that change filesystem metadata, with their compact-encoding codec. A command is what
// the log replicates: small, deterministic to apply (the proposer fixes the time), never file bytes.
import c from 'compact-encoding'
import type { ChunkRef, FileId } from './inode.js'
import { NAME_BYTES_MAX, SYMLINK_BYTES_MAX, XATTR_NAME_BYTES_MAX, XATTR_VALUE_BYTES_MAX } from './inode.js'

export const RENAME_NOREPLACE = 1
export const RENAME_EXCHANGE = 2
export const XATTR_CREATE = 1
export const XATTR_REPLACE = 2
/** Peer ids are lowercase hex public keys today (64 bytes); the bound leaves room for another kind. */
export const PEER_ID_BYTES_MAX = 128
/** Peers recorded as holding copies of one chunk, at most; more holders than this are not recorded. */
export const HOLDERS_MAX = 16
/** Chunk slots one commitChunks may set. */
export const CHUNK_UPDATES_MAX = 1 << 20
/** Chunks one setLocations may change: a repair, rebalance or scrub batch larger than this is split. */
export const LOCATION_UPDATES_MAX = 4096
// Version 2: unlink/rename name the holding peer, purgeOrphans names its peer, removePeer added.
// Version 3: a commitChunks ref may name the peers holding its copies; setLocations added. Version 2
// bytes are a subset of version 3 (a ref's presence byte 0/1 is its flags byte) and still decode; a
// version 2 decoder refuses version 3 entries instead of misreading a holder list.
// Version 4: commitChunks carries attribute changes staged while the file was being written (owner,
// mode, atime). Older entries decode with none; a version 3 decoder refuses version 4 entries.
// Version 5: flock added (a version 4 decoder refuses version 5 entries).
const COMMAND_VERSION = 5
const COMMAND_VERSION_MIN = 2
const CHUNK_ID_BYTES = 32

interface Timed { nowNs: bigint }
interface Owner { uid: number, gid: number }

export type Command =
  | { type: 'create', parent: FileId, name: string, mode: number, rdev: number } & Owner & Timed
  | { type: 'mkdir', parent: FileId, name: string, mode: number } & Owner & Timed
  | { type: 'symlink', parent: FileId, name: string, target: string } & Owner & Timed
  | { type: 'link', fileId: FileId, parent: FileId, name: string } & Timed
  /**
   * holder: the id of the peer that still has the file open ('' if none). If this removes the last
   * name, the inode lives on as that peer's orphan until its `release` or its `purgeOrphans`.
   */
  | { type: 'unlink', parent: FileId, name: string, holder: string } & Timed
  | { type: 'rmdir', parent: FileId, name: string } & Timed
  /** holder: as for unlink, for the file that the rename replaces. */
  | { type: 'rename', parent: FileId, name: string, newParent: FileId, newName: string, flags: number, holder: string } & Timed
  | { type: 'setattr', fileId: FileId, changes: AttributeChanges } & Timed
  | { type: 'setxattr', fileId: FileId, name: string, value: Buffer, flags: number } & Timed
  | { type: 'removexattr', fileId: FileId, name: string } & Timed
  /**
   * Replaces chunk slots after their bytes are stored; sets the size and mtime the writer saw, then the
   * attribute changes made while the file was being written (owner and mode as tar and cp -a restore them).
   */
  | { type: 'commitChunks', fileId: FileId, size: number, updates: ChunkUpdate[], mtimeNs: bigint, attributes: StagedAttributes } & Timed
  /** The last handle of an unlinked-while-open file closed: free it. */
  | { type: 'release', fileId: FileId }
  /** Peer `holder` restarted: the files it kept open after unlink are closed now; other peers' stay. */
  | { type: 'purgeOrphans', holder: string }
  /** `swarmfs remove PEER`: the peer is refused for good; files it held open are released. Idempotent. */
  | { type: 'removePeer', peerId: string }
  /**
   * Repair, rebalance and scrub learned where copies are: per chunk, holders to add and to remove
   * (removals first). Chunks no file references any more are skipped: they were freed meanwhile.
   */
  | { type: 'setLocations', updates: LocationUpdate[] }
  /**
   * flock(2) through a mount: `owner` (file-locks.ts) takes a shared or exclusive lock on the file, or
   * drops its lock (mode LOCK_UNLOCK). A conflicting lock answers EWOULDBLOCK and changes nothing.
   */
  | { type: 'flock', fileId: FileId, owner: string, mode: number }

export interface AttributeChanges {
  mode?: number
  uid?: number
  gid?: number
  size?: number
  atimeNs?: bigint
  mtimeNs?: bigint
}

/** What a commitChunks may change besides the chunks, size and mtime it sets itself. */
export type StagedAttributes = Pick<AttributeChanges, 'mode' | 'uid' | 'gid' | 'atimeNs'>

export interface ChunkUpdate { index: number, ref: ChunkRef | null }

/** chunk: a 32-byte chunk id; add and remove: at most HOLDERS_MAX non-empty peer ids each. */
export interface LocationUpdate { chunk: Buffer, add: string[], remove: string[] }

/** A command or record could not be decoded: malformed or hostile bytes. A plain Error, by design. */
export class DecodeError extends Error {}

const TYPES = ['create', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename', 'setattr', 'setxattr',
  'removexattr', 'commitChunks', 'release', 'purgeOrphans', 'removePeer', 'setLocations', 'flock'] as const // append only: the index is the wire id
/** Types a version 2 command may carry. */
const TYPES_V2_COUNT = 14
/** Types a version 3 or 4 command may carry. */
const TYPES_V4_COUNT = 15
/** A lock owner: a peer id, '/', and the kernel's 64-bit lock owner in hex. */
export const LOCK_OWNER_BYTES_MAX = PEER_ID_BYTES_MAX + 17

function boundedString (limit: number): c.Encoder<string> {
  return {
    preencode (state, value) { c.string.preencode(state, value) },
    encode (state, value) { c.string.encode(state, value) },
    decode (state) {
      const value = c.string.decode(state)
      if (Buffer.byteLength(value) > limit) throw new DecodeError('string too long')
      return value
    }
  }
}
const name = boundedString(NAME_BYTES_MAX)
/** A peer id, or '' where a field allows "no peer" (an unlink's holder). */
export const peerIdCodec = boundedString(PEER_ID_BYTES_MAX)
const target = boundedString(SYMLINK_BYTES_MAX)
/** A peer named as holding a chunk's copy: never ''. */
const holderId: c.Encoder<string> = {
  preencode (state, value) { peerIdCodec.preencode(state, value) },
  encode (state, value) { peerIdCodec.encode(state, value) },
  decode (state) {
    const value = peerIdCodec.decode(state)
    if (value === '') throw new DecodeError('empty holder id')
    return value
  }
}
const holderList = boundedArray(holderId, HOLDERS_MAX)
const xattrName = boundedString(XATTR_NAME_BYTES_MAX)

const safeUint: c.Encoder<number> = {
  preencode (state, value) { c.uint.preencode(state, value) },
  encode (state, value) { c.uint.encode(state, value) },
  decode (state) {
    const value = c.uint.decode(state)
    if (!Number.isSafeInteger(value)) throw new DecodeError('integer out of range')
    return value
  }
}

export const chunkRefCodec: c.Encoder<ChunkRef> = {
  preencode (state, ref) { state.end += CHUNK_ID_BYTES; safeUint.preencode(state, ref.length) },
  encode (state, ref) { c.fixed32.encode(state, ref.id); safeUint.encode(state, ref.length) },
  decode (state) {
    const id = ownedBuffer(c.fixed32.decode(state))
    return { id, length: safeUint.decode(state) }
  }
}

// A commitChunks slot: a flags byte (REF_PRESENT, REF_HOLDERS), the ref, then its holders if flagged.
// An empty holder list is written as none, so every ref has one encoding.
const REF_PRESENT = 1
const REF_HOLDERS = 2
const hasHolders = (ref: ChunkRef): ref is ChunkRef & { holders: string[] } => ref.holders !== undefined && ref.holders.length > 0

const committedRef: c.Encoder<ChunkRef | null> = {
  preencode (state, ref) {
    state.end++
    if (ref === null) return
    chunkRefCodec.preencode(state, ref)
    if (hasHolders(ref)) holderList.preencode(state, ref.holders)
  },
  encode (state, ref) {
    c.uint8.encode(state, ref === null ? 0 : hasHolders(ref) ? REF_PRESENT | REF_HOLDERS : REF_PRESENT)
    if (ref === null) return
    chunkRefCodec.encode(state, ref)
    if (hasHolders(ref)) holderList.encode(state, ref.holders)
  },
  decode (state) {
    const flags = c.uint8.decode(state)
    if (flags === 0) return null
    if (flags !== REF_PRESENT && flags !== (REF_PRESENT | REF_HOLDERS)) throw new DecodeError('bad chunk ref flags')
    const ref = chunkRefCodec.decode(state)
    if (flags === REF_PRESENT) return ref
    const holders = holderList.decode(state)
    if (holders.length === 0) throw new DecodeError('empty holder list flagged')
    return { ...ref, holders }
  }
}

const CHANGE_FIELDS = ['mode', 'uid', 'gid', 'size', 'atimeNs', 'mtimeNs'] as const

const changesCodec: c.Encoder<AttributeChanges> = {
  preencode (state, changes) {
    state.end++
    for (const field of CHANGE_FIELDS) {
      const value = changes[field]
      if (value === undefined) continue
      if (typeof value === 'bigint') c.bigint.preencode(state, value)
      else safeUint.preencode(state, value)
    }
  },
  encode (state, changes) {
    let flags = 0
    CHANGE_FIELDS.forEach((field, bit) => { if (changes[field] !== undefined) flags |= 1 << bit })
    c.uint8.encode(state, flags)
    for (const field of CHANGE_FIELDS) {
      const value = changes[field]
      if (value === undefined) continue
      if (typeof value === 'bigint') c.bigint.encode(state, value)
      else safeUint.encode(state, value)
    }
  },
  decode (state) {
    const flags = c.uint8.decode(state)
    const changes: AttributeChanges = {}
    if (flags & 1) changes.mode = safeUint.decode(state)
    if (flags & 2) changes.uid = safeUint.decode(state)
    if (flags & 4) changes.gid = safeUint.decode(state)
    if (flags & 8) changes.size = safeUint.decode(state)
    if (flags & 16) changes.atimeNs = c.bigint.decode(state)
    if (flags & 32) changes.mtimeNs = c.bigint.decode(state)
    return changes
  }
}

/** A commitChunks' attribute changes: those of a setattr, minus the size and mtime it sets itself. */
const stagedCodec: c.Encoder<StagedAttributes> = {
  preencode (state, changes) { changesCodec.preencode(state, changes) },
  encode (state, changes) { changesCodec.encode(state, changes) },
  decode (state) {
    const changes = changesCodec.decode(state)
    if (changes.size !== undefined || changes.mtimeNs !== undefined) throw new DecodeError('size or mtime among staged attributes')
    return changes
  }
}

// One field list per command type, in wire order; a codec per field kind keeps the table declarative. A
// field added by a later version comes last, with the value that entries of earlier versions stand for.
type FieldCodec = c.Encoder<any>
type Field = [string, FieldCodec] | [string, FieldCodec, { since: number, absent: () => unknown }]
const FIELDS: Record<Command['type'], Field[]> = {
  create: [['parent', safeUint], ['name', name], ['mode', safeUint], ['rdev', safeUint], ['uid', safeUint], ['gid', safeUint], ['nowNs', c.bigint]],
  mkdir: [['parent', safeUint], ['name', name], ['mode', safeUint], ['uid', safeUint], ['gid', safeUint], ['nowNs', c.bigint]],
  symlink: [['parent', safeUint], ['name', name], ['target', target], ['uid', safeUint], ['gid', safeUint], ['nowNs', c.bigint]],
  link: [['fileId', safeUint], ['parent', safeUint], ['name', name], ['nowNs', c.bigint]],
  unlink: [['parent', safeUint], ['name', name], ['holder', peerIdCodec], ['nowNs', c.bigint]],
  rmdir: [['parent', safeUint], ['name', name], ['nowNs', c.bigint]],
  rename: [['parent', safeUint], ['name', name], ['newParent', safeUint], ['newName', name], ['flags', safeUint], ['holder', peerIdCodec], ['nowNs', c.bigint]],
  setattr: [['fileId', safeUint], ['changes', changesCodec], ['nowNs', c.bigint]],
  setxattr: [['fileId', safeUint], ['name', xattrName], ['value', boundedBuffer(XATTR_VALUE_BYTES_MAX)], ['flags', safeUint], ['nowNs', c.bigint]],
  removexattr: [['fileId', safeUint], ['name', xattrName], ['nowNs', c.bigint]],
  commitChunks: [['fileId', safeUint], ['size', safeUint], ['updates', boundedArray({
    preencode (state, update: ChunkUpdate) { safeUint.preencode(state, update.index); committedRef.preencode(state, update.ref) },
    encode (state, update: ChunkUpdate) { safeUint.encode(state, update.index); committedRef.encode(state, update.ref) },
    decode (state) { return { index: safeUint.decode(state), ref: committedRef.decode(state) } }
  }, CHUNK_UPDATES_MAX)], ['mtimeNs', c.bigint], ['nowNs', c.bigint], ['attributes', stagedCodec, { since: 4, absent: () => ({}) }]],
  release: [['fileId', safeUint]],
  purgeOrphans: [['holder', peerIdCodec]],
  removePeer: [['peerId', peerIdCodec]],
  flock: [['fileId', safeUint], ['owner', boundedString(LOCK_OWNER_BYTES_MAX)], ['mode', safeUint]],
  setLocations: [['updates', boundedArray({
    preencode (state, update: LocationUpdate) { state.end += CHUNK_ID_BYTES; holderList.preencode(state, update.add); holderList.preencode(state, update.remove) },
    encode (state, update: LocationUpdate) { c.fixed32.encode(state, update.chunk); holderList.encode(state, update.add); holderList.encode(state, update.remove) },
    decode (state) { return { chunk: Buffer.from(c.fixed32.decode(state)), add: holderList.decode(state), remove: holderList.decode(state) } }
  }, LOCATION_UPDATES_MAX)]]
}

function boundedBuffer (limit: number): c.Encoder<Buffer> {
  return {
    preencode (state, value) { c.buffer.preencode(state, value) },
    encode (state, value) { c.buffer.encode(state, value) },
    decode (state) {
      const value = c.buffer.decode(state)
      if (value === null || value.length > limit) throw new DecodeError('buffer missing or too long')
      return ownedBuffer(value)
    }
  }
}

function boundedArray<T> (item: c.Encoder<T>, limit: number): c.Encoder<T[]> {
  return {
    preencode (state, values) { c.uint.preencode(state, values.length); for (const value of values) item.preencode(state, value) },
    encode (state, values) { c.uint.encode(state, values.length); for (const value of values) item.encode(state, value) },
    decode (state) {
      const length = c.uint.decode(state)
      if (length > limit || length > state.end - state.start) throw new DecodeError('array too long')
      const values: T[] = []
      for (let i = 0; i < length; i++) values.push(item.decode(state))
      return values
    }
  }
}

export const commandCodec: c.Encoder<Command> = {
  preencode (state, command) {
    state.end += 2
    for (const [field, codec] of FIELDS[command.type]) codec.preencode(state, (command as any)[field])
  },
  encode (state, command) {
    c.uint8.encode(state, COMMAND_VERSION)
    c.uint8.encode(state, TYPES.indexOf(command.type))
    for (const [field, codec] of FIELDS[command.type]) codec.encode(state, (command as any)[field])
  },
  decode (state) {
    const version = c.uint8.decode(state)
    if (version < COMMAND_VERSION_MIN || version > COMMAND_VERSION) throw new DecodeError('unknown command version')
    const typeId = c.uint8.decode(state)
    const type = TYPES[typeId]
    if (type === undefined || (version === 2 && typeId >= TYPES_V2_COUNT) || (version <= 4 && typeId >= TYPES_V4_COUNT)) throw new DecodeError('unknown command type')
    const command: Record<string, unknown> = { type }
    for (const [field, codec, added] of FIELDS[type]) command[field] = added !== undefined && version < added.since ? added.absent() : codec.decode(state)
    if (version === 2 && type === 'commitChunks' && (command.updates as ChunkUpdate[]).some((update) => update.ref?.holders !== undefined)) {
      throw new DecodeError('holders in a version 2 command')
    }
    return command as unknown as Command
  }
}

/**
 * A copy of `bytes` in memory of its own. Buffer.from() puts small copies in slices of a shared 8 KiB
 * pool, and a slice that lives on in the state (a chunk id, an xattr value) keeps its whole slab alive.
 */
export function ownedBuffer (bytes: Uint8Array): Buffer {
  const copy = new Uint8Array(bytes)
  return Buffer.from(copy.buffer, 0, copy.byteLength)
}

export function encodeCommand (command: Command): Buffer {
  return Buffer.from(c.encode(commandCodec, command))
}

/** Decodes a command; any malformed input throws DecodeError and nothing else. */
export function decodeCommand (bytes: Uint8Array): Command {
  try {
    const state = c.state(0, bytes.length, bytes)
    const command = commandCodec.decode(state)
    if (state.start !== state.end) throw new DecodeError('trailing bytes after command')
    return command
  } catch (error) {
    if (error instanceof DecodeError) throw error
    throw new DecodeError(`malformed command: ${(error as Error).message}`)
  }
}
