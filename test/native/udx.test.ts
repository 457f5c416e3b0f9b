// Proves that the transport's sockets get the larger buffers: a socket made by udxWithSocketBuffers
// and bound has at least the requested receive buffer, up to what the kernel allows (rmem_max), where
// a plain one keeps the kernel's default.
import { readFile } from 'node:fs/promises'
import test from 'brittle'
import { SOCKET_BUFFER_BYTES, udxWithSocketBuffers } from '../../native/udx.js'

interface BoundSocket {
  once: (event: 'listening', listener: () => void) => unknown
  bind: (port: number, host: string) => void
  getRecvBufferSize: () => number
  getSendBufferSize: () => number
  close: () => Promise<void>
}

async function bound (udx: ReturnType<typeof udxWithSocketBuffers>): Promise<BoundSocket> {
  const socket = udx.createSocket() as unknown as BoundSocket
  const listening = new Promise<void>((resolve) => socket.once('listening', resolve))
  socket.bind(0, '127.0.0.1')
  await listening
  await new Promise((resolve) => setImmediate(resolve)) // the buffer is set by a 'listening' listener too
  return socket
}

test('sockets of the transport ask for 4 MiB buffers, as far as the kernel allows', async (t) => {
  const limit = Number((await readFile('/proc/sys/net/core/rmem_max', 'utf8')).trim())
  const sendLimit = Number((await readFile('/proc/sys/net/core/wmem_max', 'utf8')).trim())
  const roomy = await bound(udxWithSocketBuffers())
  const small = await bound(udxWithSocketBuffers(64 * 1024))
  t.teardown(async () => { await roomy.close(); await small.close() })
  const expected = Math.min(SOCKET_BUFFER_BYTES, limit)
  // Linux reports twice what was set (its bookkeeping overhead included).
  t.ok(roomy.getRecvBufferSize() >= expected, `receive buffer ${roomy.getRecvBufferSize()} ≥ ${expected}`)
  t.ok(small.getRecvBufferSize() < roomy.getRecvBufferSize() || expected <= 64 * 1024, 'a smaller request gets a smaller buffer')
  const expectedSend = Math.min(SOCKET_BUFFER_BYTES, sendLimit)
  t.ok(roomy.getSendBufferSize() >= expectedSend, `send buffer ${roomy.getSendBufferSize()} ≥ ${expectedSend}`)
})
