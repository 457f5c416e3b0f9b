#!/usr/bin/env node
// The swarmfs command line: `init` makes a data directory, `up` runs the peer daemon in the foreground
// with its mount, `status` asks a running daemon, `unmount` detaches a mount (also a dead one).
import './threadpool.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { randomBytes } from '../native/crypto.js'
import { unmountPath } from '../native/fuse.js'
import { createSecret } from './cluster-keys.js'
import { requestControl } from './control.js'
import { Daemon } from './daemon.js'
import { dataDir } from './data-dir.js'
import { demo } from './demo.js'

const CACHE_MB_DEFAULT = 64

const HELP: Record<string, string> = {
  main: `swarmfs — a distributed filesystem you mount

Usage: swarmfs <command> [options]

Commands:
  init     --data DIR                     create a new cluster and this peer's data directory
  up       --data DIR --mount MNT         run the peer daemon and mount the filesystem (foreground)
  status   --data DIR [--json]            show what a running peer is doing
  unmount  MNT                            unmount a swarmfs mount (also one left by a killed daemon)
  demo     [--dir DIR]                    run a throwaway peer with a mount under DIR until Ctrl-C

Run 'swarmfs <command> --help' for a command's options.`,
  init: `Usage: swarmfs init --data DIR

Creates DIR (mode 0700) with a new random cluster secret (cluster.key, mode 0600) and a peer identity.`,
  up: `Usage: swarmfs up --data DIR --mount MNT [--allow-other] [--cache-mb N]

Runs the peer daemon in the foreground and mounts the filesystem at MNT.
  --allow-other   let other users use the mount (permissions are still enforced)
  --cache-mb N    plaintext chunk cache size in MiB (default ${CACHE_MB_DEFAULT})
SIGINT or SIGTERM commits open files, unmounts and exits 0.`,
  status: `Usage: swarmfs status --data DIR [--json]

Prints the state of the peer running on DIR; --json prints one JSON object.`,
  demo: `Usage: swarmfs demo [--dir DIR]

Creates a throwaway peer (data and mount under DIR, default /tmp/swarmfs-demo), mounts it, prints what to
try, and on Ctrl-C unmounts, stops and removes DIR.`,
  unmount: `Usage: swarmfs unmount MNT

Unmounts MNT (lazily if it is busy).`
}

class UsageError extends Error {}

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP.main)
    return command === undefined ? 2 : 0
  }
  const help = HELP[command]
  if (help === undefined || command === 'main') throw new UsageError(`unknown command '${command}'`)
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      mount: { type: 'string' },
      json: { type: 'boolean', default: false },
      'allow-other': { type: 'boolean', default: false },
      'cache-mb': { type: 'string' },
      dir: { type: 'string', default: '/tmp/swarmfs-demo' },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) { console.log(help); return 0 }
  const required = (name: 'data' | 'mount'): string => {
    const value = values[name]
    if (value === undefined) throw new UsageError(`${command} needs --${name}`)
    return value
  }
  switch (command) {
    case 'init': return await init(required('data'))
    case 'up': return await up(required('data'), required('mount'), values['allow-other'], cacheBytes(values['cache-mb']))
    case 'status': return await status(required('data'), values.json)
    case 'demo': return await demo(values.dir)
    case 'unmount': {
      const mountpoint = positionals[0] ?? values.mount
      if (mountpoint === undefined) throw new UsageError('unmount needs a mountpoint')
      await unmountPath(mountpoint)
      return 0
    }
  }
  return 2
}

function cacheBytes (text: string | undefined): number {
  const megabytes = text === undefined ? CACHE_MB_DEFAULT : Number(text)
  if (!Number.isInteger(megabytes) || megabytes < 1) throw new UsageError('--cache-mb must be a positive integer')
  return megabytes * 1024 * 1024
}

async function init (data: string): Promise<number> {
  const dir = dataDir(data)
  await mkdir(dir.root, { recursive: true, mode: 0o700 })
  await createSecret(dir.secretFile).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') throw new Error(`${dir.root} already holds a cluster (cluster.key exists)`)
    throw error
  })
  const peer = { id: randomBytes(8).toString('hex'), createdAt: new Date().toISOString() }
  await writeFile(dir.peerFile, JSON.stringify(peer, null, 2) + '\n', { mode: 0o600 })
  console.log(`initialised ${dir.root}: new cluster, peer ${peer.id}`)
  return 0
}

async function up (data: string, mount: string, allowOther: boolean, cacheBytesMax: number): Promise<number> {
  const log = (line: string): void => { console.error(`${new Date().toISOString()} swarmfs: ${line}`) }
  const daemon = new Daemon({ data, mount, allowOther, cacheBytesMax, log })
  await daemon.start()
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string): void => {
      daemon.stop().then(resolve, (error: unknown) => { log(`stopping failed: ${String(error)}`); process.exit(1) })
      log(`${signal}: unmounting`)
    }
    process.once('SIGINT', () => shutdown('SIGINT'))
    process.once('SIGTERM', () => shutdown('SIGTERM'))
  })
  log('stopped')
  return 0
}

async function status (data: string, json: boolean): Promise<number> {
  let result: Record<string, any>
  try {
    result = await requestControl(dataDir(data).controlSocket, { op: 'status' }) as Record<string, any>
  } catch (error) {
    const message = `no peer is running on ${dataDir(data).root} (${(error as Error).message})`
    if (json) console.log(JSON.stringify({ running: false, error: message }))
    else console.error(message)
    return 3
  }
  if (json) { console.log(JSON.stringify({ running: true, ...result })); return 0 }
  const metadata = result.metadata as Record<string, number>
  const cache = result.chunks.cache as Record<string, number>
  const peers = (result.peers as Array<{ id: string, role: string, state: string }>).map((peer) => `${peer.id} ${peer.role} ${peer.state}`)
  console.log([
    `peer        ${String(result.id)} (${String(result.role)}, term ${String(result.term)}, leader ${String(result.leader)})`,
    `mount       ${String(result.mountpoint)}`,
    `uptime      ${String(result.uptimeSeconds)} s`,
    `metadata    ${metadata.inodes} inodes, commit ${String(result.commitIndex)}, applied ${String(result.appliedIndex)}, snapshot at ${metadata.snapshotIndex}`,
    `members     ${peers.join(', ')}`,
    `cache       ${Math.round((cache.bytes ?? 0) / 1048576)} MiB of ${Math.round((cache.bytesMax ?? 0) / 1048576)} MiB, ${cache.hits ?? 0} hits / ${cache.misses ?? 0} misses`
  ].join('\n'))
  return 0
}

// A closed log pipe (the reader of our output went away) must not kill the daemon before it unmounts.
process.stdout.on('error', () => {})
process.stderr.on('error', () => {})

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`swarmfs: ${error.message}\n\n${HELP.main}`)
    process.exitCode = 2
  } else {
    console.error(`swarmfs: ${(error as Error).message}`)
    process.exitCode = 1
  }
})
