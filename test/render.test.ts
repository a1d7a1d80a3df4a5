/**
 * The programs' pictures: each renderer draws a capped, well-formed SVG for any size and leaves the state it
 * is given untouched.
 */
import { describe, expect, it } from "vitest"
import * as Particles from "../src/actors/particles/index.ts"
import { pathsSvg } from "../src/programs/render/pathsSvg.ts"

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
