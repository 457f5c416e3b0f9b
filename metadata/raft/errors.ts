// Operating errors of the Raft core and its node wrapper. They carry a stable code so callers (the
// filesystem, the control socket) can map them to errnos without parsing strings.

export type RaftErrorCode =
  | 'NO_LEADER' // no known leader: the proposal or read cannot be placed now (retry later)
  | 'NOT_LEADER' // the operation must run on the leader (conf changes, leader transfer)
  | 'PROPOSAL_DROPPED' // leader refused: transfer in progress, too many uncommitted bytes, entry too big
  | 'CONF_CHANGE_PENDING' // another configuration change is not yet committed (thesis §4.1)
  | 'INVALID_CONF_CHANGE' // the change does not apply to the current configuration
  | 'TIMEOUT' // a bounded wait ran out
  | 'STOPPED' // the node was stopped while the request waited

export class RaftError extends Error {
  readonly code: RaftErrorCode
  constructor (code: RaftErrorCode, message: string) {
    super(`${code}: ${message}`)
    this.name = 'RaftError'
    this.code = code
  }
}
