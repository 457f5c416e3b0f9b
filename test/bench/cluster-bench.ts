// The cluster benchmarks. Metadata mutations: create/stat/unlink of small files through the mount of a
// 3-peer cluster's leader and of a follower (every create and unlink is a Raft commit on a quorum; a
// follower's goes through the leader), next to a single offline peer measured in the same run.
// Chunk throughput: on 3 peers with R = 3, a sequential write (every chunk goes to two other peers) and
// reads on a peer restarted without any chunk (cold: every byte crosses the wire) and again (warm),
// next to one bare hyperswarm link (link-bench.ts) and to the single peer's write.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Cluster } from '../helpers/cluster.js'
import { TestPeer, run, sh, tempDirectory } from '../helpers/peer.js'
import { CREATE_SCRIPT, smallFiles } from './filesystem-bench.js'
import { benchLink } from './link-bench.js'
import type { Target } from './filesystem-bench.js'
import type { ClusterPeer } from '../helpers/cluster.js'

export interface ClusterBenchOptions { smallFiles: number, runs: number, fileMb: number }

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

export async function benchCluster (options: ClusterBenchOptions, log: (line: string) => void): Promise<string> {
  const base = await tempDirectory('swarmfs-bench-')
  const scriptFile = path.join(base, 'small-files.cjs')
  await writeFile(scriptFile, CREATE_SCRIPT)
  const single = await TestPeer.start()
  let cluster: Cluster | null = null
  const results = new Map<string, Array<{ create: number, stat: number, unlink: number }>>()
  try {
    cluster = await Cluster.start(3)
    const leader = await cluster.leader()
    const follower = cluster.peers.find((peer) => peer !== leader)!
    const targets: Target[] = [
      { name: 'single peer', directory: single.mountpoint },
      { name: '3 peers, on the leader', directory: leader.mountpoint },
      { name: '3 peers, on a follower', directory: follower.mountpoint }
    ]
    for (let i = 0; i < options.runs; i++) {
      for (const target of targets) {
        const sample = await smallFiles(target, options.smallFiles, scriptFile)
        results.set(target.name, [...(results.get(target.name) ?? []), sample])
        log(`  ${target.name} run ${i + 1}: create ${Math.round(sample.create)} stat ${Math.round(sample.stat)} unlink ${Math.round(sample.unlink)} files/s`)
      }
    }
  } finally {
    await cluster?.destroy()
    await single.destroy()
    await run(`rm -rf ${base}`).catch(async () => await sh(`rm -rf ${base}`))
  }
  const reference = results.get('single peer')!
  const header = ['mount', 'create/s', 'stat/s', 'unlink/s', 'create vs single']
  const lines = [...results].map(([name, samples]) => {
    const [create, stat, unlink] = (['create', 'stat', 'unlink'] as const).map((key) => median(samples.map((s) => s[key])))
    return [name, create!.toFixed(0), stat!.toFixed(0), unlink!.toFixed(0), `${(create! / median(reference.map((s) => s.create))).toFixed(2)}x`]
  })
  return [`# metadata mutations, ${options.smallFiles} files of 1 KiB, medians of ${options.runs} runs`, table(header, lines)].join('\n')
}

function table (header: string[], lines: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)))
  return [header, ...lines].map((line) => line.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')).join('\n')
}

async function timedMbPerSecond (script: string, mb: number): Promise<number> {
  const start = process.hrtime.bigint()
  await run(script)
  return mb * 1.048576 / (Number(process.hrtime.bigint() - start) / 1e9)
}

/** A tarball of ~3,500 files and a git repository of ~2,700 files, cut from this project's node_modules. */
async function treeFixtures (base: string): Promise<{ tarball: string, repository: string }> {
  const modules = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../node_modules')
  const tarball = path.join(base, 'tree.tar')
  const repository = path.join(base, 'repository')
  await run(`cd ${modules}/.. && find node_modules -type f | sort | head -3500 > ${base}/tar.list && tar cf ${tarball} -T ${base}/tar.list`)
  await run(`mkdir ${repository} && cd ${modules}/.. && find node_modules -type f | sort | head -2700 | tar cf - -T - | tar xf - -C ${repository} && ` +
    `cd ${repository} && git init -q && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm tree`)
  return { tarball, repository }
}

