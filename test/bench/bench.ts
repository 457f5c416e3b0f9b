// `npm run bench`: every benchmark of swarmfs in one run, each printed against a baseline measured in
// the same run. Sizes come from the environment so a quick run is possible:
//   SWARMFS_BENCH_MB (default 1024), SWARMFS_BENCH_FILES (2000), SWARMFS_BENCH_RUNS (3),
//   SWARMFS_BENCH_RAFT_SECONDS (4, per concurrency level of the Raft benchmark), SWARMFS_BENCH_CLUSTER_MB (1024);
//   SWARMFS_BENCH_SNAPSHOT_FILES (200000, the metadata snapshot benchmark's tree);
//   SWARMFS_BENCH_ONLY=fs|raft|snapshot|cluster runs just one of them.
import { benchFilesystem, formatFilesystemTable } from './filesystem-bench.js'
import { benchChunks, benchCluster, benchTrees } from './cluster-bench.js'
import { benchRaft } from './raft-bench.js'
import { benchSnapshots } from './snapshot-bench.js'

function numberFromEnvironment (name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`)
  return value
}

async function main (): Promise<void> {
  const only = process.env.SWARMFS_BENCH_ONLY ?? ''
  if (!['', 'fs', 'raft', 'snapshot', 'cluster'].includes(only)) throw new Error('SWARMFS_BENCH_ONLY must be fs, raft, snapshot or cluster')
  if (only === '' || only === 'fs') await mainFilesystem()
  if (only === '' || only === 'raft') console.log(await benchRaft((line) => console.log(line)))
  if (only === '' || only === 'snapshot') console.log(await benchSnapshots(numberFromEnvironment('SWARMFS_BENCH_SNAPSHOT_FILES', 200_000), (line) => console.log(line)))
  if (only === '' || only === 'cluster') {
    const options = {
      smallFiles: numberFromEnvironment('SWARMFS_BENCH_FILES', 2000),
      runs: numberFromEnvironment('SWARMFS_BENCH_RUNS', 3),
      fileMb: numberFromEnvironment('SWARMFS_BENCH_CLUSTER_MB', 1024)
    }
    console.log(await benchCluster(options, (line) => console.log(line)))
    console.log(await benchChunks(options, (line) => console.log(line)))
    console.log(await benchTrees(options, (line) => console.log(line)))
  }
}

async function mainFilesystem (): Promise<void> {
  const options = {
    fileMb: numberFromEnvironment('SWARMFS_BENCH_MB', 1024),
    smallFiles: numberFromEnvironment('SWARMFS_BENCH_FILES', 2000),
    runs: numberFromEnvironment('SWARMFS_BENCH_RUNS', 3),
    randomReadSeconds: numberFromEnvironment('SWARMFS_BENCH_RANDOM_SECONDS', 5)
  }
  console.log(`# filesystem: medians of ${options.runs} runs (raw = the directory itself, bindfs = passthrough FUSE over the same disk)`)
  const { rows, peakRssBytes } = await benchFilesystem(options, (line) => console.log(line))
  console.log(formatFilesystemTable(rows))
  console.log(`swarmfs daemon peak RSS during the ${options.fileMb} MiB write: ${(peakRssBytes / 1048576).toFixed(0)} MB`)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
