// The control socket: a Unix socket in the data directory, owner-only, speaking one JSON request and
// one JSON response per line. The CLI uses it to ask a running daemon for its status or to stop it.
import { chmod, rm } from 'node:fs/promises'
import net from 'node:net'

const REQUEST_BYTES_MAX = 64 * 1024
const ANSWER_TIMEOUT_MS = 20_000 // a removal waits for the cluster to commit it

export type ControlHandler = (request: { op: string, [key: string]: unknown }) => Promise<unknown>

/** Listens on `socketPath` (replacing a stale socket); only the owner may connect (mode 0600). */
export async function serveControl (socketPath: string, handler: ControlHandler): Promise<net.Server> {
  await rm(socketPath, { force: true })
  const server = net.createServer((socket) => {
    let input = ''
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    socket.on('data', (text: string) => {
      input += text
      if (input.length > REQUEST_BYTES_MAX) { socket.destroy(); return }
      const newline = input.indexOf('\n')
      if (newline < 0) return
      const line = input.slice(0, newline)
      answer(line).then((response) => socket.end(JSON.stringify(response) + '\n'), () => socket.destroy())
    })
  })
  async function answer (line: string): Promise<unknown> {
    try {
      const request = JSON.parse(line) as { op?: unknown }
      if (typeof request !== 'object' || request === null || typeof request.op !== 'string') return { ok: false, error: 'bad request' }
      return { ok: true, result: await handler(request as { op: string }) }
    } catch (error) {
      return { ok: false, error: (error as Error).message }
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socketPath, () => { server.off('error', reject); resolve() })
  })
  await chmod(socketPath, 0o600)
  return server
}

/** Sends one request to the daemon listening on `socketPath`; rejects if none answers. */
export async function requestControl (socketPath: string, request: { op: string, [key: string]: unknown }): Promise<unknown> {
  return await new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath)
    let output = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('the daemon did not answer in time')) }, ANSWER_TIMEOUT_MS)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'))
    socket.on('data', (text: string) => { output += text })
    socket.on('error', (error) => { clearTimeout(timer); reject(error) })
    socket.on('end', () => {
      clearTimeout(timer)
      try {
        const response = JSON.parse(output) as { ok: boolean, result?: unknown, error?: string }
        if (response.ok) resolve(response.result)
        else reject(new Error(response.error ?? 'request failed'))
      } catch {
        reject(new Error('malformed answer from the daemon'))
      }
    })
  })
}
