// Admission: proof that the other end of a Noise session holds the cluster's connection-auth key.
// Each side sends BLAKE2b(key = auth key, 'swarmfs-cap-v1' ‖ role ‖ handshake hash). The handshake hash
// is unique to the session, so a capability can't be replayed on another connection, and the role byte
// (initiator or responder) keeps a peer from reflecting ours back to us.
import { equalConstantTime, hash } from '../../native/crypto.js'

const LABEL = Buffer.from('swarmfs-cap-v1')

export function capability (authKey: Uint8Array, handshakeHash: Uint8Array, isInitiator: boolean): Buffer {
  return hash(Buffer.concat([LABEL, Buffer.from([isInitiator ? 1 : 0]), handshakeHash]), authKey)
}

/** Checks what the remote sent: it was computed with the remote's role, the opposite of ours. */
export function verifyCapability (authKey: Uint8Array, handshakeHash: Uint8Array, localIsInitiator: boolean, received: Uint8Array): boolean {
  return equalConstantTime(capability(authKey, handshakeHash, !localIsInitiator), received)
}
