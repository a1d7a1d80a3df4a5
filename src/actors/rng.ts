/**
 * Counter-based random numbers: every draw is a pure function of `(seed, index)`. The one hash of the domains:
 * π samples, the particles' and the halo model's initial states, and the halo model's id fingerprints all mix
 * with `mix32`.
 *
 * There is no generator state to carry around, so sample `index` has the same value whichever worker draws it,
 * in whatever order and however the work is chunked. That is what lets every tier reproduce the serial
 * reference bit for bit (see DESIGN.md, "Parallel equals serial").
 *
 * Construction: the seed is hashed into a 32-bit key once; the 53-bit index is split into two 32-bit words that are
 * absorbed one after the other, each time through `mix32` (a bijection on uint32). For a fixed key and high word,
 * `index -> hash32` is therefore a permutation of the 2^32 low words: no two of 2^32 consecutive indices collide.
 *
 * Accepted inputs: `seed` and `index` are integers in [-2^53, 2^53] (negative seeds are fine and distinct from
 * positive ones; indices should be >= 0). Fractions are truncated, which makes e.g. seeds 1 and 1.5 equal.
 */

const TWO_POW_32 = 4294967296
const TWO_POW_26 = 67108864
const TWO_POW_M32 = 1 / TWO_POW_32
const TWO_POW_M53 = 1 / 9007199254740992

/**
 * A 32-bit finaliser ("lowbias32" family from Chris Wellons' hash prospector, constants 0x21f0aaad / 0x735a2d97):
 * a bijection on uint32 where flipping any input bit flips each output bit with probability very close to 1/2.
 */
export const mix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x21f0aaad)
  h ^= h >>> 15
  h = Math.imul(h, 0x735a2d97)
  h ^= h >>> 15
  return h >>> 0
}

/** High 32 bits of an integer below 2^53 in magnitude, two's complement for negatives. */
const high32 = (v: number): number => Math.floor(v / TWO_POW_32) >>> 0

/** Hashes a seed into the 32-bit key used by the draw functions; callers that draw many samples can hoist it. */
export const seedKey = (seed: number): number => mix32(mix32((seed >>> 0) ^ 0x9e3779b9) ^ high32(seed))

/**
 * The first 32-bit word of draw `index` under `key` (from `seedKey`); uniform over [0, 2^32).
 * `uniform` uses a second word too, derived from the same intermediate with a different constant.
 */
export const hash32 = (key: number, index: number): number => {
  const h = mix32(key ^ (index >>> 0)) ^ high32(index)
  return mix32(h)
}

/** Draw `index` of stream `seed` as a double in [0, 1) with 32 bits of resolution (multiples of 2^-32). */
export const uniform32 = (seed: number, index: number): number => hash32(seedKey(seed), index) * TWO_POW_M32

/**
 * Draw `index` of stream `seed` as a double in [0, 1) with full 53-bit resolution (multiples of 2^-53, so the
 * largest value is 1 - 2^-53 and 1 itself is never returned).
 */
export const uniform = (seed: number, index: number): number => uniformK(seedKey(seed), index)

/** `uniform` with a precomputed key (`seedKey(seed)`), for loops that draw many samples of one stream. */
export const uniformK = (key: number, index: number): number => {
  const h = mix32(key ^ (index >>> 0)) ^ high32(index)
  const a = mix32(h) >>> 5 // 27 bits
  const b = mix32(h ^ 0x85ebca6b) >>> 6 // 26 bits
  return (a * TWO_POW_26 + b) * TWO_POW_M53
}
