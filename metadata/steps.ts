// Work that can be done a step at a time is a generator (a snapshot encoded or decoded between other
// work); where it must be done at once, this runs it to the end.

/** Runs `steps` to their end; returns what the last one returned. */
export function runSteps<T> (steps: Generator<unknown, T, undefined>): T {
  for (;;) {
    const next = steps.next()
    if (next.done === true) return next.value
  }
}
