/**
 * The programs' pictures: each renderer draws a capped, well-formed SVG for any size and leaves the state it
 * is given untouched.
 */
import { describe, expect, it } from "vitest"
import * as Halo from "../src/actors/halo/index.ts"
import * as Particles from "../src/actors/particles/index.ts"
import { pathsSvg } from "../src/programs/render/pathsSvg.ts"
import { regionsSvg } from "../src/programs/render/regionsSvg.ts"

describe("particle paths", () => {
  it("pathsSvg draws a capped, well-formed picture", () => {
    const s = Particles.randomParticles(5000, 3)
    const before = Particles.checksum(s.x, s.y)
    const svg = pathsSvg(s, { nsteps: Particles.stepsFor(0.1), maxParticles: 50, samples: 40 })
    expect(Particles.checksum(s.x, s.y)).toBe(before) // the caller's state is untouched
    expect(svg.startsWith("<svg")).toBe(true)
    expect(svg.endsWith("</svg>")).toBe(true)
    expect(svg.match(/<polyline/g)?.length).toBe(50)
    expect(svg.length).toBeLessThan(60_000)
    expect(svg).not.toContain("NaN")
  })
})

describe("halo regions", () => {
  it("regionsSvg draws every region's particles and the borders, capped", () => {
    const p: Halo.HaloParams = { n: 20000, L: Halo.boxForDensity(20000, 1, 20), rc: 1, k: 1, dt: 0.01, steps: 0, seed: 2 }
    const s = Halo.initialState(p)
    const before = Halo.checksum(s)
    const svg = regionsSvg(s, p.L, { px: 3, py: 2 }, { maxParticles: 2000 })
    expect(Halo.checksum(s)).toBe(before) // the caller's state is untouched
    expect(svg.startsWith("<svg")).toBe(true)
    expect(svg.endsWith("</svg>")).toBe(true)
    expect(svg.match(/<path /g)?.length).toBe(6)
    expect(svg.match(/stroke-dasharray/g)?.length).toBe(3)
    expect(svg.length).toBeLessThan(60_000)
    expect(Halo.regionOf(Halo.makeGeometry(p, { px: 3, py: 2 }), s.x[0]!, s.y[0]!)).toBeGreaterThanOrEqual(0)
  })
})
