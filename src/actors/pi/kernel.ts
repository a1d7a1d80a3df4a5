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

/**
 * Hits among the `n` samples from low word `lo` of the block keyed `k1`, `k2`: the hot loop.
 *
 * The scale 2^-32 is written in the loop, not read from a module constant: bundlers (esbuild, which makes the
 * bundles workers load) turn a module's top-level `const` into `var`, and V8 then reads it from the module's
 * context on every sample. Measured here, one thread, fresh processes, bundled: 480–494M samples/s against
 * 420–445M (and 270–380M in some processes) with `UNIT` read in the loop; unbundled (tsx), with `UNIT`, 450–490M
 * (389–400M in some processes).
 */
const countBlock = (k1: number, k2: number, lo: number, n: number): number => {
  // Int32 keys and an int32 index keep V8 on small-integer arithmetic.
  k1 |= 0
  k2 |= 0
  lo |= 0
  let hits = 0
  for (let j = 0; j < n; j++) {
    const i = (lo + j) | 0
    const x = Rng.mix32(i ^ k1) * 2 ** -32
    const y = Rng.mix32(i ^ k2) * 2 ** -32
    hits += +(x * x + y * y < 1)
  }
  return hits
}

/** Key `which` (0 or 1) of block `high` of a seed's key: draw 2·high + which of its stream, as an int32. */
const blockKey = (key: number, high: number, which: number): number => Rng.hash32(key, 2 * high + which) | 0

/** The most samples one `countBlock` call takes: its count stays a small integer (see `countHits`). */
export const MAX_RUN = 2 ** 24

/**
 * Hits among samples [start, start + count) of seed `seed`.
 *
 * `countBlock` is given int32 arguments only (`| 0`: the same bits, as it uses them) and at most `MAX_RUN`
 * samples, so V8 sees small integers there whatever the seed or range. The keys were uint32: one of 2^31 or more
 * arrived as a heap number, the kernel compiled during the warm-up (whose keys happened to be small) was thrown
 * away at the first long call ("not a Smi"), and it went on in slower code. Measured here in fresh processes, the
 * first call of 5e8 samples on one thread (after the warm-up of then, 15 ms): 427–444M samples/s in 10 of 12 processes, the
 * others at 399–400M; before, 1 of 12 fast and the others at 389–400M.
 */
export const countHits = (seed: number, start: number, count: number): number => {
  const key = Rng.seedKey(seed)
  let hits = 0
  let index = start
  const end = start + count
  while (index < end) {
    const high = Math.floor(index / TWO_TO_32)
    const blockEnd = Math.min(end, (high + 1) * TWO_TO_32, index + MAX_RUN)
    hits += countBlock(blockKey(key, high, 0), blockKey(key, high, 1), (index - high * TWO_TO_32) | 0, blockEnd - index)
    index = blockEnd
  }
  return hits
}

/**
 * 1 if sample `index` of seed `seed` hits, else 0: what `countHits(seed, index, 1)` counts, for one message per
 * sample. Not that call: after a stream of one-sample calls (1e5 asks of π's per-sample mode), the long ranges
 * that the same workers counted afterwards ran 8–10% slower, for the rest of the process (V8 compiled `countHits`
 * for the one-sample calls; `countBlock`, which this calls, is unaffected). Measured, π's chunked actors on 2
 * workers after those asks, 5 rounds in each of 3 processes: 808–865M samples/s with `countHits`, 844–950M with
 * this (and one round at 655M, in a burst that took the raw pool to 722M too); 893–957M with no asks before; the
 * raw pool beside them 894–962M otherwise.
 */
export const hitAt = (seed: number, index: number): number => {
  const high = Math.floor(index / TWO_TO_32)
  const key = Rng.seedKey(seed)
  return countBlock(blockKey(key, high, 0), blockKey(key, high, 1), (index - high * TWO_TO_32) | 0, 1)
}

/** π from a hit count. */
export const estimate = (hits: number, samples: number): number => (4 * hits) / samples

/**
 * Run the kernel on short ranges (64 calls of 4096 samples, about a millisecond) so that V8 compiles it before a
 * long call: a cold thread's first long call otherwise runs at less than half speed. It does not wait for the
 * compile to finish: V8 compiles on a background thread, and a first call that starts before then runs in code
 * replaced on the stack only until it returns (`countBlock` takes at most `MAX_RUN` samples, a sampler's slice
 * 2^22). Warming for 15 ms instead, so that the first call entered the compiled kernel, cost more than it saved: π
 * on 2 workers in fresh processes, first run minus second (8 paired processes), medians 25 ms against 36.5 ms.
 */
export const warmUp = (): void => {
  for (let i = 0; i < 64; i++) countHits(i, i * 4096, 4096)
}
