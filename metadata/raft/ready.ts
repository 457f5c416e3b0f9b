// The Ready value: the core's only output (etcd node.go). The application handles one Ready at a
// time, in this order, then calls advance(ready):
//   1. persist `snapshot` (if any), `entries` (replacing any conflicting suffix) and `hardState`;
//      if `mustSync`, make them durable (fsync) — one sync for the whole Ready is group commit;
//   2. send `messagesAfterPersist` (they may only leave once step 1 is durable);
//      `messages` may be sent at any time, even before step 1 (thesis §10.2.1: the leader writes its
//      log in parallel with replicating it);
//   3. restore the state machine from `snapshot` if any, then apply `committedEntries` in order;
//   4. serve each `readStates` entry once the applied index reaches its index;
//   5. advance(ready).
// Why the split (thesis §3.8, etcd msgsAfterAppend): AppendEntries/InstallSnapshot replies promise
// that the log is stored, and vote replies promise the vote is remembered; if they left before the
// fsync, a crash could make a server forget an entry it acknowledged or vote twice in a term.
import type { Entry, HardState, Message, NodeId, Snapshot } from './messages.js'
import type { ReadState, Role } from './raft.js'

export interface SoftState {
  lead: NodeId
  role: Role
}

export interface Ready {
  // Term, vote and commit to persist; null when unchanged since the previous Ready.
  hardState: HardState | null
  softState: SoftState
  entries: Entry[]
  snapshot: Snapshot | null
  committedEntries: Entry[]
  messages: Message[]
  messagesAfterPersist: Message[]
  readStates: ReadState[]
  mustSync: boolean
}

// Paper Fig. 2 "persistent state on all servers": term, vote and log must reach stable storage before
// responding to RPCs; commit alone may be lost (it is re-learned from the leader).
export function mustSync (current: HardState, previous: HardState, entryCount: number, hasSnapshot: boolean): boolean {
  return entryCount > 0 || hasSnapshot || current.term !== previous.term || current.vote !== previous.vote
}
