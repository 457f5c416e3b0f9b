// Proves the hard state (term, vote, commit) round-trips through its atomically replaced file, that a
// missing file reads as "never saved", and that a damaged file is refused rather than read as zeros.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'brittle'
import { StorageFileCorruptError } from '../../../metadata/storage/errors.js'
import { HARD_STATE_FILE_NAME, loadHardState, saveHardState } from '../../../metadata/storage/hard-state.js'
import { flipByte } from './helpers.js'

test('hard state round trip; the latest save wins; no tmp file is left', async (t) => {
  const directory = await t.tmp()
  t.is(await loadHardState(directory), null, 'never saved')
  await saveHardState(directory, { term: 3, vote: 'peer-b', commit: 17 })
  await saveHardState(directory, { term: 4, vote: null, commit: 2 ** 40 })
  t.alike(await loadHardState(directory), { term: 4, vote: null, commit: 2 ** 40 })
  t.alike(await readdir(directory), [HARD_STATE_FILE_NAME])
  await t.exception.all(saveHardState(directory, { term: -1, vote: null, commit: 0 }), RangeError)
})

test('a damaged hard state file is refused', async (t) => {
  const directory = await t.tmp()
  await saveHardState(directory, { term: 3, vote: 'peer-b', commit: 17 })
  await flipByte(join(directory, HARD_STATE_FILE_NAME), 20)
  await t.exception(loadHardState(directory), StorageFileCorruptError)
})
