/**
 * The particle simulator's kernel: the fast loop order equals the book's, any split into ranges equals one call,
 * random fills are split-independent, and the checksum sees every bit.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Fingerprint from "../src/actors/fingerprint.ts"
import * as Particles from "../src/actors/particles/index.ts"

/** The book's order (particles outside, steps inside), written independently: the fast kernel must match it. */
const bookEvolve = (s: Particles.ParticleState, nsteps: number): void => {
  for (let i = 0; i < s.n; i++) {
    for (let k = 0; k < nsteps; k++) {
      const norm = Math.sqrt(s.x[i]! ** 2 + s.y[i]! ** 2)
      const vx = -s.y[i]! / norm
      const vy = s.x[i]! / norm
      const dx = Particles.TIMESTEP * s.w[i]! * vx
      const dy = Particles.TIMESTEP * s.w[i]! * vy
      s.x[i]! += dx
      s.y[i]! += dy
    }
  }
}

/** Cut points 0 = c0 < c1 < ... < ck = n, from arbitrary fractions. */
const splitPoints = (n: number, fractions: ReadonlyArray<number>): Array<number> =>
  [...new Set([0, n, ...fractions.map((f) => Math.floor(f * n))])].sort((a, b) => a - b)

const bits = (s: Particles.ParticleState): string => Particles.checksum(s.x, s.y)

const caseArb = fc.record({
  n: fc.integer({ min: 1, max: 3000 }),
  seed: fc.integer(),
  dt: fc.double({ min: 1e-4, max: 1e-3, noNaN: true }),
  cuts: fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 12 }),
  order: fc.integer({ min: 0, max: 1_000_000 })
})

describe("particle kernel", () => {
  it("stepsFor matches the book's step count", () => {
    expect(Particles.stepsFor(0.1)).toBe(10000)
    expect(Particles.stepsFor(1e-3)).toBe(100)
    expect(Particles.stepsFor(0)).toBe(0)
  })

  it("fast order equals the book's particle-outer order, bit for bit", () => {
    const a = Particles.randomParticles(500, 7)
    const b = Particles.cloneParticles(a)
    Particles.evolveRange(a.x, a.y, a.w, 0, a.n, 300)
    bookEvolve(b, 300)
    expect(bits(a)).toBe(bits(b))
    expect(Array.from(a.x)).toEqual(Array.from(b.x))
  })

  it("any split into ranges, evolved in any order, equals evolving all at once", () => {
    fc.assert(
      fc.property(caseArb, ({ n, seed, dt, cuts, order }) => {
        const nsteps = Particles.stepsFor(dt)
        const whole = Particles.randomParticles(n, seed)
        const parts = Particles.cloneParticles(whole)
        Particles.evolveRange(whole.x, whole.y, whole.w, 0, n, nsteps)
        const c = splitPoints(n, cuts)
        const ranges = c.slice(1).map((hi, j) => [c[j]!, hi] as const)
        // a deterministic shuffle of the ranges: order must not matter
        const shuffled = ranges.map((r, j) => ({ r, key: (j * 2654435761 + order) % 4294967291 }))
        shuffled.sort((p, q) => p.key - q.key)
        for (const { r } of shuffled) Particles.evolveRange(parts.x, parts.y, parts.w, r[0], r[1], nsteps)
        expect(bits(parts)).toBe(bits(whole))
      }),
      { numRuns: 200 }
    )
  })

  it("filling random particles by ranges, or into shared memory, gives the same state", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer(), fc.double({ min: 0, max: 1, noNaN: true }), (n, seed, f) => {
        const a = Particles.randomParticles(n, seed)
        const b = Particles.allocParticles(n, true)
        const mid = Math.floor(f * n)
        Particles.fillRandom(b, seed, mid, n)
        Particles.fillRandom(b, seed, 0, mid)
        expect(b.x.buffer).toBeInstanceOf(SharedArrayBuffer)
        expect(Fingerprint.fnv1a64(b.x, b.y, b.w)).toBe(Fingerprint.fnv1a64(a.x, a.y, a.w))
        for (let i = 0; i < n; i++) {
          for (const v of [a.x[i]!, a.y[i]!, a.w[i]!]) expect(v >= -1 && v < 1).toBe(true)
        }
      }),
      { numRuns: 40 }
    )
  })

  it("checksum changes when any single bit of x or y changes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer(),
        fc.nat(),
        fc.integer({ min: 0, max: 63 }),
        fc.boolean(),
        (n, seed, at, bit, inX) => {
          const s = Particles.randomParticles(n, seed)
          const before = Particles.checksum(s.x, s.y)
          const target = inX ? s.x : s.y
          const words = new Uint32Array(target.buffer, target.byteOffset, target.length * 2)
          words[2 * (at % n) + (bit >> 5)]! ^= 1 << (bit & 31)
          expect(Particles.checksum(s.x, s.y)).not.toBe(before)
          words[2 * (at % n) + (bit >> 5)]! ^= 1 << (bit & 31)
          expect(Particles.checksum(s.x, s.y)).toBe(before)
        }
      ),
      { numRuns: 200 }
    )
  })
})