/** Peak resident memory (VmHWM) of a running daemon, in bytes. */
async function peakRss (peer: ClusterPeer): Promise<number> {
  const status = await readFile(`/proc/${peer.pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

async function seconds (script: string): Promise<number> {
  const start = process.hrtime.bigint()
  await run(script)
  return Number(process.hrtime.bigint() - start) / 1e9
}

/** `tar -x` of ~3,500 files and `git clone` of ~2,700 files into a single peer's mount and a cluster's. */
export async function benchTrees (options: ClusterBenchOptions, log: (line: string) => void): Promise<string> {
  const base = await tempDirectory('swarmfs-bench-')
  const { tarball, repository } = await treeFixtures(base)
  const single = await TestPeer.start()
  let cluster: Cluster | null = null
  const samples = new Map<string, { untar: number[], clone: number[] }>()
  let peakRssBytes = 0
  try {
    cluster = await Cluster.start(3)
    const leader = await cluster.leader()
    const follower = cluster.peers.find((peer) => peer !== leader)!
    const targets = [['single peer', single.mountpoint], ['3 peers, on the leader', leader.mountpoint], ['3 peers, on a follower', follower.mountpoint]] as const
    for (let i = 0; i < options.runs; i++) {
      for (const [name, mount] of targets) {
        await run(`rm -rf ${mount}/untar ${mount}/clone && mkdir ${mount}/untar`)
        const untar = await seconds(`tar xf ${tarball} -C ${mount}/untar`)
        const clone = await seconds(`git clone -q ${repository} ${mount}/clone`)
        const entry = samples.get(name) ?? { untar: [], clone: [] }
        entry.untar.push(untar)
        entry.clone.push(clone)
        samples.set(name, entry)
        log(`  ${name} run ${i + 1}: tar -x ${untar.toFixed(1)} s, git clone ${clone.toFixed(1)} s`)
      }
    }
    peakRssBytes = Math.max(...await Promise.all(cluster.peers.map(peakRss)))
  } finally {
    await cluster?.destroy()
    await single.destroy()
    await sh(`rm -rf ${base}`)
  }
  const lines = [...samples].map(([name, entry]) => [name, `${median(entry.untar).toFixed(1)} s`, `${median(entry.clone).toFixed(1)} s`])
  return [`# source trees, medians of ${options.runs} runs (tar -x of 3,500 files, git clone of 2,700 files)`,
    table(['mount', 'tar -x', 'git clone'], lines),
    `peak RSS of the largest of the 3 cluster daemons, over everything above: ${(peakRssBytes / 1048576).toFixed(0)} MB`].join('\n')
}

/** Sequential write and cold/warm reads on a 3-peer cluster (R = 3), with a bare link and a single peer as baselines. */
export async function benchChunks (options: ClusterBenchOptions, log: (line: string) => void): Promise<string> {
  const base = await tempDirectory('swarmfs-bench-')
  const source = path.join(base, 'random.bin')
  await run(`head -c ${options.fileMb * 1048576} /dev/urandom > ${source}`)
  const samples = { link: [] as number[], single: [] as number[], write: [] as number[], cold: [] as number[], warm: [] as number[] }
  const single = await TestPeer.start()
  let cluster: Cluster | null = null
  let peakRssBytes = 0
  try {
    cluster = await Cluster.start(3)
    const [writer, , reader] = cluster.peers as [ClusterPeer, ClusterPeer, ClusterPeer]
    for (let i = 0; i < options.runs; i++) {
      samples.link.push(await benchLink(Math.min(options.fileMb, 1024), base))
      await sh(`rm -f ${single.mountpoint}/seq.bin; cat ${source} > /dev/null`)
      samples.single.push(await timedMbPerSecond(`dd if=${source} of=${single.mountpoint}/seq.bin bs=1M conv=fsync status=none`, options.fileMb))
      await sh(`rm -f ${writer.mountpoint}/seq.bin`)
      samples.write.push(await timedMbPerSecond(`dd if=${source} of=${writer.mountpoint}/seq.bin bs=1M conv=fsync status=none`, options.fileMb))
      // Cold: the reader restarts with an empty chunk store and empty caches.
      await reader.stop()
      await run(`find ${path.join(reader.data, 'chunks')} -type f -delete; sync; echo 3 > /proc/sys/vm/drop_caches`)
      await reader.start()
      samples.cold.push(await timedMbPerSecond(`dd if=${reader.mountpoint}/seq.bin of=/dev/null bs=1M status=none`, options.fileMb))
      samples.warm.push(await timedMbPerSecond(`dd if=${reader.mountpoint}/seq.bin of=/dev/null bs=1M status=none`, options.fileMb))
      peakRssBytes = Math.max(peakRssBytes, ...await Promise.all(cluster.peers.map(peakRss)))
      log(`  chunks run ${i + 1}: link ${samples.link.at(-1)!.toFixed(0)} single write ${samples.single.at(-1)!.toFixed(0)} cluster write ${samples.write.at(-1)!.toFixed(0)} cold ${samples.cold.at(-1)!.toFixed(0)} warm ${samples.warm.at(-1)!.toFixed(0)} MB/s`)
    }
  } finally {
    await cluster?.destroy()
    await single.destroy()
    await sh(`rm -rf ${base}`)
  }
  const link = median(samples.link)
  const rows = [
    ['one hyperswarm link (4 MiB messages)', link, 'baseline'],
    ['single peer, sequential write', median(samples.single), ''],
    ['3 peers R = 3, sequential write', median(samples.write), '2 copies cross the wire'],
    ['3 peers, cold read on a peer with no copy', median(samples.cold), 'every byte crosses the wire'],
    ['3 peers, warm read (local copies, cache)', median(samples.warm), '']
  ] as Array<[string, number, string]>
  return [`# chunk throughput, ${options.fileMb} MiB of random data, medians of ${options.runs} runs`,
    table(['workload', 'MB/s', 'vs link', 'note'], rows.map(([name, value, note]) => [name, value.toFixed(0), `${(value / link).toFixed(2)}x`, note])),
    `peak RSS of the largest cluster daemon during these: ${(peakRssBytes / 1048576).toFixed(0)} MB`].join('\n')
}
