// The random-operation exerciser (test/helpers/exerciser.py) on a follower's mount of a 3-peer cluster,
// where every close and fsync commits through the leader and chunks go to three peers: no read
// differs from the model, and a third peer's mount reads the same bytes. SWARMFS_TEST_EXERCISER_OPS
// makes the run longer.
import path from 'node:path'
import test from 'brittle'
import { Cluster, failuresAsAsserts } from '../helpers/cluster.js'
import { run, sh } from '../helpers/peer.js'

const EXERCISER = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../test/helpers/exerciser.py')
const OPS = Number(process.env.SWARMFS_TEST_EXERCISER_OPS ?? 400)

test(`exerciser on a follower's mount: ${OPS} random operations against a model; a third peer reads the same bytes`, failuresAsAsserts(async (t) => {
  const cluster = await Cluster.start(3)
  t.teardown(async () => await cluster.destroy(), { force: true })
  const leader = await cluster.leader()
  const [follower, third] = cluster.peers.filter((peer) => peer !== leader) as [typeof leader, typeof leader]
  const file = 'exercised'
  const result = await sh(`python3 ${EXERCISER} ${path.join(follower.mountpoint, file)} 21 ${OPS}`, { timeoutMs: 900_000 })
  t.is(result.code, 0, result.stdout.trim() + result.stderr)
  const sha = async (mountpoint: string): Promise<string> => (await run(`sha256sum ${path.join(mountpoint, file)}`)).split(' ')[0]!
  t.is(await sha(third.mountpoint), await sha(follower.mountpoint), 'the third peer reads the same bytes')
}))
