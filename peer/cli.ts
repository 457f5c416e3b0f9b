#!/usr/bin/env node
// The swarmfs command line: `init` founds a cluster, `invite` and `join` add peers to it, `up` runs the
// peer daemon in the foreground with its mount, `status` asks a running daemon, `remove` expels a peer,
// `bootstrap` runs a DHT bootstrap node, `unmount` detaches a mount (also a dead one), `doctor` checks
// the machine. Exit codes: 0 ok, 1 error (or a failed doctor check), 2 usage, 3 no daemon running.
import './threadpool.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { unmountPath } from '../native/fuse.js'
import HyperDHT from 'hyperdht'
import { runBootstrapNode } from './bootstrap-node.js'
import { createSecret, readSecret } from './cluster-keys.js'
import { requestControl } from './control.js'
import { Daemon } from './daemon.js'
import type { DaemonOptions } from './daemon.js'
import { dataDir } from './data-dir.js'
import { demo } from './demo.js'
import { doctor, formatReport } from './doctor.js'
import { decodeInvite, encodeInvite } from './invite.js'
import { isLoopback, parseMetricsAddress } from './metrics.js'
import type { MetricsAddress } from './metrics.js'
import type { Address } from './net/network.js'

const CACHE_MB_DEFAULT = 64

const HELP: Record<string, string> = {
  main: `swarmfs — a distributed filesystem you mount

Usage: swarmfs <command> [options]

Commands:
  init       --data DIR                   create a new cluster and this peer's data directory
  invite     --data DIR                   print an invite to this peer's cluster (treat it like a key)
  join       INVITE --data DIR            create a data directory for a new peer of an invited cluster
  up         --data DIR --mount MNT       run the peer daemon and mount the filesystem (foreground)
  status     --data DIR [--json]          show what a running peer and its cluster are doing
  remove     PEER --data DIR              remove a peer from the cluster for good
  bootstrap  --host ADDR --port N         run a DHT bootstrap node for private networks and tests
  unmount    MNT                          unmount a swarmfs mount (also one left by a killed daemon)
  demo       [--peers N] [--dir DIR]      run a throwaway local cluster with mounts under DIR until Ctrl-C
  doctor     [--data DIR] [--bootstrap L] check this machine (FUSE, keys, disk, clock, bootstrap) and say how to fix it

Run 'swarmfs <command> --help' for a command's options.`,
  init: `Usage: swarmfs init --data DIR

Creates DIR (mode 0700) with a new random cluster secret (cluster.key, mode 0600) and a peer identity
(peer.key, mode 0600). This peer founds the cluster's metadata group.`,
  invite: `Usage: swarmfs invite --data DIR

Prints an invite to the cluster of the peer in DIR. Anyone holding it can join the cluster and read its
files: hand it over like a key.`,
  join: `Usage: swarmfs join INVITE --data DIR

Creates DIR (mode 0700) for a new peer of the invited cluster. Start it with 'swarmfs up … --bootstrap';
the cluster's leader admits it as a learner, sends it the metadata, and promotes it to voter while the
group has fewer than 3 (or 5) voters.`,
  up: `Usage: swarmfs up --data DIR --mount MNT [--bootstrap HOST:PORT[,…]|public] [--host ADDR]
                  [--allow-other] [--cache-mb N] [--metrics HOST:PORT [--metrics-public]]

Runs the peer daemon in the foreground and mounts the filesystem at MNT.
Each setting comes from its flag, else from its environment variable, else from its default
(flags > environment > defaults); an empty variable counts as unset.
  --data DIR      the peer's data directory (env SWARMFS_DATA)
  --mount MNT     an existing empty directory to mount at (env SWARMFS_MOUNT)
  --bootstrap L   DHT bootstrap nodes to find the cluster's peers through ('public': hyperswarm's public
                  DHT); without it the peer runs alone and offline (env SWARMFS_BOOTSTRAP)
  --host ADDR     address the DHT socket binds to and is reachable at (env SWARMFS_HOST)
  --allow-other   let other users use the mount (permissions are still enforced)
  --cache-mb N    plaintext chunk cache size in MiB (default ${CACHE_MB_DEFAULT})
  --metrics A     serve Prometheus metrics at http://A/metrics, A being HOST:PORT, e.g. 127.0.0.1:9464
                  (env SWARMFS_METRICS; default: off). A non-loopback HOST is refused unless
                  --metrics-public is also given: the metrics name the cluster's peers
SIGINT or SIGTERM commits open files, unmounts and exits 0.`,
  status: `Usage: swarmfs status --data DIR [--json]

Prints the state of the peer running on DIR and of the peers it knows; --json prints one JSON object
(id, role, term, leader, peers[{id, role, state, lastHeartbeat, lag}], …). Exit code 3: no peer running.`,
  remove: `Usage: swarmfs remove PEER --data DIR

Asks the cluster (through the peer running on DIR) to remove PEER (its id, or a unique prefix of it, as
'swarmfs status' shows) for good: the leader drops it from the metadata group and every peer refuses its
connections from then on.`,
  bootstrap: `Usage: swarmfs bootstrap --host ADDR --port N

Runs a hyperswarm DHT bootstrap node at ADDR:N in the foreground (port 0 picks a free port) and prints
'bootstrap ADDR:PORT'. Point peers at it with 'swarmfs up --bootstrap ADDR:PORT'.`,
  demo: `Usage: swarmfs demo [--peers N] [--dir DIR]

Starts a local bootstrap node and N peer daemons (default 3), each a separate process on 127.0.0.1, as one
cluster with data and mounts under DIR (default /tmp/swarmfs-demo); prints what to try; on Ctrl-C every
peer unmounts and stops, and DIR is removed.`,
  unmount: `Usage: swarmfs unmount MNT

Unmounts MNT (lazily if it is busy).`,
  doctor: `Usage: swarmfs doctor [--data DIR] [--bootstrap HOST:PORT[,…]] [--json]

Checks what a peer needs from this machine and prints a fix for each failure: libfuse2, /dev/fuse,
fusermount, a sane clock; with --data also that DIR's keys are 0600 and that its disk has 1 GiB free
(a warning below that); with --bootstrap also that a bootstrap node answers over UDP within 5 s.
DIR and the bootstrap list default to SWARMFS_DATA and SWARMFS_BOOTSTRAP. --json prints
{ok, checks[{name, state, detail, fix}]}. Exit code 0: every check passed (warnings allowed); 1: some failed.`
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
      bootstrap: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      peers: { type: 'string', default: '3' },
      metrics: { type: 'string' },
      'metrics-public': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) { console.log(help); return 0 }
  const required = (name: 'data' | 'mount'): string => {
    const value = values[name]
    if (value === undefined) throw new UsageError(`${command} needs --${name}`)
    return value
  }
  // Flags win over the environment, the environment over defaults.
  const setting = (name: 'data' | 'mount' | 'bootstrap' | 'host' | 'metrics'): string | undefined => {
    const value = values[name] ?? process.env[`SWARMFS_${name.toUpperCase()}`]
    return value === '' ? undefined : value
  }
  const positional = (what: string): string => {
    const value = positionals[0]
    if (value === undefined) throw new UsageError(`${command} needs ${what}`)
    return value
  }
  switch (command) {
    case 'init': return await init(required('data'))
    case 'invite': return await invite(required('data'))
    case 'join': return await join(positional('an invite'), required('data'))
    case 'up': {
      const data = setting('data')
      const mount = setting('mount')
      if (data === undefined) throw new UsageError('up needs --data (or SWARMFS_DATA)')
      if (mount === undefined) throw new UsageError('up needs --mount (or SWARMFS_MOUNT)')
      const bootstrap = setting('bootstrap')
      const host = setting('host')
      const metrics = metricsAddress(setting('metrics'), values['metrics-public'])
      return await up({
        data,
        mount,
        allowOther: values['allow-other'],
        cacheBytesMax: cacheBytes(values['cache-mb']),
        ...(bootstrap !== undefined ? { bootstrap: bootstrap === 'public' ? 'public' : addresses(bootstrap) } : {}),
        ...(host !== undefined ? { host } : {}),
        ...(metrics !== undefined ? { metrics } : {})
      })
    }
    case 'status': return await status(required('data'), values.json)
    case 'remove': return await remove(positional('a peer id'), required('data'), values.json)
    case 'bootstrap': {
      if (values.host === undefined || values.port === undefined) throw new UsageError('bootstrap needs --host and --port')
      return await runBootstrapNode(values.host, port(values.port))
    }
    case 'demo': {
      const peers = Number(values.peers)
      if (!Number.isInteger(peers) || peers < 1 || peers > 9) throw new UsageError('--peers must be between 1 and 9')
      return await demo(values.dir, peers)
    }
    case 'doctor': {
      const bootstrap = setting('bootstrap')
      if (bootstrap === 'public') throw new UsageError('doctor checks a private bootstrap list (HOST:PORT[,…]), not public')
      const data = setting('data')
      const report = await doctor({ ...(data !== undefined ? { data } : {}), ...(bootstrap !== undefined ? { bootstrap: addresses(bootstrap) } : {}) })
      console.log(values.json ? JSON.stringify(report) : formatReport(report))
      return report.ok ? 0 : 1
    }
    case 'unmount': {
      const mountpoint = positionals[0] ?? values.mount
      if (mountpoint === undefined) throw new UsageError('unmount needs a mountpoint')
      await unmountPath(mountpoint)
      return 0
    }
  }
  return 2
}

