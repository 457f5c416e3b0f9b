// The arguments mount(8) hands a mount helper — `mount.fuse.swarmfs DATA MNT [-sfnv] [-o OPTIONS]`, as
// for `mount -t fuse.swarmfs DATA MNT -o …` or an /etc/fstab line — turned into `swarmfs up` flags.
// Options that mean something to mount(8) or systemd but not to us (defaults, _netdev, nofail, x-…)
// are ignored; an unknown option is refused unless -s (sloppy) is given, so that a typo in fstab shows.
// Pure.

export class MountUsageError extends Error {}

/** `-o` options that become `swarmfs up` flags; '_' and '-' are both accepted in names. */
const VALUE_OPTIONS: Record<string, string> = {
  config: '--config',
  bootstrap: '--bootstrap',
  host: '--host',
  'cache-mb': '--cache-mb',
  'disk-cache-mb': '--disk-cache-mb',
  metrics: '--metrics',
  'log-level': '--log-level',
  'log-format': '--log-format'
}
const SWITCH_OPTIONS: Record<string, string> = {
  'allow-other': '--allow-other',
  'metrics-public': '--metrics-public'
}
/** Meaningful to mount(8), fstab or systemd; nothing for swarmfs to do. */
const IGNORED_OPTIONS = new Set(['defaults', 'rw', 'auto', 'noauto', 'user', 'nouser', 'users', 'group', 'owner',
  '_netdev', 'nofail', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'async', 'atime', 'noatime',
  'relatime', 'norelatime', 'strictatime', 'lazytime', 'nodiratime', 'diratime'])
const IGNORED_PREFIXES = ['x-', 'comment=']

export interface MountRequest {
  data: string
  mountpoint: string
  /** Flags for `swarmfs up` beyond --data and --mount. */
  flags: string[]
  /** Where the daemon's output goes; null: DATA/swarmfs.log. */
  logFile: string | null
  /** -f: check everything, mount nothing. */
  fake: boolean
  verbose: boolean
  /** Options ignored (for -v). */
  ignored: string[]
}

export const MOUNT_USAGE = `Usage: mount.fuse.swarmfs DATA MNT [-sfnv] [-o OPTIONS]
  (run by mount -t fuse.swarmfs DATA MNT -o OPTIONS, or by an /etc/fstab line:
   DATA  MNT  fuse.swarmfs  defaults,_netdev,bootstrap=HOST:PORT  0  0)
Starts 'swarmfs up --data DATA --mount MNT' in the background, logging to DATA/swarmfs.log, and returns
once MNT is mounted. OPTIONS: allow_other, metrics_public, config=FILE, bootstrap=HOST:PORT, host=ADDR,
cache_mb=N, disk_cache_mb=N, metrics=HOST:PORT, log_level=LEVEL, log_format=text|json, log=FILE; mount(8)'s own options
(defaults, _netdev, nofail, noauto, x-…) are ignored. More settings (several bootstrap nodes, as
-o splits at commas): DATA/swarmfs.conf.
'umount MNT' stops the daemon. Exit codes: 0 mounted, 1 usage, 32 mount failure.`

/** Parses the helper's argument list (without node and the script). */
export function parseMountArguments (argv: readonly string[]): MountRequest {
  const positionals: string[] = []
  const optionLists: string[] = []
  let fake = false
  let verbose = false
  let sloppy = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '-o') {
      const list = argv[++i]
      if (list === undefined) throw new MountUsageError('-o needs a list of options')
      optionLists.push(list)
    } else if (arg.startsWith('-o') && arg.length > 2) {
      optionLists.push(arg.slice(2))
    } else if (/^-[sfnv]+$/.test(arg)) {
      if (arg.includes('f')) fake = true
      if (arg.includes('v')) verbose = true
      if (arg.includes('s')) sloppy = true
    } else if (arg.startsWith('-')) {
      throw new MountUsageError(`unknown flag ${arg}`)
    } else {
      positionals.push(arg)
    }
  }
  if (positionals.length !== 2) throw new MountUsageError('needs DATA (the peer\'s data directory) and MNT (the mountpoint)')
  const [data, mountpoint] = positionals as [string, string]
  const flags: string[] = []
  const ignored: string[] = []
  let logFile: string | null = null
  for (const option of optionLists.flatMap((list) => list.split(',')).filter((option) => option !== '')) {
    const equals = option.indexOf('=')
    const name = (equals < 0 ? option : option.slice(0, equals)).replace(/_/g, '-')
    const value = equals < 0 ? null : option.slice(equals + 1)
    if (name === 'ro') throw new MountUsageError('read-only mounts (ro) are not supported')
    if (name === 'log') {
      if (value === null || value === '') throw new MountUsageError('log needs a file: log=FILE')
      logFile = value
    } else if (Object.hasOwn(VALUE_OPTIONS, name)) {
      if (value === null || value === '') throw new MountUsageError(`${name} needs a value: ${name}=…`)
      flags.push(VALUE_OPTIONS[name]!, value)
    } else if (Object.hasOwn(SWITCH_OPTIONS, name) && value === null) {
      flags.push(SWITCH_OPTIONS[name]!)
    } else if (IGNORED_OPTIONS.has(option) || IGNORED_PREFIXES.some((prefix) => option.startsWith(prefix))) {
      ignored.push(option)
    } else if (sloppy) {
      ignored.push(option)
    } else {
      throw new MountUsageError(`unknown option '${option}' (-s ignores unknown options)`)
    }
  }
  return { data, mountpoint, flags, logFile, fake, verbose, ignored }
}
