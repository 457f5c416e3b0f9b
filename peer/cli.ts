#!/usr/bin/env -S node --initial-old-space-size=64
// The swarmfs command line: `init` founds a cluster, `invite` and `join` add peers to it, `up` runs the
// peer daemon in the foreground with its mount, `status` asks a running daemon, `scrub`, `repair` and
// `rebalance` have it run a pass now and show its progress, `import` copies a tree into a mount with
// progress, `remove` expels a peer, `bootstrap` runs a DHT bootstrap node, `unmount` detaches a mount
// (also a dead one), `doctor` checks the machine. Settings: flags > environment > config file >
// defaults (config.ts). Exit codes: 0 ok, 1 failure (or a failed check or pass), 2 usage or
// configuration error, 3 no daemon running.
import './threadpool.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { unmountPath } from '../native/fuse.js'
import HyperDHT from 'hyperdht'
import { runBootstrapNode } from './bootstrap-node.js'
import { createSecret, readSecret } from './cluster-keys.js'
import { CACHE_MB_DEFAULT, CONFIG_FILE_NAME, ConfigError, DISK_CACHE_MB_DEFAULT } from './config.js'
import type { Settings } from './config.js'
import { loadSettings } from './config-file.js'
import { requestControl } from './control.js'
import { Daemon } from './daemon.js'
import { dataDir } from './data-dir.js'
import { demo } from './demo.js'
import { doctor, formatReport } from './doctor.js'
import { IMPORT_FILES_PARALLEL, importTarget, importTree, measureTree } from './import-tree.js'
import type { ImportProgress } from './import-tree.js'
import { decodeInvite, encodeInvite } from './invite.js'
import { stderrLogger } from './log.js'
import type { Logger } from './log.js'
import type { PassJob, PassKind } from './pass-jobs.js'
import { formatBytes, formatDuration } from './progress.js'
import { PLAIN_INTERVAL_MS, ProgressReporter } from './progress-reporter.js'

/** How often a pass's progress is asked for. */
const POLL_INTERVAL_MS = 500

