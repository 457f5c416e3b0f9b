// `swarmfs bootstrap`: a hyperswarm DHT bootstrap node, so a private network (or a test) needs nothing
// from the public DHT. Peers find each other through it; it sees DHT traffic, never file data or keys.
import type { ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import HyperDHT from 'hyperdht'
import type { Logger } from './log.js'

/** A free UDP port on `host` (the bootstrap node needs a fixed port to advertise). */
async function freePort (host: string): Promise<number> {
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(0, host, resolve) })
  const { port } = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

/** Runs until SIGINT/SIGTERM; prints `bootstrap HOST:PORT` on stdout once it listens (for scripts). */
export async function runBootstrapNode (host: string, port: number, logger: Logger): Promise<number> {
  const node = HyperDHT.bootstrapper(port === 0 ? await freePort(host) : port, host, { host })
  node.on('error', (error) => logger.error('bootstrap.error', { error }))
  await node.ready()
  const address = node.address()
  console.log(`bootstrap ${host}:${address.port}`)
  logger.info('bootstrap.listening', { address: `${host}:${address.port}` })
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await node.destroy()
  logger.info('bootstrap.stopped')
  return 0
}

/** The address a `swarmfs bootstrap` child process prints once it listens (its stdout must be a pipe). */
export async function bootstrapAddressOf (child: ChildProcess): Promise<string> {
  let output = ''
  return await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /^bootstrap (\S+)$/m.exec(output)
      if (match !== null) resolve(match[1]!)
    })
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.once('exit', (code) => reject(new Error(`the bootstrap node exited with ${String(code)}: ${output}`)))
  })
}
