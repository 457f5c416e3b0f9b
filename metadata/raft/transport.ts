// How Raft messages leave and arrive. The core never calls this (it returns messages in Ready); the
// node wrapper does. Implementations: protomux over hyperswarm in peer/wire/raft-channel.ts, and the
// simulator's faulty in-memory network in test/sim/network.ts. Ordering, delivery and uniqueness are
// not promised: Raft tolerates loss, duplication and reordering (paper §5.1 "RPCs … retried").
// Snapshots are already split into bounded chunks by the core, so a transport never needs to hold a
// whole snapshot and heartbeats are not stuck behind one.
import type { Message } from './messages.js'

export interface Transport {
  send: (messages: readonly Message[]) => void
  // Registers the single receiver of inbound messages (a later call replaces it, e.g. after restart).
  onMessage: (handler: (message: Message) => void) => void
}
