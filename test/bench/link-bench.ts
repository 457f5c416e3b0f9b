// The ceiling for chunk traffic: one hyperswarm connection between two processes on loopback, carrying
// 4 MiB protomux messages request/response as the chunk channel does, two in flight. Measured in the
// same run as the cluster benchmark so the ratio means something on a shared machine.
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { BootstrapNode } from '../helpers/cluster.js'

const MODULES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../node_modules')

const SCRIPT = `
const HyperDHT = require('${MODULES}/hyperdht')
const Hyperswarm = require('${MODULES}/hyperswarm')
const Protomux = require('${MODULES}/protomux')
const c = require('${MODULES}/compact-encoding')
const [role, bootstrap, topicHex, mb] = process.argv.slice(2)
const dht = new HyperDHT({ bootstrap: [bootstrap], host: '127.0.0.1', firewalled: false })
const swarm = new Hyperswarm({ dht })
const piece = Buffer.alloc(4 * 1024 * 1024, 7)
swarm.on('connection', (socket) => {
  socket.on('error', () => {})
  const mux = Protomux.from(socket)
  let message
  const channel = mux.createChannel({ protocol: 'bench' })
  let pending = 0
  let received = 0
  let started = 0
  const total = Number(mb) / 4
  message = channel.addMessage({ encoding: c.raw, onmessage (data) {
    if (role === 'server') { message.send(piece); return }
    received++
    pending--
    if (received === total) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      console.log(JSON.stringify({ mbPerSecond: Number(mb) * 1.048576 / seconds }))
      process.exit(0)
    }
    while (pending < 2 && received + pending < total) { pending++; message.send(Buffer.from('get')) }
  } })
  channel.open()
  if (role === 'client') {
    started = process.hrtime.bigint()
    while (pending < 2) { pending++; message.send(Buffer.from('get')) }
  }
})
swarm.join(Buffer.from(topicHex, 'hex'), { server: role === 'server', client: role === 'client' })
`

/** MB/s of 4 MiB messages over one hyperswarm connection between two processes. */
export async function benchLink (mb: number, directory: string): Promise<number> {
  const script = path.join(directory, 'link.cjs')
  await writeFile(script, SCRIPT)
  const bootstrap = await BootstrapNode.start()
  const topic = Buffer.alloc(32, Math.floor(Math.random() * 255)).toString('hex')
  const server = spawn(process.execPath, [script, 'server', bootstrap.address, topic, String(mb)], { stdio: 'ignore' })
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000)) // the server announces before the client looks
    const client = spawn(process.execPath, [script, 'client', bootstrap.address, topic, String(mb)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let output = ''
    client.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const code = await new Promise<number | null>((resolve) => client.once('exit', resolve))
    if (code !== 0) throw new Error(`link benchmark client exited with ${String(code)}`)
    return (JSON.parse(output) as { mbPerSecond: number }).mbPerSecond
  } finally {
    server.kill('SIGTERM')
    await bootstrap.stop()
  }
}
