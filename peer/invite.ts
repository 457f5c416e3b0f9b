// An invite is the cluster secret in a form that survives copy and paste: a versioned prefix, the
// secret, and a check value that catches a mistyped or truncated invite with a clear error instead of
// a peer that silently forms a cluster of its own. Whoever holds an invite can join: share it like a key.
import { hash } from '../native/crypto.js'

const PREFIX = 'swarmfs1'
const SECRET_HEX = 64
const CHECK_HEX = 8

export class InviteError extends Error {
  readonly code = 'EINVITE'
}

function check (secret: Uint8Array): string {
  return hash(Buffer.concat([Buffer.from('swarmfs-invite-check'), secret])).subarray(0, CHECK_HEX / 2).toString('hex')
}

export function encodeInvite (secret: Uint8Array): string {
  if (secret.length !== SECRET_HEX / 2) throw new RangeError('a cluster secret is 32 bytes')
  const hex = Buffer.from(secret).toString('hex')
  return `${PREFIX}${hex}${check(secret)}`
}

/** The cluster secret in `invite`; throws InviteError for anything that is not a valid invite. */
export function decodeInvite (invite: string): Buffer {
  if (typeof invite !== 'string') throw new InviteError('an invite is a string')
  const text = invite.trim()
  if (!text.startsWith(PREFIX)) throw new InviteError(`not a swarmfs invite (it starts with '${PREFIX}')`)
  const body = text.slice(PREFIX.length)
  if (body.length !== SECRET_HEX + CHECK_HEX || !/^[0-9a-f]+$/.test(body)) {
    throw new InviteError(`malformed invite: expected ${SECRET_HEX + CHECK_HEX} hex digits after '${PREFIX}', got ${body.length} characters`)
  }
  const secret = Buffer.from(body.slice(0, SECRET_HEX), 'hex')
  if (body.slice(SECRET_HEX) !== check(secret)) throw new InviteError('invite check failed: it was altered or mistyped')
  return secret
}