function port (text: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new UsageError(`'${text}' is not a port number`)
  return value
}

function addresses (list: string): Address[] {
  return list.split(',').map((item) => {
    const match = /^(.+):(\d+)$/.exec(item.trim())
    if (match === null) throw new UsageError(`bootstrap address '${item}' is not HOST:PORT`)
    return { host: match[1]!, port: port(match[2]!) }
  })
}

function metricsAddress (text: string | undefined, allowPublic: boolean): MetricsAddress | undefined {
  if (text === undefined || text === 'off') return undefined
  let address: MetricsAddress
  try {
    address = parseMetricsAddress(text)
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  if (!isLoopback(address.host) && !allowPublic) {
    throw new UsageError(`--metrics ${text} is not a loopback address: add --metrics-public to serve metrics to the network`)
  }
  return address
}

function cacheBytes (text: string | undefined): number {
  const megabytes = text === undefined ? CACHE_MB_DEFAULT : Number(text)
  if (!Number.isInteger(megabytes) || megabytes < 1) throw new UsageError('--cache-mb must be a positive integer')
  return megabytes * 1024 * 1024
}

async function init (data: string): Promise<number> {
  const peer = await createPeer(data, { founder: true })
  console.log(`initialised ${dataDir(data).root}: new cluster, peer ${peer.id}`)
  return 0
}

async function join (inviteText: string, data: string): Promise<number> {
  const secret = decodeInvite(inviteText)
  const peer = await createPeer(data, { founder: false, secret })
  console.log(`initialised ${dataDir(data).root}: peer ${peer.id} of the invited cluster; start it with swarmfs up --bootstrap …`)
  return 0
}

async function invite (data: string): Promise<number> {
  console.log(encodeInvite(await readSecret(dataDir(data).secretFile)))
  return 0
}

/** A data directory with the cluster secret (new, or from an invite), a peer key and peer.json. */
async function createPeer (data: string, options: { founder: boolean, secret?: Buffer }): Promise<{ id: string }> {
  const dir = dataDir(data)
  await mkdir(dir.root, { recursive: true, mode: 0o700 })
  await createSecret(dir.secretFile, options.secret).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') throw new Error(`${dir.root} already holds a cluster (cluster.key exists)`)
    throw error
  })
  const seed = await createSecret(dir.peerKeyFile)
  const peer = { id: HyperDHT.keyPair(seed).publicKey.toString('hex'), createdAt: new Date().toISOString(), founder: options.founder }
  await writeFile(dir.peerFile, JSON.stringify(peer, null, 2) + '\n', { mode: 0o600 })
  return peer
}