const HELP: Record<string, string> = {
  main: `swarmfs — a distributed filesystem you mount

Usage: swarmfs <command> [options]

Commands:
  init       --data DIR                   create a new cluster and this peer's data directory
  invite     --data DIR                   print an invite to this peer's cluster (treat it like a key)
  join       INVITE --data DIR            create a data directory for a new peer of an invited cluster
  up         --data DIR --mount MNT       run the peer daemon and mount the filesystem (foreground)
  status     --data DIR [--json]          show what a running peer and its cluster are doing
  scrub      --data DIR                   verify every chunk this peer stores, now, with progress
  repair     --data DIR [--no-grace]      restore the missing copies of this peer's chunks now, with progress
  rebalance  --data DIR                   move chunks onto peers that joined, now, with progress
  import     SRC DEST                     copy a local file or tree into a mount, with progress
  remove     PEER --data DIR              remove a peer from the cluster for good
  bootstrap  --host ADDR --port N         run a DHT bootstrap node for private networks and tests
  unmount    MNT                          unmount a swarmfs mount (also one left by a killed daemon)
  demo       [--peers N] [--dir DIR]      run a throwaway local cluster with mounts under DIR until Ctrl-C
  doctor     [--data DIR] [--bootstrap L] check this machine (FUSE, keys, disk, clock, bootstrap) and say how to fix it

Settings come from flags, else SWARMFS_* environment variables, else the config file (DIR/${CONFIG_FILE_NAME},
or --config FILE), else defaults: see 'swarmfs up --help'.
Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 no peer running on DIR.
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
                  [--allow-other] [--cache-mb N] [--disk-cache-mb N] [--metrics HOST:PORT [--metrics-public]]
                  [--log-level LEVEL] [--log-format text|json] [--config FILE]

Runs the peer daemon in the foreground and mounts the filesystem at MNT.
Each setting comes from its flag, else from its environment variable, else from the config file, else
from its default (flags > environment > config file > defaults); an empty variable counts as unset.
  --data DIR        the peer's data directory (env SWARMFS_DATA)
  --mount MNT       an existing empty directory to mount at (env SWARMFS_MOUNT)
  --bootstrap L     DHT bootstrap nodes to find the cluster's peers through ('public': hyperswarm's public
                    DHT); without it the peer runs alone and offline (env SWARMFS_BOOTSTRAP)
  --host ADDR       address the DHT socket binds to and is reachable at (env SWARMFS_HOST)
  --allow-other     let other users use the mount; permissions are still enforced (env SWARMFS_ALLOW_OTHER)
  --cache-mb N      plaintext chunk cache size in MiB (default ${CACHE_MB_DEFAULT}; env SWARMFS_CACHE_MB)
  --disk-cache-mb N disk space in MiB for copies of other peers' chunks kept after reading them here,
                    least recently read evicted first; 0: off (default ${DISK_CACHE_MB_DEFAULT}; env SWARMFS_DISK_CACHE_MB)
  --metrics A       serve Prometheus metrics at http://A/metrics, A being HOST:PORT, e.g. 127.0.0.1:9464
                    (env SWARMFS_METRICS; default: off). A non-loopback HOST is refused unless
                    --metrics-public is also given (env SWARMFS_METRICS_PUBLIC): the metrics name peers
  --log-level L     debug, info (default), warn or error (env SWARMFS_LOG_LEVEL)
  --log-format F    text: one logfmt line per event, 'time=… level=… event=… key=value' (default);
                    json: one JSON object per line (env SWARMFS_LOG_FORMAT)
  --config FILE     read settings from FILE instead of DIR/${CONFIG_FILE_NAME} (env SWARMFS_CONFIG)

The config file holds 'key = value' lines, the keys being the long flag names above, '#' starting a
comment line; booleans are true/false. DIR/${CONFIG_FILE_NAME} cannot set data (a --config file can):
  mount = /mnt/swarmfs
  bootstrap = 10.0.0.1:49737
  cache-mb = 256
A malformed file, an unknown key or a bad value stops the start with the file, line and key named.
Logs go to stderr. SIGINT or SIGTERM commits open files, unmounts and exits 0; so does an umount of MNT.`,
  status: `Usage: swarmfs status --data DIR [--json]

Prints the state of the peer running on DIR and of the peers it knows: leader, members, peers up,
suspect or down, disk capacity, cache hit rate, disk cache used and bound with its hits, this peer's
capacity and share of the placement weight, under-replicated chunks, scrub and pass progress.
--json prints one JSON object (id, role, term, leader, peers[{id, role, state, lastHeartbeat, lag}],
disk, placement, chunks (diskCache, replication, keeper), passes, …). Exit code 3: no peer running.`,
  scrub: `Usage: swarmfs scrub --data DIR [--json]

Asks the peer running on DIR to verify every chunk it stores now, at full speed (the background
scrubber spreads a pass over a day, SWARMFS_SCRUB_PERIOD_S, at SWARMFS_SCRUB_MBPS at most): each is
read, decrypted and checked against its id; a bad copy is replaced by a good one from another peer (a
peer running alone can only report it).
Shows progress (a bar with rate and ETA on a terminal, a line every ${PLAIN_INTERVAL_MS / 1000} s otherwise) and a summary;
--json prints the finished job instead. Interrupting the command does not stop the pass.
Exit code 0: every copy is good (or was replaced); 1: a bad copy stayed or the pass failed; 3: no peer running.`,
  repair: `Usage: swarmfs repair --data DIR [--no-grace] [--json]

Asks the peer running on DIR to run a repair pass now: every chunk it coordinates that has fewer than
3 live copies is copied to live peers, without the per-round limit of the background repair. Peers
count as gone after 120 s without an answer (SWARMFS_REPAIR_GRACE_S); --no-grace treats every peer not
answering right now as gone (when you know a machine is dead). Progress and exit codes as for scrub;
exit code 1 also when a copy could not be made.`,
  rebalance: `Usage: swarmfs rebalance --data DIR [--json]

Asks the peer running on DIR to run a rebalance pass now: chunks it coordinates move onto peers that
joined since it started, where placement ranks them higher than a current holder. Progress and exit
codes as for scrub.`,
  import: `Usage: swarmfs import SRC DEST [--json]

Copies the file or directory tree SRC to DEST like 'cp -r' (into DEST when DEST is a directory),
through the mount: DEST is a path inside a swarmfs mount. Files stream in 1 MiB pieces, ${IMPORT_FILES_PARALLEL} at a time;
modes, times and symlinks are kept (owners too when run as root); devices, sockets and FIFOs are
skipped. Shows progress (a bar with rate and ETA on a terminal, a line every ${PLAIN_INTERVAL_MS / 1000} s otherwise);
--json prints a summary object. Exit code 0: everything copied; 1: some entries failed (listed).`,
  remove: `Usage: swarmfs remove PEER --data DIR [--json]

Asks the cluster (through the peer running on DIR) to remove PEER (its id, or a unique prefix of it, as
'swarmfs status' shows) for good: the leader drops it from the metadata group and every peer refuses its
connections from then on.`,
  bootstrap: `Usage: swarmfs bootstrap --host ADDR --port N [--log-level LEVEL] [--log-format text|json]

Runs a hyperswarm DHT bootstrap node at ADDR:N in the foreground (port 0 picks a free port) and prints
'bootstrap ADDR:PORT'. Point peers at it with 'swarmfs up --bootstrap ADDR:PORT'.`,
  demo: `Usage: swarmfs demo [--peers N] [--dir DIR] [--log-level LEVEL] [--log-format text|json]

Starts a local bootstrap node and N peer daemons (default 3), each a separate process on 127.0.0.1, as one
cluster with data and mounts under DIR (default /tmp/swarmfs-demo); prints what to try; on Ctrl-C every
peer unmounts and stops, and DIR is removed.`,
  unmount: `Usage: swarmfs unmount MNT

Unmounts MNT (lazily if it is busy). The daemon serving it, if one still runs, then stops.`,
  doctor: `Usage: swarmfs doctor [--data DIR] [--bootstrap HOST:PORT[,…]] [--json]

Checks what a peer needs from this machine and prints a fix for each failure: libfuse2, /dev/fuse,
fusermount, a sane clock; with --data also that DIR's keys are 0600 and that its disk has 1 GiB free
(a warning below that); with --bootstrap also that a bootstrap node answers over UDP within 5 s.
DIR and the bootstrap list may also come from SWARMFS_DATA, SWARMFS_BOOTSTRAP or the config file.
--json prints {ok, checks[{name, state, detail, fix}]}. Exit code 0: every check passed (warnings
allowed); 1: some failed.`
}

