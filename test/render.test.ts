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
    expect(svg).not.toContain('class="halo"') // no bands unless asked for
  })

  it("shades the halo bands: two per border along each split axis, as wide as the cutoff", () => {
    const p: Halo.HaloParams = { n: 2000, L: 60, rc: 1.5, k: 1, dt: 0.01, steps: 0, seed: 2 }
    const svg = regionsSvg(Halo.initialState(p), p.L, { px: 3, py: 2 }, { halo: p.rc, size: 600 })
    const group = svg.match(/<g class="halo"[^>]*>(.*?)<\/g>/)?.[1] ?? ""
    const rects = [...group.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"\/>/g)]
    // 3 regions along x: borders at 0, L/3, 2L/3, L (periodic) -> 6 strips; 2 along y -> 4 strips.
    expect(rects).toHaveLength(10)
    const scale = (600 - 60) / p.L
    const narrow = rects.map((r) => Math.min(Number(r[3]), Number(r[4])))
    for (const width of narrow) expect(width).toBeCloseTo(p.rc * scale, 0)
    expect(svg).toContain("halo bands (within rc = 1.5 of a border)")
    // One region along an axis has no border there: no bands at all for a 1 x 1 grid.
    expect(regionsSvg(Halo.initialState(p), p.L, { px: 1, py: 1 }, { halo: p.rc })).not.toContain('class="halo"')
  })
})
