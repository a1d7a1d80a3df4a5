import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { checksum, fnv1a64 } from "../src/actors/particles/checksum.ts"
import { evolveRange, stepsFor, TIMESTEP } from "../src/actors/particles/evolve.ts"
import type { ParticleState } from "../src/actors/particles/ParticleState.ts"
import { allocParticles, cloneParticles, fillRandom, randomParticles } from "../src/actors/particles/ParticleState.ts"
import { pathsSvg } from "../src/actors/particles/pathsSvg.ts"
import { uniform, uniform32 } from "../src/actors/rng.ts"

/** The book's order (particles outside, steps inside), written independently: the fast kernel must match it. */
const bookEvolve = (s: ParticleState, nsteps: number): void => {
  for (let i = 0; i < s.n; i++) {
    for (let k = 0; k < nsteps; k++) {
      const norm = Math.sqrt(s.x[i]! ** 2 + s.y[i]! ** 2)
      const vx = -s.y[i]! / norm
      const vy = s.x[i]! / norm
      const dx = TIMESTEP * s.w[i]! * vx
      const dy = TIMESTEP * s.w[i]! * vy
      s.x[i]! += dx
      s.y[i]! += dy
    }
  }
}

/** Cut points 0 = c0 < c1 < ... < ck = n, from arbitrary fractions. */
const splitPoints = (n: number, fractions: ReadonlyArray<number>): Array<number> =>
  [...new Set([0, n, ...fractions.map((f) => Math.floor(f * n))])].sort((a, b) => a - b)

const bits = (s: ParticleState): string => checksum(s.x, s.y)

const caseArb = fc.record({
  n: fc.integer({ min: 1, max: 3000 }),
  seed: fc.integer(),
  dt: fc.double({ min: 1e-4, max: 1e-3, noNaN: true }),
  cuts: fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 12 }),
  order: fc.integer({ min: 0, max: 1_000_000 })
})

describe("particle kernel", () => {
  it("stepsFor matches the book's step count", () => {
    expect(stepsFor(0.1)).toBe(10000)
    expect(stepsFor(1e-3)).toBe(100)
    expect(stepsFor(0)).toBe(0)
  })

  it("fast order equals the book's particle-outer order, bit for bit", () => {
    const a = randomParticles(500, 7)
    const b = cloneParticles(a)
    evolveRange(a.x, a.y, a.w, 0, a.n, 300)
    bookEvolve(b, 300)
    expect(bits(a)).toBe(bits(b))
    expect(Array.from(a.x)).toEqual(Array.from(b.x))
  })

  it("any split into ranges, evolved in any order, equals evolving all at once", () => {
    fc.assert(
      fc.property(caseArb, ({ n, seed, dt, cuts, order }) => {
        const nsteps = stepsFor(dt)
        const whole = randomParticles(n, seed)
        const parts = cloneParticles(whole)
        evolveRange(whole.x, whole.y, whole.w, 0, n, nsteps)
        const c = splitPoints(n, cuts)
        const ranges = c.slice(1).map((hi, j) => [c[j]!, hi] as const)
        // a deterministic shuffle of the ranges: order must not matter
        const shuffled = ranges.map((r, j) => ({ r, key: (j * 2654435761 + order) % 4294967291 }))
        shuffled.sort((p, q) => p.key - q.key)
        for (const { r } of shuffled) evolveRange(parts.x, parts.y, parts.w, r[0], r[1], nsteps)
        expect(bits(parts)).toBe(bits(whole))
      }),
      { numRuns: 200 }
    )
  })

  it("filling random particles by ranges, or into shared memory, gives the same state", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer(), fc.double({ min: 0, max: 1, noNaN: true }), (n, seed, f) => {
        const a = randomParticles(n, seed)
        const b = allocParticles(n, true)
        const mid = Math.floor(f * n)
        fillRandom(b, seed, mid, n)
        fillRandom(b, seed, 0, mid)
        expect(b.x.buffer).toBeInstanceOf(SharedArrayBuffer)
        expect(fnv1a64(b.x, b.y, b.w)).toBe(fnv1a64(a.x, a.y, a.w))
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
          const s = randomParticles(n, seed)
          const before = checksum(s.x, s.y)
          const target = inX ? s.x : s.y
          const words = new Uint32Array(target.buffer, target.byteOffset, target.length * 2)
          words[2 * (at % n) + (bit >> 5)]! ^= 1 << (bit & 31)
          expect(checksum(s.x, s.y)).not.toBe(before)
          words[2 * (at % n) + (bit >> 5)]! ^= 1 << (bit & 31)
          expect(checksum(s.x, s.y)).toBe(before)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("FNV-1a 64 matches the published test vectors", () => {
    const enc = (t: string) => new TextEncoder().encode(t)
    expect(fnv1a64(enc(""))).toBe("cbf29ce484222325")
    expect(fnv1a64(enc("a"))).toBe("af63dc4c8601ec8c")
    expect(fnv1a64(enc("foobar"))).toBe("85944171f73967e8")
  })

  it("pathsSvg draws a capped, well-formed picture", () => {
    const s = randomParticles(5000, 3)
    const before = bits(s)
    const svg = pathsSvg(s, { nsteps: stepsFor(0.1), maxParticles: 50, samples: 40 })
    expect(bits(s)).toBe(before) // the caller's state is untouched
    expect(svg.startsWith("<svg")).toBe(true)
    expect(svg.endsWith("</svg>")).toBe(true)
    expect(svg.match(/<polyline/g)?.length).toBe(50)
    expect(svg.length).toBeLessThan(60_000)
    expect(svg).not.toContain("NaN")
  })
})

describe("counter-based rng", () => {
  it("is a pure function of (seed, index) with values in [0, 1)", () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat({ max: Number.MAX_SAFE_INTEGER }), (seed, index) => {
        const u = uniform(seed, index)
        const v = uniform32(seed, index)
        expect(u >= 0 && u < 1 && v >= 0 && v < 1).toBe(true)
        expect(uniform(seed, index)).toBe(u)
      })
    )
  })

  it("looks uniform and uncorrelated on consecutive indices and seeds", () => {
    const m = 200_000
    const bins = new Array<number>(64).fill(0)
    let mean = 0
    let lag = 0
    let prev = uniform(1, 0)
    let seedCorr = 0
    for (let i = 0; i < m; i++) {
      const u = uniform(1, i)
      bins[Math.floor(u * 64)]!++
      mean += u
      if (i > 0) lag += (u - 0.5) * (prev - 0.5)
      seedCorr += (u - 0.5) * (uniform(2, i) - 0.5)
      prev = u
    }
    const chi2 = bins.reduce((a, b) => a + (b - m / 64) ** 2 / (m / 64), 0)
    expect(Math.abs(mean / m - 0.5)).toBeLessThan(0.005)
    expect(chi2).toBeLessThan(120) // 63 degrees of freedom: p(chi2 > 120) < 1e-5
    expect(Math.abs(lag / m)).toBeLessThan(0.002) // sd of the estimate is 1/12/sqrt(m) = 1.9e-4
    expect(Math.abs(seedCorr / m)).toBeLessThan(0.002)
  })
})