class UsageError extends Error {
  readonly command: string | null
  constructor (message: string, command: string | null = null) {
    super(message)
    this.command = command
  }
}

/** The daemon is not there (as opposed to a daemon that answered with an error). */
function noDaemon (error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTSOCK'
}

function parse (command: string, args: string[]): ReturnType<typeof parseWith> {
  try {
    return parseWith(args)
  } catch (error) {
    throw new UsageError((error as Error).message, command)
  }
}

function parseWith (args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      mount: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      'allow-other': { type: 'boolean' },
      'cache-mb': { type: 'string' },
      'disk-cache-mb': { type: 'string' },
      dir: { type: 'string', default: '/tmp/swarmfs-demo' },
      bootstrap: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      peers: { type: 'string', default: '3' },
      metrics: { type: 'string' },
      'metrics-public': { type: 'boolean' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      'no-grace': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
}

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP.main)
    return command === undefined ? 2 : 0
  }
  const help = HELP[command]
  if (help === undefined || command === 'main') throw new UsageError(`unknown command '${command}'`)
  const { values, positionals } = parse(command, rest)
  if (values.help) { console.log(help); return 0 }
  const { settings, configFile } = await loadSettings(values, process.env)
  const data = (): string => {
    if (settings.data === undefined) throw new UsageError(`${command} needs --data (or SWARMFS_DATA)`, command)
    return settings.data
  }
  const positional = (what: string): string => {
    const value = positionals[0]
    if (value === undefined) throw new UsageError(`${command} needs ${what}`, command)
    return value
  }
  const logger = (): Logger => stderrLogger(settings.logLevel, settings.logFormat)
  switch (command) {
    case 'init': return await init(data())
    case 'invite': return await invite(data())
    case 'join': return await join(positional('an invite'), data())
    case 'up': return await up(settings, configFile, command)
    case 'status': return await status(data(), values.json)
    case 'scrub':
    case 'repair':
    case 'rebalance': return await pass(command, data(), { json: values.json, noGrace: values['no-grace'] })
    case 'import': {
      if (positionals.length !== 2) throw new UsageError('import needs SRC and DEST', command)
      return await importCommand(positionals[0]!, positionals[1]!, values.json)
    }
    case 'remove': return await remove(positional('a peer id'), data(), values.json)
    case 'bootstrap': {
      if (values.host === undefined || values.port === undefined) throw new UsageError('bootstrap needs --host and --port', command)
      return await runBootstrapNode(values.host, port(values.port), logger())
    }
    case 'demo': {
      const peers = Number(values.peers)
      if (!Number.isInteger(peers) || peers < 1 || peers > 9) throw new UsageError('--peers must be between 1 and 9', command)
      return await demo(values.dir, peers, { logger: logger(), logLevel: settings.logLevel, logFormat: settings.logFormat })
    }
    case 'doctor': {
      const { bootstrap } = settings
      if (bootstrap === 'public') throw new UsageError('doctor checks a private bootstrap list (HOST:PORT[,…]), not public', command)
      const report = await doctor({ ...(settings.data !== undefined ? { data: settings.data } : {}), ...(bootstrap !== undefined ? { bootstrap } : {}) })
      console.log(values.json ? JSON.stringify(report) : formatReport(report))
      return report.ok ? 0 : 1
    }
    case 'unmount': {
      const mountpoint = positionals[0] ?? settings.mount
      if (mountpoint === undefined) throw new UsageError('unmount needs a mountpoint', command)
      await unmountPath(mountpoint)
      return 0
    }
  }
  return 2
}

