/**
 * The Monte Carlo π kernel: count the samples that fall inside the quarter circle.
 *
 * Sample `i` of a run with seed `s` is a pure function of `(s, i)`, drawn from the one counter-based generator
 * (`../rng.ts`), so the hit count of any range is the same whichever thread, chunk or message computes it. The
 * index space is cut into blocks of 2^32 samples; block `h` has two keys, draws 2h and 2h + 1 of the seed's
 * stream, and sample `lo` of the block is the point (mix32(lo ^ k1), mix32(lo ^ k2)) / 2^32: two rounds of the
 * generator's finaliser per sample, plain integer and float arithmetic, no allocation, branch-free counting.
 */
import * as Rng from "../rng.ts"

const TWO_TO_32 = 4294967296
const UNIT = 1 / TWO_TO_32

/** Hits among the `n` samples from low word `lo` of the block keyed `k1`, `k2`: the hot loop. */
const countBlock = (k1: number, k2: number, lo: number, n: number): number => {
  // Int32 keys and an int32 index keep V8 on small-integer arithmetic.
  k1 |= 0
  k2 |= 0
  lo |= 0
  let hits = 0
  for (let j = 0; j < n; j++) {
    const i = (lo + j) | 0
    const x = Rng.mix32(i ^ k1) * UNIT
    const y = Rng.mix32(i ^ k2) * UNIT
    hits += +(x * x + y * y < 1)
  }
  return hits
}

/** Hits among samples [start, start + count) of seed `seed`. */
export const countHits = (seed: number, start: number, count: number): number => {
  const key = Rng.seedKey(seed)
  let hits = 0
  let index = start
  const end = start + count
  while (index < end) {
    const high = Math.floor(index / TWO_TO_32)
    const blockEnd = Math.min(end, (high + 1) * TWO_TO_32)
    hits += countBlock(Rng.hash32(key, 2 * high), Rng.hash32(key, 2 * high + 1), index - high * TWO_TO_32, blockEnd - index)
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
