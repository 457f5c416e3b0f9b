// Test hosts in network namespaces (STACK.md §5): one bridge with no address (the root namespace stays
// unreachable), one namespace per host, wired to the bridge by a veth pair, on 10.77.0.0/24 with no
// default route. A host is cut by taking its veth down on the bridge side; a group of hosts is split off
// by moving their veths to a second bridge, so the group still reaches itself but nothing else. Names
// carry this process's pid, so concurrent runs never collide, and stay within the 15-character limit
// of interface names. A host's link can be slowed down with tc's token bucket filter (both directions;
// netem is missing from this kernel, STACK.md §5). destroy() removes every namespace, veth and bridge
// this object made (their qdiscs go with them) and kills nothing: processes started inside the
// namespaces belong to whoever started them.
import { execFile, execFileSync } from 'node:child_process'
import { access } from 'node:fs/promises'

const SUBNET_PREFIX = '10.77.0.'
const HOSTS_MAX = 200
const COMMAND_TIMEOUT_MS = 30_000

export interface NamespaceHost {
  /** Namespace name, entered with `nsenter --net=/var/run/netns/NAME`. */
  netns: string
  /** The host's address inside its namespace. */
  host: string
}

async function ip (args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('ip', args, { timeout: COMMAND_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (error === null) resolve()
      else reject(new Error(`ip ${args.join(' ')} failed: ${stderr.trim() || error.message}`))
    })
  })
}

async function tc (args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('tc', args, { timeout: COMMAND_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (error === null) resolve()
      else reject(new Error(`tc ${args.join(' ')} failed: ${stderr.trim() || error.message}`))
    })
  })
}

/** A token bucket on a link: `rate` and `burst` as tc spells them ('1mbit', '32kbit'), queueing at most `latency`. */
export interface LinkShape {
  rate: string
  burst: string
  latency: string
}

async function onPath (command: string): Promise<boolean> {
  const directories = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])
  for (const directory of directories) {
    if (directory === '') continue
    if (await access(`${directory}/${command}`).then(() => true, () => false)) return true
  }
  return false
}

export class TestNetwork {
  readonly hosts: NamespaceHost[]
  private readonly bridge: string
  private readonly island: string
  private readonly veths: string[]
  /** What exists so far, so that destroy() after a half-made network removes exactly that. */
  private readonly made = { namespaces: [] as string[], links: [] as string[] }
  private destroyed = false
  private readonly onExit = (): void => this.destroySync()

  private constructor (count: number) {
    const tag = `${process.pid}`
    this.bridge = `sfb${tag}`
    this.island = `sfb${tag}i`
    this.veths = Array.from({ length: count }, (_, i) => `sfv${tag}x${i}`)
    this.hosts = Array.from({ length: count }, (_, i) => ({ netns: `sfs${tag}-${i}`, host: `${SUBNET_PREFIX}${i + 1}` }))
  }