function port (text: string): number {
  const value = Number(text)
  if (!/^\d+$/.test(text) || value > 65535) throw new UsageError(`'${text}' is not a port number`, 'bootstrap')
  return value
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

async function up (settings: Settings, configFile: string | null, command: string): Promise<number> {
  const { data, mount } = settings
  if (data === undefined) throw new UsageError('up needs --data (or SWARMFS_DATA)', command)
  if (mount === undefined) throw new UsageError('up needs --mount (or SWARMFS_MOUNT, or mount in the config file)', command)
  const logger = stderrLogger(settings.logLevel, settings.logFormat)
  logger.info('daemon.starting', { data: dataDir(data).root, mount, config: configFile ?? 'none', cluster: settings.bootstrap === undefined ? 'offline' : 'online', nodeFlags: process.execArgv.join(' ') || 'none' })
  for (const [key, where] of Object.entries(settings.sources)) logger.debug('setting', { key, from: where })
  const daemon = new Daemon({
    data,
    mount,
    allowOther: settings.allowOther,
    cacheBytesMax: settings.cacheMb * 1024 * 1024,
    diskCacheBytesMax: settings.diskCacheMb * 1024 * 1024,
    ...(settings.bootstrap !== undefined ? { bootstrap: settings.bootstrap } : {}),
    ...(settings.host !== undefined ? { host: settings.host } : {}),
    ...(settings.metrics !== undefined ? { metrics: settings.metrics } : {}),
    logger
  })
  const shutdown = (signal: string): void => {
    logger.info('daemon.stopping', { signal })
    daemon.stop().catch((error: unknown) => {
      logger.error('daemon.stop_failed', { error: error instanceof Error ? error : String(error) })
      process.exit(1)
    })
  }
  process.once('SIGINT', () => shutdown('SIGINT'))
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  await daemon.start()
  await daemon.finished
  logger.info('daemon.stopped')
  // Everything is stopped: a handle some library left open must not keep the process alive.
  process.exit(Number(process.exitCode ?? 0))
}

async function remove (peer: string, data: string, json: boolean): Promise<number> {
  const result = await requestControl(dataDir(data).controlSocket, { op: 'remove', peer }) as { removed: string }
  console.log(json ? JSON.stringify(result) : `removed ${result.removed} from the cluster`)
  return 0
}

/** Runs a scrub, repair or rebalance pass in the daemon and follows it until it ends. */
async function pass (kind: PassKind, data: string, options: { json: boolean, noGrace: boolean }): Promise<number> {
  const socket = dataDir(data).controlSocket
  let job: PassJob
  try {
    job = await requestControl(socket, { op: 'pass', kind, noGrace: options.noGrace }) as PassJob
  } catch (error) {
    if (!noDaemon(error)) throw error
    console.error(`no peer is running on ${dataDir(data).root} (${(error as Error).message})`)
    return 3
  }
  const reporter = options.json ? null : new ProgressReporter(process.stderr, { label: kind, unit: 'chunks' })
  for (;;) {
    const { progress } = job
    const total = job.state === 'running' && progress.chunksTotal === 0 ? null : progress.chunksTotal
    reporter?.update(progress.chunksDone, total, passDetail(job))
    if (job.state !== 'running') break
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS))
    try {
      job = await requestControl(socket, { op: 'job', id: job.id }) as PassJob
    } catch (error) {
      reporter?.clear()
      throw new Error(`lost the daemon during the ${kind} pass: ${(error as Error).message}`)
    }
  }
  reporter?.clear()
  if (options.json) console.log(JSON.stringify(job))
  else if (job.state === 'failed') console.error(`swarmfs: ${kind} failed: ${job.error ?? 'unknown error'}`)
  else console.log(passSummary(job))
  return job.state === 'done' && job.progress.failed === 0 ? 0 : 1
}

