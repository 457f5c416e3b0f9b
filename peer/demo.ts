// `swarmfs demo`: a working cluster in one command. It starts a DHT bootstrap node and N peer daemons
// as separate processes, all on 127.0.0.1 (nothing else is contacted), founds a cluster on the first
// and joins the others with its invite, mounts each peer's view under DIR, prints what to try, and on
// Ctrl-C stops every peer (each unmounts) and the bootstrap node, and removes DIR.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { bootstrapAddressOf } from './bootstrap-node.js'
import type { LogFormat, LogLevel, Logger } from './log.js'
import { isSwarmfsMounted } from '../native/mount-table.js'
import { DAEMON_NODE_FLAGS } from './node-flags.js'

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url))
const START_WAIT_MS = 60_000

async function runCli (args: string[]): Promise<string> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`swarmfs ${args[0]!} failed`)
  return output.trim()
}

async function stopChild (child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  return await exited
}

/** Starts `swarmfs bootstrap` on a free loopback port and resolves with its address. */
async function startBootstrap (logArgs: string[]): Promise<{ child: ChildProcess, address: string }> {
  const child = spawn(process.execPath, [CLI, 'bootstrap', '--host', '127.0.0.1', '--port', '0', ...logArgs], { stdio: ['ignore', 'pipe', 'inherit'] })
  const address = await bootstrapAddressOf(child)
  return { child, address }
}

export interface DemoLogging {
  logger: Logger
  /** Passed on to the bootstrap node and the peers, which log to the demo's stderr. */
  logLevel: LogLevel
  logFormat: LogFormat
}

export async function demo (directory: string, peers: number, logging: DemoLogging): Promise<number> {
  const { logger } = logging
  const logArgs = ['--log-level', logging.logLevel, '--log-format', logging.logFormat]
  const root = path.resolve(directory)
  await rm(root, { recursive: true, force: true })
  await mkdir(root, { recursive: true })
  const bootstrap = await startBootstrap(logArgs)
  const daemons: ChildProcess[] = []
  const names = Array.from({ length: peers }, (_, i) => `peer${i + 1}`)
  let stopping = false
  const stopAll = async (): Promise<number[]> => {
    stopping = true
    const codes = await Promise.all(daemons.map(async (daemon) => await stopChild(daemon)))
    await stopChild(bootstrap.child)
    await rm(root, { recursive: true, force: true })
    return codes.map((code) => code ?? 1)
  }
  try {
    for (const [i, name] of names.entries()) {
      const data = path.join(root, name, 'data')
      await mkdir(path.join(root, name, 'mnt'), { recursive: true })
      if (i === 0) await runCli(['init', '--data', data])
      else await runCli(['join', await runCli(['invite', '--data', path.join(root, names[0]!, 'data')]), '--data', data])
    }
    for (const name of names) {
      const args = ['up', '--data', path.join(root, name, 'data'), '--mount', path.join(root, name, 'mnt'), '--bootstrap', bootstrap.address, '--host', '127.0.0.1', ...logArgs]
      const daemon = spawn(process.execPath, [...DAEMON_NODE_FLAGS, CLI, ...args], { stdio: ['ignore', 'inherit', 'inherit'] })
      daemon.once('exit', (code) => { if (!stopping) logger.warn('demo.peer_exited', { peer: name, code }) })
      daemons.push(daemon)
    }
    const deadline = Date.now() + START_WAIT_MS
    for (const name of names) {
      while (!(await isSwarmfsMounted(path.join(root, name, 'mnt')))) {
        if (daemons.some((daemon) => daemon.exitCode !== null) || Date.now() > deadline) throw new Error(`${name} did not come up`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  } catch (error) {
    await stopAll()
    throw error
  }
  const [first, second] = [names[0]!, names[1] ?? names[0]!]
  console.log(`
swarmfs: a ${peers}-peer cluster is running on 127.0.0.1, each peer a separate process with its own mount:
${names.map((name) => `  ${path.join(root, name, 'mnt')}`).join('\n')}
They are one filesystem. Try, in another terminal:

  echo hello > ${path.join(root, first, 'mnt', 'hello.txt')}
  cat ${path.join(root, second, 'mnt', 'hello.txt')}
  cp -a /usr/share/doc/git ${path.join(root, first, 'mnt')}/ && du -sh ${path.join(root, second, 'mnt', 'git')}
  node ${CLI} status --data ${path.join(root, first, 'data')}

Kill a peer (kill -9 <pid>) and watch status elect a new leader; the other mounts keep working.
Press Ctrl-C to stop: every peer unmounts and the demo removes ${root}.
`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
  const codes = await stopAll()
  const clean = codes.every((code) => code === 0)
  console.log(clean ? 'demo stopped; nothing left mounted or running' : `some peers exited with errors: ${codes.join(' ')}`)
  return clean ? 0 : 1
}
