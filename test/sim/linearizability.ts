// A Porcupine-style linearizability checker (Wing & Gong's search with Lowe's memoization, and
// P-compositionality: each key of the register model is checked on its own). A history is
// linearizable if every operation can be placed at one instant between its call and its return so that
// the sequence is legal for a sequential register. An operation whose outcome the client never learned
// (a timed-out put) has return time Infinity: it may take effect at any point after its call, or never.

export interface Operation<I, O> {
  client: number
  call: number // simulated time the client invoked it
  ret: number // simulated time it returned; Infinity if unknown
  input: I
  output: O
}

export interface Model<S, I, O> {
  partition: (op: Operation<I, O>) => string
  init: () => S
  // Applies input to state: null if output is impossible from this state, else the new state.
  step: (state: S, input: I, output: O) => { next: S } | null
  stateKey: (state: S) => string
}

export type CheckResult = { ok: true } | { ok: false, partition: string, operations: Array<Operation<unknown, unknown>> } | { ok: 'unknown', partition: string }

const SEARCH_STEPS_MAX = 2_000_000

export function checkLinearizable<S, I, O> (model: Model<S, I, O>, history: Array<Operation<I, O>>): CheckResult {
  const partitions = new Map<string, Array<Operation<I, O>>>()
  for (const op of history) {
    const key = model.partition(op)
    const list = partitions.get(key) ?? []
    list.push(op)
    partitions.set(key, list)
  }
  for (const [key, ops] of partitions) {
    const result = checkPartition(model, ops)
    if (result === 'unknown') return { ok: 'unknown', partition: key }
    if (!result) return { ok: false, partition: key, operations: ops as Array<Operation<unknown, unknown>> }
  }
  return { ok: true }
}

function checkPartition<S, I, O> (model: Model<S, I, O>, ops: Array<Operation<I, O>>): boolean | 'unknown' {
  const n = ops.length
  const done = new Uint8Array(n)
  const seen = new Set<string>()
  let steps = 0
  const search = (state: S, remaining: number): boolean | 'unknown' => {
    if (++steps > SEARCH_STEPS_MAX) return 'unknown'
    // Every remaining op is one whose effect is unknown: they may simply never have happened.
    let minReturn = Infinity
    let definite = 0
    for (let i = 0; i < n; i++) {
      if (done[i] === 1) continue
      const op = ops[i] as Operation<I, O>
      if (op.ret !== Infinity) definite++
      if (op.ret < minReturn) minReturn = op.ret
    }
    if (remaining === 0 || definite === 0) return true
    const memo = `${doneKey(done)}#${model.stateKey(state)}`
    if (seen.has(memo)) return false
    seen.add(memo)
    for (let i = 0; i < n; i++) {
      if (done[i] === 1) continue
      const op = ops[i] as Operation<I, O>
      // Only an op called no later than the earliest pending return can be linearized next.
      if (op.call > minReturn) continue
      const next = model.step(state, op.input, op.output)
      if (next === null) continue
      done[i] = 1
      const result = search(next.next, remaining - 1)
      done[i] = 0
      if (result !== false) return result
    }
    return false
  }
  return search(model.init(), n)
}

function doneKey (done: Uint8Array): string {
  let s = ''
  for (let i = 0; i < done.length; i += 8) {
    let byte = 0
    for (let j = 0; j < 8 && i + j < done.length; j++) byte |= (done[i + j] as number) << j
    s += String.fromCharCode(byte + 65)
  }
  return s
}

// The register model the simulator uses: put(key, value) → ok; get(key) → value | null.
export type RegisterInput = { kind: 'put', key: string, value: string } | { kind: 'get', key: string }
export type RegisterOutput = { value: string | null } | { ok: true }

export const registerModel: Model<string | null, RegisterInput, RegisterOutput> = {
  partition: (op) => op.input.key,
  init: () => null,
  step: (state, input, output) => {
    if (input.kind === 'put') return { next: input.value }
    return 'value' in output && output.value === state ? { next: state } : null
  },
  stateKey: (state) => (state === null ? '∅' : `=${state}`)
}
