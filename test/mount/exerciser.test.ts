// The random-operation data-integrity exerciser (test/helpers/exerciser.py, in the manner of fsx) on a
// real mount: seeded streams of pwrite, pread, truncate, fallocate, mmap reads and writes, fsync and
// reopen on one file that spans chunk and block boundaries, every read checked against a model. Then
// the same file read back after the daemon restarts. SWARMFS_TEST_EXERCISER_SEEDS and _OPS make the
// run longer.
import path from 'node:path'
import test from 'brittle'
import { q, shOk, startPeer } from '../helpers/mount.js'
import { sh } from '../helpers/peer.js'

const EXERCISER = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../test/helpers/exerciser.py')
const SEEDS = Number(process.env.SWARMFS_TEST_EXERCISER_SEEDS ?? 4)
const OPS = Number(process.env.SWARMFS_TEST_EXERCISER_OPS ?? 1500)

test(`exerciser: ${SEEDS} seeds × ${OPS} random operations against a model, none differing; files intact after a restart`, { timeout: 1_200_000 }, async (t) => {
  const peer = await startPeer(t)
  const sums: string[] = []
  for (let seed = 1; seed <= SEEDS; seed++) {
    const file = `${peer.mountpoint}/exercised-${seed}`
    const result = await sh(`python3 ${q(EXERCISER)} ${q(file)} ${seed} ${OPS}`, { timeoutMs: 600_000 })
    t.is(result.code, 0, result.stdout.trim() + result.stderr)
    sums.push(await shOk(t, `sha256sum ${q(file)}`, `sha256 of seed ${seed}`))
  }
  t.is(await peer.stop(), 0, 'the daemon stops cleanly')
  await peer.restart()
  for (let seed = 1; seed <= SEEDS; seed++) {
    t.is(await shOk(t, `sha256sum ${q(`${peer.mountpoint}/exercised-${seed}`)}`, 'sha256 after restart'), sums[seed - 1], `seed ${seed}: the same bytes after a restart`)
  }
})
