// Metadata mutations on a cluster: create/stat/unlink of small files through the mount of a 3-peer
// cluster's leader and of a follower (every create and unlink is a Raft commit on a quorum; a
// follower's goes through the leader), next to a single offline peer measured in the same run.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Cluster } from '../helpers/cluster.js'
import { TestPeer, run, sh, tempDirectory } from '../helpers/peer.js'
import { CREATE_SCRIPT, smallFiles } from './filesystem-bench.js'
import type { Target } from './filesystem-bench.js'

export interface ClusterBenchOptions { smallFiles: number, runs: number }

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
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)))
  return [`# metadata mutations, ${options.smallFiles} files of 1 KiB, medians of ${options.runs} runs`,
    ...[header, ...lines].map((line) => line.map((cell, column) => cell.padEnd(widths[column]!)).join('  '))].join('\n')
}
