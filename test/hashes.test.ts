/**
 * The domains' shared hashes: the one counter-based generator (rng.ts) is a pure, uniform-looking function of
 * (seed, index), and the FNV-1a 64 fingerprint behind every checksum matches the published test vectors.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Fingerprint from "../src/actors/fingerprint.ts"
import * as Rng from "../src/actors/rng.ts"

describe("fingerprint", () => {
  it("FNV-1a 64 matches the published test vectors", () => {
    const enc = (t: string) => new TextEncoder().encode(t)
    expect(Fingerprint.fnv1a64(enc(""))).toBe("cbf29ce484222325")
    expect(Fingerprint.fnv1a64(enc("a"))).toBe("af63dc4c8601ec8c")
    expect(Fingerprint.fnv1a64(enc("foobar"))).toBe("85944171f73967e8")
  })

  it("sees one NaN, whatever its bits (Node 24 gave 0xfff8… in one thread and 0x7ff8… in another), and every other bit", () => {
    const withBits = (hi: number, lo: number) => {
      const a = new Float64Array([1.5, 0, -2])
      const words = new Uint32Array(a.buffer)
      words[2] = lo
      words[3] = hi
      return a
    }
    const canonical = Fingerprint.fnv1a64(withBits(0x7ff80000, 0))
    expect(Fingerprint.fnv1a64(withBits(0xfff80000, 0))).toBe(canonical) // sign bit set
    expect(Fingerprint.fnv1a64(withBits(0x7ff80000, 1))).toBe(canonical) // another payload
    expect(Fingerprint.fnv1a64(new Float64Array([1.5, -0, -2]))).not.toBe(Fingerprint.fnv1a64(new Float64Array([1.5, 0, -2]))) // -0 is not 0
    expect(Fingerprint.fnv1a64(new Float64Array([1.5, Infinity, -2]))).not.toBe(canonical)
  })
})

describe("counter-based rng", () => {
  it("is a pure function of (seed, index) with values in [0, 1)", () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat({ max: Number.MAX_SAFE_INTEGER }), (seed, index) => {
        const u = Rng.uniform(seed, index)
        const v = Rng.uniform32(seed, index)
        expect(u >= 0 && u < 1 && v >= 0 && v < 1).toBe(true)
        expect(Rng.uniform(seed, index)).toBe(u)
      })
    )
  })

  it("looks uniform and uncorrelated on consecutive indices and seeds", () => {
    const m = 200_000
    const bins = new Array<number>(64).fill(0)
    let mean = 0
    let lag = 0
    let prev = Rng.uniform(1, 0)
    let seedCorr = 0
    for (let i = 0; i < m; i++) {
      const u = Rng.uniform(1, i)
      bins[Math.floor(u * 64)]!++
      mean += u
      if (i > 0) lag += (u - 0.5) * (prev - 0.5)
      seedCorr += (u - 0.5) * (Rng.uniform(2, i) - 0.5)
      prev = u
    }
    const chi2 = bins.reduce((a, b) => a + (b - m / 64) ** 2 / (m / 64), 0)
    expect(Math.abs(mean / m - 0.5)).toBeLessThan(0.005)
    expect(chi2).toBeLessThan(120) // 63 degrees of freedom: p(chi2 > 120) < 1e-5
    expect(Math.abs(lag / m)).toBeLessThan(0.002) // sd of the estimate is 1/12/sqrt(m) = 1.9e-4
    expect(Math.abs(seedCorr / m)).toBeLessThan(0.002)
  })
})
