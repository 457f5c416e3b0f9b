// The seed of a fault run: given (SWARMFS_SEED or a flag) to replay one, random otherwise. Faults and
// operations are chosen from it; the interleaving with real processes still varies between runs.

export function seedFrom (text: string | undefined): number {
  if (text === undefined || text === '') return Math.floor(Math.random() * 0x100000000)
  const seed = Number(text)
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`a seed is a non-negative integer, not '${text}'`)
  return seed
}
