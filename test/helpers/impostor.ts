// A test-side hyperswarm client that pretends to be a swarmfs peer: its own DHT node on loopback (the
// cluster's bootstrap node, never the public DHT), the two protomux channels with a handshake of our
// choosing on every channel of PROTOCOLS (the right capability, a random one, one made with another cluster's key, or no handshake
// at all), a record of every connection and of whether any Raft or health message ever arrived, raw
// frames sent on either channel, and an optional handler that sees every frame received (to play a
// part in the protocol). Everything it opens is closed by close().
import c from 'compact-encoding'
import HyperDHT from 'hyperdht'
import type { KeyPair } from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import type { SwarmSocket } from 'hyperswarm'
import Protomux from 'protomux'
import type { ProtomuxChannel, ProtomuxMessage } from 'protomux'
import { randomBytes } from '../../native/crypto.js'
import { capability } from '../../peer/net/capability.js'
import { PROTOCOLS, PROTOCOL_VERSION, handshakeEncoding } from '../../peer/net/wire.js'
import type { Handshake } from '../../peer/net/wire.js'

export type ChannelName = keyof typeof PROTOCOLS

export interface ImpostorOptions {
  /** The cluster's bootstrap node, 'HOST:PORT'. */
  bootstrap: string
  /**
   * The connection-auth key the capabilities are computed with (the cluster's: admitted; another
   * cluster's: refused); 'random' sends 32 random bytes; 'silent' opens no channel at all;
   * 'malformed' opens the channels with a handshake too short to decode.
   */
  authKey: Buffer | 'random' | 'silent' | 'malformed'
  version?: number
  keyPair?: KeyPair
  /** Called with every frame received, after it is counted. */
  onFrame?: (connection: ImpostorConnection, channel: ChannelName, bytes: Uint8Array) => void
}

/** One connection as the impostor saw it. */
export class ImpostorConnection {
  readonly socket: SwarmSocket
  readonly openedAtMs = Date.now()
  closedAtMs: number | null = null
  /** Messages received on this connection, per channel (Raft, health, …). */
  readonly received = Object.fromEntries(Object.keys(PROTOCOLS).map((name) => [name, 0])) as Record<ChannelName, number>
  /** True once the remote opened both channels (it sent its handshake: it admitted us or may still check). */
  remoteOpened = false
  private readonly messages = new Map<ChannelName, ProtomuxMessage<Uint8Array>>()
  private readonly channels: ProtomuxChannel[] = []
  private readonly opened = new Set<ChannelName>()
  private closeWaiters: Array<() => void> = []

  constructor (socket: SwarmSocket, options: ImpostorOptions) {
    this.socket = socket
    socket.on('error', () => {})
    socket.once('close', () => {
      this.closedAtMs = Date.now()
      for (const waiter of this.closeWaiters) waiter()
      this.closeWaiters = []
    })
    if (options.authKey === 'silent') return
    const mux = Protomux.from(socket)
    const malformed = options.authKey === 'malformed'
    for (const name of Object.keys(PROTOCOLS) as ChannelName[]) {
      const channel = mux.createChannel<Handshake | Uint8Array>({
        protocol: PROTOCOLS[name],
        handshake: (malformed ? c.raw : handshakeEncoding) as c.Encoder<Handshake | Uint8Array>,
        onopen: () => {
          this.opened.add(name)
          this.remoteOpened = this.opened.size === Object.keys(PROTOCOLS).length
        }
      })
      if (channel === null) throw new Error(`impostor: ${name} channel exists already`)
      this.messages.set(name, channel.addMessage({
        encoding: c.raw,
        onmessage: (bytes: Uint8Array) => {
          this.received[name]++
          options.onFrame?.(this, name, bytes)
        }
      }))
      if (options.authKey === 'malformed') {
        channel.open(Uint8Array.from([options.version ?? PROTOCOL_VERSION, ...randomBytes(7)])) // 8 bytes where 33 are due
      } else {
        const proof = options.authKey === 'random' ? randomBytes(32) : capability(options.authKey, socket.handshakeHash, socket.isInitiator)
        channel.open({ version: options.version ?? PROTOCOL_VERSION, capability: proof })
      }
      this.channels.push(channel)
    }
  }