async function up (options: Omit<DaemonOptions, 'log'>): Promise<number> {
  const log = (line: string): void => { console.error(`${new Date().toISOString()} swarmfs: ${line}`) }
  const daemon = new Daemon({ ...options, log })
  const stopped = new Promise<void>((resolve) => {
    const shutdown = (signal: string): void => {
      log(`${signal}: unmounting`)
      daemon.stop().then(resolve, (error: unknown) => { log(`stopping failed: ${String(error)}`); process.exit(1) })
    }
    process.once('SIGINT', () => shutdown('SIGINT'))
    process.once('SIGTERM', () => shutdown('SIGTERM'))
  })
  await daemon.start()
  await stopped
  log('stopped')
  return 0
}

async function remove (peer: string, data: string, json: boolean): Promise<number> {
  const result = await requestControl(dataDir(data).controlSocket, { op: 'remove', peer }) as { removed: string }
  console.log(json ? JSON.stringify(result) : `removed ${result.removed} from the cluster`)
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
  const peers = result.peers as Array<{ id: string, role: string, state: string, self: boolean, lastHeartbeat: string | null, lag: number | null }>
  const ago = (iso: string | null): string => iso === null ? 'never' : `${Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))} s ago`
  const rows = [['PEER', 'ROLE', 'STATE', 'HEARTBEAT', 'LAG'],
    ...peers.map((peer) => [peer.id.slice(0, 12) + (peer.self ? '*' : ''), peer.role, peer.state, peer.self ? '-' : ago(peer.lastHeartbeat), peer.lag === null ? '?' : String(peer.lag)])]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  const table = rows.map((row) => '  ' + row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd())
  console.log([
    `peer        ${String(result.id)} (${String(result.role)})`,
    `leader      ${result.leader === '' ? 'none known' : String(result.leader).slice(0, 12)}, term ${String(result.term)}`,
    `metadata    commit ${String(result.commitIndex)}, applied ${String(result.appliedIndex)}, ${metadata.inodes} inodes, snapshot at ${metadata.snapshotIndex}`,
    `members     ${(result.voters as string[]).length} voters, ${(result.learners as string[]).length} learners`,
    `mount       ${String(result.mountpoint)}`,
    `uptime      ${String(result.uptimeSeconds)} s`,
    `cache       ${Math.round((cache.bytes ?? 0) / 1048576)} MiB of ${Math.round((cache.bytesMax ?? 0) / 1048576)} MiB, ${cache.hits ?? 0} hits / ${cache.misses ?? 0} misses${hitRate(cache)}`,
    ...replicationLines(result.chunks.replication, result.chunks.keeper),
    'peers       (* this peer; lag: committed entries not yet applied)',
    ...table
  ].join('\n'))
  return 0
}

function hitRate (cache: Record<string, number>): string {
  const total = (cache.hits ?? 0) + (cache.misses ?? 0)
  return total === 0 ? '' : ` (${(100 * (cache.hits ?? 0) / total).toFixed(1)}% hits)`
}

function replicationLines (replication: Record<string, number> | null, keeper: Record<string, number> | null): string[] {
  if (replication === null || keeper === null) return []
  return [
    `chunks      ${keeper.underReplicated} under-replicated here; ${keeper.copiesMade} copies made by repair/rebalance, ${keeper.surplusDeleted} surplus removed`,
    `scrub       pass ${keeper.scrubPass}, ${(100 * keeper.scrubProgress!).toFixed(0)}% done, ${keeper.scrubbed} verified, ${keeper.scrubRepaired} repaired (${replication.readRepairs} on read)`,
    `transfers   ${replication.replicasWritten} replicas written, ${replication.stored} stored for peers, ${replication.fetched} fetched, ${replication.served} served`
  ]
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
