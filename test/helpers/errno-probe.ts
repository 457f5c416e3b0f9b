// A child process that runs file-system calls for a test and reports each call's result or errno as
// JSON, so tests get exact errnos and stat fields without touching the mount from the test process.
// Usage: node errno-probe.js '<json array of steps>'; each step is [op, ...args]. An argument "$N" is
// replaced by the result of step N (e.g. an fd from "open"). Prints one JSON array: per step either
// { ok: value } or { error: "ENOENT" }. Stats carry every field as a decimal string (bigint, ns times).
import fs from 'node:fs'

type Step = [string, ...unknown[]]
export type ProbeResult = { ok: unknown } | { error: string }

function statObject (stat: fs.BigIntStats): Record<string, string> {
  const out: Record<string, string> = {}
  for (const key of ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks', 'atimeNs', 'mtimeNs', 'ctimeNs'] as const) {
    out[key] = String(stat[key])
  }
  return out
}

const OPEN_FLAGS: Record<string, number> = {
  r: fs.constants.O_RDONLY,
  'r+': fs.constants.O_RDWR,
  w: fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC,
  'w+': fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC,
  wx: fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL,
  a: fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND
}

function call (op: string, args: unknown[]): unknown {
  const s = (i: number): string => String(args[i])
  const n = (i: number): number => Number(args[i])
  switch (op) {
    case 'open': return fs.openSync(s(0), OPEN_FLAGS[s(1)] ?? s(1), args[2] === undefined ? 0o644 : n(2))
    case 'close': fs.closeSync(n(0)); return null
    case 'write': return fs.writeSync(n(0), Buffer.from(s(1)), 0, Buffer.byteLength(s(1)), args[2] === undefined ? null : n(2))
    case 'read': {
      const buffer = Buffer.alloc(n(1))
      const count = fs.readSync(n(0), buffer, 0, n(1), n(2))
      return buffer.subarray(0, count).toString()
    }
    case 'fsync': fs.fsyncSync(n(0)); return null
    case 'access': fs.accessSync(s(0), n(1)); return null
    case 'utimes': fs.utimesSync(s(0), n(1), n(2)); return null
    case 'ftruncate': fs.ftruncateSync(n(0), n(1)); return null
    case 'fstat': return statObject(fs.fstatSync(n(0), { bigint: true }))
    case 'stat': return statObject(fs.statSync(s(0), { bigint: true }))
    case 'lstat': return statObject(fs.lstatSync(s(0), { bigint: true }))
    case 'mkdir': fs.mkdirSync(s(0), args[1] === undefined ? 0o777 : n(1)); return null
    case 'rmdir': fs.rmdirSync(s(0)); return null
    case 'unlink': fs.unlinkSync(s(0)); return null
    case 'rename': fs.renameSync(s(0), s(1)); return null
    case 'link': fs.linkSync(s(0), s(1)); return null
    case 'symlink': fs.symlinkSync(s(0), s(1)); return null
    case 'readlink': return fs.readlinkSync(s(0))
    case 'chmod': fs.chmodSync(s(0), n(1)); return null
    case 'chown': fs.chownSync(s(0), n(1), n(2)); return null
    case 'truncate': fs.truncateSync(s(0), n(1)); return null
    case 'writeFile': fs.writeFileSync(s(0), s(1)); return null
    case 'readFile': return fs.readFileSync(s(0)).toString()
    case 'readdir': return fs.readdirSync(s(0)).sort()
    case 'exists': return fs.existsSync(s(0))
    case 'sleep': Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, n(0)); return null
    default: throw new Error(`unknown probe op ${op}`)
  }
}

const steps = JSON.parse(process.argv[2] ?? '[]') as Step[]
const results: ProbeResult[] = []
for (const [op, ...rawArgs] of steps) {
  const args = rawArgs.map((arg) => {
    if (typeof arg !== 'string' || !/^\$\d+$/.test(arg)) return arg
    const earlier = results[Number(arg.slice(1))]
    return earlier !== undefined && 'ok' in earlier ? earlier.ok : arg
  })
  try {
    results.push({ ok: call(op, args) })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === undefined) throw error
    results.push({ error: code })
  }
}
process.stdout.write(JSON.stringify(results) + '\n')
