// Proves sequential read-ahead: after a restart (empty chunk cache), a sequential read of a file is
// served largely from blocks that read-ahead put in the cache. Without it, every 128 KiB FUSE read
// would miss and go to disk on its own (hits would stay near zero). How large a share depends on how
// far the read-ahead gets ahead of the reader on a loaded machine: measured 45–60 %; a third is required.
import test from 'brittle'
import { shOk, startPeer } from '../helpers/mount.js'
import { CLI, sh } from '../helpers/peer.js'

test('a sequential reader is served from read-ahead', { timeout: 120_000 }, async (t) => {
  const peer = await startPeer(t)
  const file = `${peer.mountpoint}/stream`
  const expected = await shOk(t, `head -c 33554432 /dev/urandom | tee ${file} | sha256sum`, 'write 32 MiB')
  await peer.stop()
  await peer.restart()
  t.is(await shOk(t, `sha256sum < ${file}`, 'read it sequentially'), expected, 'the bytes are right')
  const status = JSON.parse((await sh(`node ${CLI} status --data ${peer.data} --json`)).stdout) as { chunks: { cache: { hits: number, misses: number } } }
  const { hits, misses } = status.chunks.cache
  t.comment(`block cache: ${hits} hits, ${misses} misses`)
  t.ok(hits * 2 >= misses, 'at least a third of the blocks were already read ahead when the reader asked for them')
})
