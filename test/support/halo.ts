/**
 * Test support for the halo model: exact state comparison and random setups
 * valid for every region grid up to 3 × 3.
 */
import fc from "fast-check"
import * as Halo from "../../src/actors/halo/index.ts"

const bytes = (array: Float64Array) => Buffer.from(array.buffer, array.byteOffset, array.byteLength)

/** Exact equality of every bit of two states (not just of their hashes). */
export const sameBits = (a: Halo.HaloState, b: Halo.HaloState): boolean =>
  a.n === b.n &&
  bytes(a.x).equals(bytes(b.x)) &&
  bytes(a.y).equals(bytes(b.y)) &&
  bytes(a.vx).equals(bytes(b.vx)) &&
  bytes(a.vy).equals(bytes(b.vy))

/** Random setups valid for every grid up to 3 × 3 (L >= 3.2·rc); some take steps too large for their regions. */
export const paramsArb = (maxN: number, maxSteps: number, maxDt: number): fc.Arbitrary<Halo.HaloParams> =>
  fc
    .record({
      n: fc.integer({ min: 1, max: maxN }),
      rc: fc.double({ min: 0.5, max: 1.5, noNaN: true }),
      density: fc.double({ min: 2, max: 40, noNaN: true }),
      k: fc.double({ min: -2, max: 4, noNaN: true }),
      dt: fc.double({ min: 1e-3, max: maxDt, noNaN: true }),
      steps: fc.integer({ min: 1, max: maxSteps }),
      seed: fc.integer(),
      v0: fc.double({ min: 0, max: 1, noNaN: true })
    })
    .map(({ density, ...p }): Halo.HaloParams => ({ ...p, L: Math.max(Halo.boxForDensity(p.n, p.rc, density), 3.2 * p.rc) }))

export const gridArb: fc.Arbitrary<Halo.Grid> = fc.record({ px: fc.integer({ min: 1, max: 3 }), py: fc.integer({ min: 1, max: 3 }) })
