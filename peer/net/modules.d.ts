// Type declarations for the parts of Holepunch's untyped packages that peer/net uses.

declare module 'protomux' {
  import type { Duplex } from 'node:stream'
  import type c from 'compact-encoding'
  /** What a message sends (S) and what its receiver gets (R): the same type for a symmetric encoding. */
  export interface MessageEncoding<S, R> {
    preencode: (state: c.State, message: S) => void
    encode: (state: c.State, message: S) => void
    decode: (state: c.State) => R
  }
  interface MessageOptions<S, R> { encoding: MessageEncoding<S, R>, onmessage: (message: R) => void | Promise<void> }
  export interface ProtomuxMessage<S> { send: (message: S) => boolean }
  export interface ProtomuxChannel {
    open: (handshake?: unknown) => void
    close: () => void
    addMessage: <S, R = S>(options: MessageOptions<S, R>) => ProtomuxMessage<S>
    readonly opened: boolean
    readonly closed: boolean
  }
  interface ChannelOptions<H> {
    protocol: string
    id?: Uint8Array | null
    unique?: boolean
    handshake?: c.Encoder<H>
    messages?: Array<MessageOptions<any, any>>
    onopen?: (handshake: H) => void | Promise<void>
    onclose?: () => void | Promise<void>
    /** Called when the underlying stream drained (what was written has left). */
    ondrain?: () => void | Promise<void>
  }
  export default class Protomux {
    static from (stream: Duplex): Protomux
    createChannel: <H>(options: ChannelOptions<H>) => ProtomuxChannel | null
    destroy: () => void
  }
}

declare module 'hyperdht' {
  export interface KeyPair { publicKey: Buffer, secretKey: Buffer }
  export interface HyperDHTOptions {
    bootstrap?: Array<string | { host: string, port: number }>
    host?: string
    port?: number
    firewalled?: boolean
    ephemeral?: boolean
    keyPair?: KeyPair
    udx?: unknown
  }
  export default class HyperDHT {
    constructor (options?: HyperDHTOptions)
    static keyPair (seed?: Uint8Array): KeyPair
    static bootstrapper (port: number, host: string, options?: HyperDHTOptions): HyperDHT
    ready: () => Promise<void>
    address: () => { host: string, port: number }
    destroy: () => Promise<void>
    on: (event: 'error', listener: (error: Error) => void) => this
  }
}

declare module 'hyperswarm' {
  import type { Duplex } from 'node:stream'
  import type HyperDHT from 'hyperdht'
  import type { KeyPair } from 'hyperdht'
  export interface SwarmSocket extends Duplex {
    readonly remotePublicKey: Buffer
    readonly publicKey: Buffer
    readonly handshakeHash: Buffer
    readonly isInitiator: boolean
    readonly rawStream?: { remoteHost?: string, remotePort?: number }
  }
  export interface PeerInfo { publicKey: Buffer, ban: (banned?: boolean) => void }
  export interface PeerDiscovery { flushed: () => Promise<void>, refresh: (options?: { client?: boolean, server?: boolean }) => Promise<void>, destroy: () => Promise<void> }
  export interface HyperswarmOptions {
    dht?: HyperDHT
    keyPair?: KeyPair
    maxPeers?: number
    firewall?: (remotePublicKey: Buffer, payload: unknown) => boolean
  }
  export default class Hyperswarm {
    constructor (options?: HyperswarmOptions)
    readonly connections: Set<SwarmSocket>
    readonly keyPair: KeyPair
    join: (topic: Buffer, options?: { server?: boolean, client?: boolean }) => PeerDiscovery
    joinPeer: (publicKey: Buffer) => void
    leavePeer: (publicKey: Buffer) => void
    flush: () => Promise<void>
    destroy: () => Promise<void>
    on: (event: 'connection', listener: (socket: SwarmSocket, info: PeerInfo) => void) => this
  }
}
