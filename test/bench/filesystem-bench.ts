// Filesystem benchmark: the same workloads on the raw directory, on bindfs over the same disk (the
// passthrough-FUSE ceiling of libfuse2) and on a swarmfs mount, each the median of several runs, printed
// as ratios measured in this very run. Workloads run in child processes (dd, fio, a node script).
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { TestPeer, run, sh, tempDirectory } from '../helpers/peer.js'

export interface FilesystemBenchOptions {
  fileMb: number
  smallFiles: number
  runs: number
  randomReadSeconds: number
}

export interface Target { name: string, directory: string }
export interface Row { workload: string, unit: string, values: Map<string, number> }

export const CREATE_SCRIPT = `
const fs = require('node:fs/promises')
const path = require('node:path')
const [dir, count] = [process.argv[2], Number(process.argv[3])]
const payload = Buffer.alloc(1024, 7)
async function main () {
  const names = Array.from({ length: count }, (_, i) => path.join(dir, 'f' + i))
  let start = process.hrtime.bigint()
  for (const name of names) await fs.writeFile(name, payload)
  const create = Number(process.hrtime.bigint() - start) / 1e9
  start = process.hrtime.bigint()
  for (const name of names) await fs.stat(name)
  const stat = Number(process.hrtime.bigint() - start) / 1e9
  start = process.hrtime.bigint()
  for (const name of names) await fs.unlink(name)
  const unlink = Number(process.hrtime.bigint() - start) / 1e9
  console.log(JSON.stringify({ create: count / create, stat: count / stat, unlink: count / unlink }))
}
main()
`

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function dropCaches (): Promise<void> {
  await sh('sync; echo 3 > /proc/sys/vm/drop_caches')
}

async function timed (script: string): Promise<number> {
  const start = process.hrtime.bigint()
  await run(script)
  return Number(process.hrtime.bigint() - start) / 1e9
}

/**
 * Copies `source` (random bytes: zeros would dedupe into one chunk and measure nothing), warmed into the
 * page cache first so that reading it costs the same for every target.
 */
async function sequentialWrite (target: Target, mb: number, source: string): Promise<number> {
  const file = path.join(target.directory, 'seq.bin')
  await sh(`rm -f ${file}; cat ${source} > /dev/null`)
  const seconds = await timed(`dd if=${source} of=${file} bs=1M count=${mb} conv=fdatasync status=none`)
  return mb * 1.048576 / seconds
}

async function sequentialRead (target: Target, mb: number): Promise<number> {
  await dropCaches()
  const seconds = await timed(`dd if=${path.join(target.directory, 'seq.bin')} of=/dev/null bs=1M status=none`)
  return mb * 1.048576 / seconds
}

async function randomRead (target: Target, seconds: number): Promise<number> {
  await dropCaches()
  const output = await run(`fio --name=rr --filename=${path.join(target.directory, 'seq.bin')} --rw=randread --bs=4k ` +
    `--ioengine=psync --iodepth=1 --runtime=${seconds} --time_based --output-format=json --invalidate=1`)
  const result = JSON.parse(output) as { jobs: Array<{ read: { iops: number } }> }
  return result.jobs[0]!.read.iops
}

export async function smallFiles (target: Target, count: number, scriptFile: string): Promise<{ create: number, stat: number, unlink: number }> {
  const directory = path.join(target.directory, 'small')
  await run(`rm -rf ${directory} && mkdir ${directory}`)
  const output = await run(`node ${scriptFile} ${directory} ${count}`)
  return JSON.parse(output) as { create: number, stat: number, unlink: number }
}

/** Runs every workload on raw, bindfs and swarmfs; returns the rows and swarmfs's peak RSS. */
export async function benchFilesystem (options: FilesystemBenchOptions, log: (line: string) => void): Promise<{ rows: Row[], peakRssBytes: number }> {
  const base = await tempDirectory('swarmfs-bench-')
  const raw = path.join(base, 'raw')
  const bindSource = path.join(base, 'bind-source')
  const bindMount = path.join(base, 'bind')
  await run(`mkdir -p ${raw} ${bindSource} ${bindMount} && bindfs ${bindSource} ${bindMount}`)
  const peer = await TestPeer.start()
  const scriptFile = path.join(base, 'small-files.cjs')
  await writeFile(scriptFile, CREATE_SCRIPT)
  const source = path.join(base, 'random.bin')
  await run(`head -c ${options.fileMb * 1048576} /dev/urandom > ${source}`)
  const targets: Target[] = [{ name: 'raw', directory: raw }, { name: 'bindfs', directory: bindMount }, { name: 'swarmfs', directory: peer.mountpoint }]
  const rows: Row[] = [
    { workload: `sequential write ${options.fileMb} MiB`, unit: 'MB/s', values: new Map() },
    { workload: `sequential read ${options.fileMb} MiB (cold)`, unit: 'MB/s', values: new Map() },
    { workload: '4 KiB random read QD1 (cold)', unit: 'IOPS', values: new Map() },
    { workload: `create ${options.smallFiles} small files`, unit: 'files/s', values: new Map() },
    { workload: `stat ${options.smallFiles} files`, unit: 'files/s', values: new Map() },
    { workload: `unlink ${options.smallFiles} files`, unit: 'files/s', values: new Map() }
  ]
  let peakRssBytes = 0
  try {
    // Round by round, each target in turn: the disk and the machine drift over minutes (journal
    // commits, other load), and a target measured in one block would carry that drift in its ratio.
    const samples = new Map(targets.map((target) => [target.name, rows.map((): number[] => [])]))
    for (let i = 0; i < options.runs; i++) {
      for (const target of targets) {
        const own = samples.get(target.name)!
        own[0]!.push(await sequentialWrite(target, options.fileMb, source))
        if (target.name === 'swarmfs' && i === 0) peakRssBytes = await peer.peakRssBytes()
        own[1]!.push(await sequentialRead(target, options.fileMb))
        own[2]!.push(await randomRead(target, options.randomReadSeconds))
        const small = await smallFiles(target, options.smallFiles, scriptFile)
        own[3]!.push(small.create)
        own[4]!.push(small.stat)
        own[5]!.push(small.unlink)
        log(`  ${target.name} run ${i + 1}: ${own.map((s) => Math.round(s.at(-1)!)).join(' ')}`)
      }
    }
    for (const target of targets) rows.forEach((row, index) => row.values.set(target.name, median(samples.get(target.name)![index]!)))
  } finally {
    await peer.destroy()
    await sh(`fusermount -u ${bindMount}; rm -rf ${base}`)
  }
  return { rows, peakRssBytes }
}

export function formatFilesystemTable (rows: Row[]): string {
  const header = ['workload', 'raw', 'bindfs', 'swarmfs', 'swarmfs/bindfs', 'swarmfs/raw']
  const lines = rows.map((row) => {
    const [raw, bindfs, swarmfs] = ['raw', 'bindfs', 'swarmfs'].map((name) => row.values.get(name) ?? NaN) as [number, number, number]
    return [row.workload, `${raw.toFixed(0)} ${row.unit}`, `${bindfs.toFixed(0)} ${row.unit}`, `${swarmfs.toFixed(0)} ${row.unit}`,
      `${(swarmfs / bindfs).toFixed(2)}x`, `${(swarmfs / raw).toFixed(2)}x`]
  })
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)))
  return [header, ...lines].map((line) => line.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')).join('\n')
}
