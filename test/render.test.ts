/**
 * The programs' pictures: each renderer draws a capped, well-formed SVG for any size and leaves the state it
 * is given untouched; the bench's charts put each point where its value says.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import { describe, expect, it } from "vitest"
import * as Halo from "../src/actors/halo/index.ts"
import * as Particles from "../src/actors/particles/index.ts"
import * as Pictures from "../src/programs/bench/pictures.ts"
import type { Row } from "../src/programs/bench/Row.ts"
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

describe("bench pictures", () => {
  const cores = 2
  /** Region grid, regions, comm/comp, KB per step. */
  const haloGrid: ReadonlyArray<readonly [string, number, number, number]> = [
    ["2x4", 8, 0.46, 62],
    ["1x2", 2, 0.31, 20],
    ["8x8", 64, 0.87, 190],
    ["2x2", 4, 0.38, 41.9],
    ["4x4", 16, 0.49, 86.6]
  ]
  const rows: Array<Row> = [
    ...[1, 2, 3, 4].flatMap((x) => [
      { section: "scaling", name: `π ${x}`, value: 1 / x, unit: "s", ratio: Math.min(x, cores), series: "π", x },
      { section: "scaling", name: `particles ${x}`, value: 1, unit: "s", ratio: 1.5, series: "particles", x },
      { section: "scaling", name: `halo ${x}`, value: 1, unit: "s", ratio: 2 / x, series: "halo", x }
    ]),
    ...[1, 2, 4, 8, 16, 32, 64, 128].flatMap((x) => [
      { section: "in flight", name: `actors ${x}`, value: 5000 * x, unit: "asks/s", series: "actors", x },
      { section: "in flight", name: `raw ${x}`, value: 30000 * x, unit: "msgs/s", series: "raw postMessage", x }
    ]),
    { section: "halo", name: "not in a picture", value: 3, unit: "s" },
    // The halo grid as the section gives it, but out of order: the chart sorts by regions.
    ...haloGrid.flatMap(([name, regions, ratio, kb]) => [
      { section: "halo grid", name: `comm/comp ${name}`, value: ratio, unit: "comm/comp", series: "comm/comp", x: regions, xLabel: name },
      { section: "halo grid", name: `traffic ${name}`, value: kb, unit: "KB/step", series: "KB/step", x: regions, xLabel: name }
    ])
  ]

  /** The points of a path's `d` (M/L commands). */
  const pathPoints = (d: string) => [...d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((p) => [Number(p[1]), Number(p[2])] as const)

  it("speedup against workers: one line per kernel, the ideal flat past the cores, points where their values are", () => {
    const pictures = Pictures.draw(rows, cores)
    expect(pictures.map((p) => p.file)).toEqual(["speedup.svg", "asks.svg", "halo-comm.svg", "halo-bytes.svg"])
    const svg = pictures[0]!.svg
    expect(svg.startsWith("<svg")).toBe(true)
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true)
    expect(svg).not.toContain("NaN")
    const paths = [...svg.matchAll(/<path d="([^"]+)"[^>]*stroke="([^"]+)"[^>]*\/>/g)]
    expect(paths.length).toBe(4)
    const ideal = paths.find((p) => p[0].includes("stroke-dasharray"))!
    const [one, two, three, four] = pathPoints(ideal[1]!)
    expect(two![1]).toBeLessThan(one![1]) // rises to the cores (SVG y grows downwards) ...
    expect(three![1]).toBe(two![1]) // ... then stays flat
    expect(four![1]).toBe(two![1])
    // π's speedups are the ideal's values: its line lies on the ideal line, point for point.
    const pi = paths.find((p) => !p[0].includes("stroke-dasharray"))!
    expect(pathPoints(pi[1]!)).toEqual([one, two, three, four])
    for (const name of ["π", "particles", "halo", "ideal", "2 cores"]) expect(svg).toContain(`>${name}<`)
  })

  it("asks against messages in flight: actors and the raw baseline, on log axes ticked at the points", () => {
    const svg = Pictures.draw(rows, cores)[1]!.svg
    expect(svg).not.toContain("NaN")
    expect(svg.match(/<circle /g)?.length).toBe(8)
    for (const tick of ["1", "2", "4", "8", "16", "32", "64", "128"]) expect(svg).toContain(`>${tick}</text>`)
    const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((p) => pathPoints(p[1]!))
    // raw is 6x actors at every point: on a log y axis, a constant gap.
    const gaps = paths[0]!.map(([, y], i) => y - paths[1]![i]![1])
    for (const gap of gaps) expect(gap).toBeCloseTo(gaps[0]!, 0)
    // doubling in flight doubles both: evenly spaced on a log x axis.
    const xs = paths[0]!.map(([x]) => x)
    for (let i = 2; i < xs.length; i++) expect(xs[i]! - xs[i - 1]!).toBeCloseTo(xs[1]! - xs[0]!, 0)
  })

  it("halo against the region grid: a point per grid, in order of regions, under its grid's name, at its value", () => {
    const pictures = Pictures.draw(rows, cores)
    const byRegions = [...haloGrid].sort((a, b) => a[1] - b[1])
    for (const [file, value] of [["halo-comm.svg", 2], ["halo-bytes.svg", 3]] as const) {
      const svg = pictures.find((p) => p.file === file)!.svg
      expect(svg).not.toContain("NaN")
      const frame = svg.match(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none"/)!.slice(1).map(Number)
      const [fx, fy, fw, fh] = frame as [number, number, number, number]
      const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((c) => [Number(c[1]), Number(c[2])] as const)
      expect(circles.length).toBe(haloGrid.length)
      // The x ticks are the grids' names, left to right by regions, each under its point, all inside the frame.
      const ticks = [...svg.matchAll(/<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">([^<]+)<\/text>/g)]
        .filter((t) => /^\d+x\d+$/.test(t[2]!))
        .map((t) => [t[2]!, Number(t[1])] as const)
      expect(ticks.map(([name]) => name)).toEqual(byRegions.map(([name]) => name))
      expect(circles.map(([x]) => x)).toEqual(ticks.map(([, x]) => x))
      for (const [x] of circles) expect(x > fx && x < fx + fw).toBe(true)
      // Read back through the y axis's own ticks, each point gives its row's value.
      const yTicks = [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)" text-anchor="end"[^>]*>([^<]+)<\/text>/g)]
        .map((t) => [Number(t[2]), Number(t[1])] as const)
      const [[v0, y0], [v1, y1]] = [yTicks[0]!, yTicks[yTicks.length - 1]!]
      expect(v1).toBeGreaterThan(v0)
      const valueAt = (y: number) => v0 + ((y - y0) / (y1 - y0)) * (v1 - v0)
      circles.forEach(([, y], i) => expect(Math.abs(valueAt(y) / byRegions[i]![value] - 1)).toBeLessThan(0.01))
      for (const [, y] of circles) expect(y >= fy && y <= fy + fh).toBe(true)
    }
  })

  it.runIf(Fs.existsSync("/usr/bin/rsvg-convert"))("renders with rsvg-convert (where installed)", () => {
    for (const picture of Pictures.draw(rows, cores)) {
      const out = ChildProcess.spawnSync("rsvg-convert", ["--format", "png"], { input: picture.svg })
      expect(out.status).toBe(0)
      expect(out.stdout.subarray(1, 4).toString()).toBe("PNG")
    }
  })

  it("draws nothing for sections that did not run", () => {
    expect(Pictures.draw(rows.filter((r) => r.section === "halo"), cores)).toEqual([])
    expect(Pictures.draw(rows.filter((r) => r.section === "halo grid"), cores).map((p) => p.file)).toEqual(["halo-comm.svg", "halo-bytes.svg"])
  })
})
