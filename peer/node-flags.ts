// The V8 flags a daemon runs with. Every chunk that crosses the transport arrives in fresh
// ArrayBuffers (the UDP stream's read buffers, the encrypted stream's 4 MiB message), and V8 counts
// those against its old generation's allocation limit, which for a daemon's heap of ~10 MB lies a few
// MB away: a cold 256 MiB read from other peers ran 32 full mark-compacts, with their marking threads
// taking a quarter of a core. A 64 MB floor for that limit cut them to 6: cold reads on 3 peers
// ~78 → ~93 MB/s, writes with R = 3 ~45 → ~49 MB/s, for ~30 MB more peak RSS in those runs (the tree
// runs, whose heap is past 64 MB anyway, did not move). A flag of heap configuration only takes
// effect on the command line (not in NODE_OPTIONS, nor set at run time), so the `swarmfs` binary's
// first line carries it too (test/peer/node-flags.test.ts checks that it matches).
export const DAEMON_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64']