function passDetail (job: PassJob): string {
  const { progress } = job
  if (job.kind === 'scrub') return `${formatBytes(progress.bytesDone)} verified, ${progress.fixed} replaced, ${progress.failed} bad`
  return `${progress.fixed} copies made, ${progress.failed} failed`
}

function passSummary (job: PassJob): string {
  const { progress } = job
  const seconds = job.finishedAt === null ? 0 : (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000
  const took = `in ${formatDuration(seconds)}`
  switch (job.kind) {
    case 'scrub':
      return `scrub: ${progress.chunksDone} chunks verified (${formatBytes(progress.bytesDone)}) ${took}; ` +
        `${progress.fixed} bad copies replaced, ${progress.failed} could not be replaced`
    case 'repair':
      return `repair: ${progress.chunksDone} chunks checked ${took}; ${progress.fixed} copies made, ${progress.failed} failed; ` +
        `${progress.underReplicated} chunks still short of live copies`
    case 'rebalance':
      return `rebalance: ${progress.chunksDone} chunks checked ${took}; ${progress.fixed} copies moved to new peers, ${progress.failed} failed`
  }
}

async function importCommand (source: string, destination: string, json: boolean): Promise<number> {
  const target = await importTarget(source, destination)
  const totals = await measureTree(source)
  const progress: ImportProgress = { filesTotal: totals.files, bytesTotal: totals.bytes, filesDone: 0, bytesDone: 0, skipped: 0, failed: 0, failures: [] }
  const reporter = json ? null : new ProgressReporter(process.stderr, { label: 'import', unit: 'bytes' })
  const show = (): void => {
    reporter?.update(progress.bytesDone, progress.bytesTotal, `${progress.filesDone}/${progress.filesTotal} files${progress.failed > 0 ? `, ${progress.failed} failed` : ''}`)
  }
  const started = Date.now()
  show()
  await importTree(source, target, progress, show)
  reporter?.clear()
  const seconds = (Date.now() - started) / 1000
  if (json) {
    console.log(JSON.stringify({ target, ...progress, seconds }))
  } else {
    for (const failure of progress.failures) console.error(`swarmfs: import: ${failure.path}: ${failure.error}`)
    if (progress.failed > progress.failures.length) console.error(`swarmfs: import: … and ${progress.failed - progress.failures.length} more failures`)
    const rate = seconds > 0 ? `, ${formatBytes(progress.bytesDone / seconds)}/s` : ''
    const skipped = progress.skipped > 0 ? `; ${progress.skipped} special files skipped` : ''
    console.log(`import: ${progress.filesDone} files (${formatBytes(progress.bytesDone)}) copied to ${target} in ${formatDuration(seconds)}${rate}; ${progress.failed} failed${skipped}`)
  }
  return progress.failed === 0 ? 0 : 1
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
    diskLine(result.disk),
    `cache       ${formatBytes(cache.bytes ?? 0)} of ${formatBytes(cache.bytesMax ?? 0)}, ${cache.hits ?? 0} hits / ${cache.misses ?? 0} misses${hitRate(cache)}`,
    ...diskCacheLines(result.chunks.diskCache),
    ...placementLines(result.placement, result.id as string),
    ...replicationLines(result.chunks.replication, result.chunks.keeper),
    ...passLines(result.passes as PassJob[] | undefined),
    'peers       (* this peer; lag: committed entries not yet applied)',
    ...table
  ].join('\n'))
  return 0
}