  get closed (): boolean {
    return this.closedAtMs !== null
  }

  /** Sends `bytes` as one frame on `name`; false when the connection is gone (or not drained). */
  send (name: ChannelName, bytes: Uint8Array): boolean {
    if (this.closed) return false
    return this.messages.get(name)?.send(bytes) ?? false
  }

  /** Resolves when the socket closes, or after `timeoutMs` (then `closed` is still false). */
  async waitClosed (timeoutMs: number): Promise<boolean> {
    if (this.closed) return true
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      this.closeWaiters.push(() => { clearTimeout(timer); resolve(true) })
    })
  }

  destroy (): void {
    this.socket.destroy()
  }
}

interface DhtWithConnect { connect: (publicKey: Buffer) => SwarmSocket }

export class Impostor {
  readonly keyPair: KeyPair
  readonly connections: ImpostorConnection[] = []
  private readonly options: ImpostorOptions
  private readonly dht: HyperDHT
  private readonly swarm: Hyperswarm

  private constructor (options: ImpostorOptions) {
    this.options = options
    this.keyPair = options.keyPair ?? HyperDHT.keyPair(randomBytes(32))
    const [host, port] = options.bootstrap.split(':') as [string, string]
    this.dht = new HyperDHT({ bootstrap: [{ host, port: Number(port) }], host: '127.0.0.1', firewalled: false, keyPair: this.keyPair })
    this.dht.on('error', () => {})
    this.swarm = new Hyperswarm({ dht: this.dht, keyPair: this.keyPair, firewall: () => false })
    this.swarm.on('connection', (socket) => this.connections.push(new ImpostorConnection(socket, this.options)))
  }

  static async create (options: ImpostorOptions): Promise<Impostor> {
    const impostor = new Impostor(options)
    await impostor.dht.ready()
    return impostor
  }

  get id (): string {
    return this.keyPair.publicKey.toString('hex')
  }

  /** Messages received on every connection so far, per channel. */
  get received (): Record<ChannelName, number> {
    const total = Object.fromEntries(Object.keys(PROTOCOLS).map((name) => [name, 0])) as Record<ChannelName, number>
    for (const connection of this.connections) {
      for (const name of Object.keys(total) as ChannelName[]) total[name] += connection.received[name]
    }
    return total
  }

  /** Every message received on any channel of any connection. */
  get receivedAny (): number {
    return Object.values(this.received).reduce((sum, count) => sum + count, 0)
  }

  /** Looks the topic up as a client (it never announces itself, so nobody dials it back). */
  async join (topic: Buffer): Promise<void> {
    await this.swarm.join(topic, { client: true, server: false }).flushed()
  }

  /** Joins the topic as a member does: announced (peers dial it) and looking up (it dials them). */
  async announce (topic: Buffer): Promise<void> {
    await this.swarm.join(topic, { client: true, server: true }).flushed()
  }

  /** Dials a peer by its public key through hyperswarm (which redials it after a close, with backoff). */
  dial (peerId: string): void {
    this.swarm.joinPeer(Buffer.from(peerId, 'hex'))
  }

  /** One direct DHT connection to `peerId`, outside hyperswarm (no backoff, no deduplication). */
  async connect (peerId: string, timeoutMs = 20_000): Promise<ImpostorConnection | null> {
    const socket = (this.dht as unknown as DhtWithConnect).connect(Buffer.from(peerId, 'hex'))
    socket.on('error', () => {})
    const open = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      socket.once('open', () => { clearTimeout(timer); resolve(true) })
      socket.once('close', () => { clearTimeout(timer); resolve(false) })
    })
    if (!open) {
      socket.destroy()
      return null
    }
    const connection = new ImpostorConnection(socket, this.options)
    this.connections.push(connection)
    return connection
  }

  async close (): Promise<void> {
    for (const connection of this.connections) connection.destroy()
    await this.swarm.destroy()
    await this.dht.destroy()
  }
}