  /** Why namespace tests can't run here, or null when they can. */
  static async unavailable (): Promise<string | null> {
    if (process.platform !== 'linux') return 'network namespaces need Linux'
    if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as root)'
    for (const command of ['ip', 'nsenter']) {
      if (!(await onPath(command))) return `'${command}' is not installed (iproute2 / util-linux)`
    }
    return null
  }

  /** `count` hosts on one bridge, all reachable from one another. */
  static async create (count: number): Promise<TestNetwork> {
    if (!Number.isInteger(count) || count < 1 || count > HOSTS_MAX) throw new Error(`host count ${count} out of range`)
    const network = new TestNetwork(count)
    process.once('exit', network.onExit)
    try {
      await network.build()
    } catch (error) {
      await network.destroy()
      throw error
    }
    return network
  }

  private async build (): Promise<void> {
    for (const bridge of [this.bridge, this.island]) {
      await ip(['link', 'add', bridge, 'type', 'bridge'])
      this.made.links.push(bridge)
      await ip(['link', 'set', bridge, 'up'])
    }
    for (const [i, { netns, host }] of this.hosts.entries()) {
      const veth = this.veths[i]!
      await ip(['netns', 'add', netns])
      this.made.namespaces.push(netns)
      await ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns])
      this.made.links.push(veth)
      await ip(['link', 'set', veth, 'master', this.bridge, 'up'])
      await ip(['-n', netns, 'addr', 'add', `${host}/24`, 'dev', 'eth0'])
      await ip(['-n', netns, 'link', 'set', 'eth0', 'up'])
      await ip(['-n', netns, 'link', 'set', 'lo', 'up'])
    }
  }

  /** Unplugs host i: its veth goes down on the bridge side, so it reaches nobody and nobody reaches it. */
  async cut (i: number): Promise<void> {
    await ip(['link', 'set', this.veth(i), 'down'])
  }

  /** Why links can't be shaped here, or null when they can. */
  static async shapingUnavailable (): Promise<string | null> {
    return (await onPath('tc')) ? null : "'tc' is not installed (iproute2)"
  }

  /**
   * Slows host i's link down in both directions: a tbf qdisc on the bridge side of its veth (what it
   * receives) and on its eth0 inside the namespace (what it sends).
   */
  async shape (i: number, shape: LinkShape): Promise<void> {
    const tbf = ['root', 'tbf', 'rate', shape.rate, 'burst', shape.burst, 'latency', shape.latency]
    await tc(['qdisc', 'replace', 'dev', this.veth(i), ...tbf])
    await tc(['-n', this.hosts[i]!.netns, 'qdisc', 'replace', 'dev', 'eth0', ...tbf])
  }

  /** Removes what shape() added; a link that was never shaped is left as it is. */
  async unshape (i: number): Promise<void> {
    await tc(['qdisc', 'del', 'dev', this.veth(i), 'root']).catch(() => {})
    await tc(['-n', this.hosts[i]!.netns, 'qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => {})
  }

  /** Plugs host i back in. */
  async heal (i: number): Promise<void> {
    await ip(['link', 'set', this.veth(i), 'up'])
  }

  /** Splits `group` off: those hosts reach one another but none of the rest (a second bridge). */
  async split (group: readonly number[]): Promise<void> {
    for (const i of group) await ip(['link', 'set', this.veth(i), 'master', this.island])
  }

  /** Ends a split: every host back on the one bridge, every link up. */
  async join (): Promise<void> {
    for (const i of this.hosts.keys()) await ip(['link', 'set', this.veth(i), 'master', this.bridge, 'up'])
  }

  /** Deletes the veths (both ends), the namespaces' names and the bridges; safe to call twice. */
  async destroy (): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    process.removeListener('exit', this.onExit)
    const failures: string[] = []
    const attempt = async (args: string[]): Promise<void> => {
      await ip(args).catch((error: Error) => { failures.push(error.message) })
    }
    for (const link of this.made.links.filter((name) => this.veths.includes(name))) await attempt(['link', 'del', link])
    for (const netns of this.made.namespaces) await attempt(['netns', 'del', netns])
    for (const link of this.made.links.filter((name) => !this.veths.includes(name))) await attempt(['link', 'del', link])
    if (failures.length > 0) throw new Error(`network cleanup incomplete:\n${failures.join('\n')}`)
  }

  /** The same, synchronously, when the process exits without destroy() (a crashed test run). */
  private destroySync (): void {
    if (this.destroyed) return
    this.destroyed = true
    const links = [...this.made.links.filter((name) => this.veths.includes(name)), ...this.made.links.filter((name) => !this.veths.includes(name))]
    for (const args of [...links.map((link) => ['link', 'del', link]), ...this.made.namespaces.map((netns) => ['netns', 'del', netns])]) {
      try { execFileSync('ip', args, { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS }) } catch {}
    }
  }

  private veth (i: number): string {
    const veth = this.veths[i]
    if (veth === undefined) throw new Error(`no host ${i}`)
    return veth
  }
}