function diskLine (disk: { path: string, bytesTotal: number, bytesFree: number, bytesAvailable: number } | null | undefined): string {
  if (disk === null || disk === undefined) return 'disk        unknown'
  const used = disk.bytesTotal - disk.bytesFree
  const percent = disk.bytesTotal === 0 ? 0 : Math.round(100 * used / disk.bytesTotal)
  return `disk        ${formatBytes(used)} used of ${formatBytes(disk.bytesTotal)} (${percent}%), ${formatBytes(disk.bytesAvailable)} available (${disk.path})`
}

/** The disk cache tier: copies of other peers' chunks kept here after reading them. */
function diskCacheLines (diskCache: Record<string, number> | null | undefined): string[] {
  if (diskCache === null || diskCache === undefined) return []
  if (diskCache.bytesMax === 0) return ['disk cache  off']
  return [`disk cache  ${formatBytes(diskCache.bytes ?? 0)} of ${formatBytes(diskCache.bytesMax ?? 0)} in ${diskCache.chunks ?? 0} chunks, ${diskCache.hits ?? 0} hits, ${diskCache.evicted ?? 0} evicted`]
}

/** This peer's capacity for placement and its share of the total weight. */
function placementLines (placement: { peers: Array<{ id: string, capacityBytes: number | null, weight: number }> } | null | undefined, self: string): string[] {
  if (placement === null || placement === undefined || placement.peers.length === 0) return []
  const own = placement.peers.find((peer) => peer.id === self)
  if (own === undefined) return []
  const total = placement.peers.reduce((sum, peer) => sum + peer.weight, 0)
  const capacity = own.capacityBytes === null ? 'not measured yet' : formatBytes(own.capacityBytes)
  return [`placement   capacity ${capacity}, ${(100 * own.weight / total).toFixed(0)}% of the placement weight of ${placement.peers.length} peers`]
}

function hitRate (cache: Record<string, number>): string {
  const total = (cache.hits ?? 0) + (cache.misses ?? 0)
  return total === 0 ? '' : ` (${(100 * (cache.hits ?? 0) / total).toFixed(1)}% hits)`
}

function replicationLines (replication: Record<string, number> | null, keeper: Record<string, number> | null): string[] {
  if (replication === null || keeper === null) return ['chunks      this peer runs alone: no replication, repair or rebalance']
  return [
    `chunks      ${keeper.underReplicated} under-replicated here; ${keeper.copiesMade} copies made by repair/rebalance, ${keeper.surplusDeleted} surplus removed`,
    `scrub       pass ${keeper.scrubPass}, ${(100 * keeper.scrubProgress!).toFixed(0)}% done, ${keeper.scrubbed} verified, ${keeper.scrubRepaired} repaired (${replication.readRepairs} on read)`,
    `transfers   ${replication.replicasWritten} replicas written, ${replication.stored} stored for peers, ${replication.fetched} fetched, ${replication.served} served`
  ]
}

function passLines (passes: PassJob[] | undefined): string[] {
  if (passes === undefined || passes.length === 0) return []
  return passes.map((job) => {
    const { chunksDone, chunksTotal } = job.progress
    const percent = chunksTotal === 0 ? 0 : Math.floor(100 * chunksDone / chunksTotal)
    return `running     ${job.kind} ${percent}% (${chunksDone} of ${chunksTotal} chunks), ${passDetail(job)}`
  })
}

// A closed log pipe (the reader of our output went away) must not kill the daemon before it unmounts.
process.stdout.on('error', () => {})
process.stderr.on('error', () => {})

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`swarmfs: ${error.message}\n\n${HELP[error.command ?? 'main'] ?? HELP.main}`)
    process.exitCode = 2
  } else if (error instanceof ConfigError) {
    console.error(`swarmfs: ${error.message}`)
    process.exitCode = 2
  } else {
    console.error(`swarmfs: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  }
})
