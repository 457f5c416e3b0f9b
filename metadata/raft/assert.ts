// Programmer-error assertions for the Raft core. A failed assertion means a broken invariant (a bug),
// never an operating condition: it throws AssertionError and the caller is expected to crash
// (TigerBeetle style). Operating errors are RaftError values (errors.ts).

export class AssertionError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'AssertionError'
  }
}

export function assert (condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message)
}
