// The UDP transport under hyperswarm (udx-native), with roomier socket buffers. Every chunk crosses
// the network as thousands of datagrams, and a receiver whose JS thread is busy for a moment
// (a collection, decrypting a 4 MiB message) overflowed the kernel's default 208 KiB receive buffer:
// writing 768 MiB on three peers dropped ~150,000 datagrams, each a retransmission and a backed-off
// congestion window. With 4 MiB, none were dropped (the kernel caps the sizes at net.core.rmem_max
// and wmem_max).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

interface UdxSocket {
  once: (event: 'listening', listener: () => void) => unknown
  setRecvBufferSize: (bytes: number) => number
  setSendBufferSize: (bytes: number) => number
}

/** A udx-native instance, as HyperDHT's `udx` option takes it. */
export interface Udx {
  createSocket: (options?: unknown) => UdxSocket
}

/** A UDX whose sockets ask for `bytes` of send and receive buffer once bound. */
export function udxWithSocketBuffers (bytes = SOCKET_BUFFER_BYTES): Udx {
  const UDX = require('udx-native') as new () => Udx
  const udx = new UDX()
  const createSocket = udx.createSocket.bind(udx)
  udx.createSocket = (options?: unknown) => {
    const socket = createSocket(options)
    socket.once('listening', () => {
      try {
        socket.setRecvBufferSize(bytes)
        socket.setSendBufferSize(bytes)
      } catch {} // closed meanwhile, or refused: the kernel's default stays
    })
    return socket
  }
  return udx
}
