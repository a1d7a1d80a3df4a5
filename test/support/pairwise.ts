/**
 * Test support: the documented bracketing of every deterministic reduction here, written plainly — pairs
 * (0,1), (2,3), … then pairs of those, level by level, an odd last one carried up — so that tests compare
 * against it rather than against the code they check.
 */
export const pairwise = (values: ReadonlyArray<number>): number => {
  let level = [...values]
  if (level.length === 0) return 0
  while (level.length > 1) {
    const next: Array<number> = []
    for (let i = 0; i + 1 < level.length; i += 2) next.push(level[i]! + level[i + 1]!)
    if (level.length % 2 === 1) next.push(level[level.length - 1]!)
    level = next
  }
  return level[0]!
}
