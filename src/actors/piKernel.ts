/**
 * The Monte Carlo π kernel: count the samples that fall inside the quarter circle.
 *
 * Sample `i` of a run with seed `s` is a pure function of `(s, i)`: a counter-based
 * generator (two independent 32-bit integer hashes of the index, keyed by the seed
 * and by the index's high word), so the hit count of any range is the same
 * whichever thread, chunk or message computes it. Plain integer and float
 * arithmetic, no allocation, branch-free counting.
 */

const TWO_TO_32 = 4294967296
const UNIT = 1 / TWO_TO_32

/** A 32-bit integer hash with good avalanche (murmur3's finaliser), for the keys. */
const mix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** The two per-block keys of seed `seed` for samples whose index has high word `high`. */
const keys = (seed: number, high: number): [number, number] => {
  const s = mix((seed >>> 0) ^ 0x9e3779b9) ^ mix((Math.floor(seed / TWO_TO_32) >>> 0) + 0x7f4a7c15)
  const k1 = mix(s ^ Math.imul(high, 0x27d4eb2d))
  const k2 = mix(k1 ^ 0x165667b1)
  return [k1, k2]
}

/** Hits among the `n` samples from low word `lo` of one block: the hot loop. */
const countBlock = (k1: number, k2: number, lo: number, n: number): number => {
  // Int32 keys and an int32 index keep V8 on small-integer arithmetic (about 1.3x faster).
  k1 |= 0
  k2 |= 0
  lo |= 0
  let hits = 0
  for (let j = 0; j < n; j++) {
    const i = (lo + j) | 0
    let a = i ^ k1
    a ^= a >>> 16
    a = Math.imul(a, 0x85ebca6b)
    a ^= a >>> 13
    a = Math.imul(a, 0xc2b2ae35)
    a ^= a >>> 16
    let b = i ^ k2
    b ^= b >>> 15
    b = Math.imul(b, 0x2c1b3c6d)
    b ^= b >>> 12
    b = Math.imul(b, 0x297a2d39)
    b ^= b >>> 15
    const x = (a >>> 0) * UNIT
    const y = (b >>> 0) * UNIT
    hits += +(x * x + y * y < 1)
  }
  return hits
}

/** Hits among samples [start, start + count) of seed `seed`. */
export const countHits = (seed: number, start: number, count: number): number => {
  let hits = 0
  let index = start
  const end = start + count
  while (index < end) {
    const high = Math.floor(index / TWO_TO_32)
    const blockEnd = Math.min(end, (high + 1) * TWO_TO_32)
    const [k1, k2] = keys(seed, high)
    hits += countBlock(k1, k2, index - high * TWO_TO_32, blockEnd - index)
    index = blockEnd
  }
  return hits
}

/** π from a hit count. */
export const estimate = (hits: number, samples: number): number => (4 * hits) / samples

/**
 * Run the kernel on short ranges so V8 optimises it before a long call: a cold
 * thread's first long call otherwise runs at less than half speed.
 */
export const warmUp = (): void => {
  for (let i = 0; i < 64; i++) countHits(i, i * 4096, 4096)
}
