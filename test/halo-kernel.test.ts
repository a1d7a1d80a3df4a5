/**
 * The halo model's kernels: the cell-list reference equals the naive O(N²) one bit for bit, the one-thread
 * decomposed run equals the serial reference for any grid and inbox order, halos are complete and owners unique
 * at every step, and bad setups or too-large steps are typed issues naming what to change.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Halo from "../src/actors/halo/index.ts"
import { gridArb, paramsArb, sameBits } from "./support/halo.ts"

/**
 * Random setups occasionally take a step too large for narrow regions (the decomposition refuses them with
 * ParticleMovedTooFar, as it should): the equality properties skip those cases.
 */
const skipTooFast = (r: ReturnType<typeof Halo.runDecomposed>): ReturnType<typeof Halo.runDecomposed> => {
  fc.pre(!(r._tag === "Invalid" && r.issue._tag === "ParticleMovedTooFar"))
  return r
}

const done = (r: ReturnType<typeof Halo.runDecomposed>): Halo.HaloState => {
  if (r._tag !== "Done") throw new Error(`expected Done, got ${r.issue._tag}: ${r.issue.message}`)
  return r.state
}

describe("halo model: serial references", () => {
  it("the cell-list reference equals the naive O(N²) reference, bit for bit", () => {
    fc.assert(
      fc.property(paramsArb(400, 30, 0.03), (p) => {
        expect(sameBits(Halo.simulateSerial(p), Halo.simulateNaive(p))).toBe(true)
      }),
      { numRuns: 80 }
    )
  })

  it("also in dense, tiny boxes where the cell grid has 1, 2 or 3 columns", () => {
    fc.assert(
      fc.property(paramsArb(150, 20, 0.03), fc.double({ min: 0.3, max: 3.5, noNaN: true }), (p, side) => {
        const q = { ...p, L: side * p.rc }
        expect(sameBits(Halo.simulateSerial(q), Halo.simulateNaive(q))).toBe(true)
      }),
      { numRuns: 60 }
    )
  })

  it("the initial state is deterministic, inside the box, and the checksum sees every bit", () => {
    fc.assert(
      fc.property(paramsArb(300, 1, 0.03), fc.nat(), fc.integer({ min: 0, max: 63 }), (p, at, bit) => {
        const s = Halo.initialState(p)
        expect(Halo.checksum(Halo.initialState(p))).toBe(Halo.checksum(s))
        for (let i = 0; i < p.n; i++) {
          expect(s.x[i]! >= 0 && s.x[i]! < p.L && s.y[i]! >= 0 && s.y[i]! < p.L).toBe(true)
        }
        const before = Halo.checksum(s)
        const words = new Uint32Array(s.vy.buffer)
        words[2 * (at % p.n) + (bit >> 5)]! ^= 1 << (bit & 31)
        expect(Halo.checksum(s)).not.toBe(before)
      }),
      { numRuns: 50 }
    )
  })

  it("wrap maps every finite coordinate into [0, L) and leaves in-range ones alone", () => {
    fc.assert(
      fc.property(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.double({ min: 1e-3, max: 1e6, noNaN: true }),
        (x, L) => {
          const w = Halo.wrap(x, L)
          expect(w >= 0 && w < L).toBe(true)
          expect(Object.is(w, -0)).toBe(false)
          if (x >= 0 && x < L) expect(w === x).toBe(true) // numerically; -0 comes back as +0
        }
      ),
      { numRuns: 2000 }
    )
    expect(Halo.wrap(-1e-20, 1)).toBe(0) // -1e-20 + 1 rounds to 1, which is not < 1
    expect(Halo.wrap(-0.25, 1)).toBe(0.75)
    expect(Halo.wrap(1, 1)).toBe(0)
  })
})

describe("halo model: decomposition", () => {
  it("the one-thread decomposed run equals the serial reference bit for bit, for grids 1×1..3×3 and any inbox order", () => {
    fc.assert(
      fc.property(paramsArb(400, 30, 0.03), gridArb, fc.integer(), (p, grid, salt) => {
        // reverse or rotate each inbox, depending on the salt: arrival order must not matter
        const reorder = (inbox: ReadonlyArray<Halo.Envelope>): ReadonlyArray<Halo.Envelope> => {
          const rot = Math.abs(salt) % Math.max(1, inbox.length)
          const r = [...inbox.slice(rot), ...inbox.slice(0, rot)]
          return salt % 2 === 0 ? r : r.reverse()
        }
        const d = done(skipTooFast(Halo.runDecomposed(p, grid, { reorder })))
        expect(sameBits(d, Halo.simulateSerial(p))).toBe(true)
      }),
      { numRuns: 120 }
    )
  })

  it("a larger case: 3000 particles, 3 × 3 and 3 × 1 regions, 25 steps", () => {
    const p: Halo.HaloParams = { n: 3000, L: Halo.boxForDensity(3000, 1, 20), rc: 1, k: 1, dt: 0.01, steps: 25, seed: 9 }
    const serial = Halo.checksum(Halo.simulateSerial(p))
    expect(Halo.checksum(done(Halo.runDecomposed(p, { px: 3, py: 3 })))).toBe(serial)
    expect(Halo.checksum(done(Halo.runDecomposed(p, { px: 3, py: 1 })))).toBe(serial)
  })

  it("every step, each id is owned exactly once, and halos are complete and duplicate-free", () => {
    fc.assert(
      fc.property(paramsArb(200, 15, 0.03), gridArb, (p, grid) => {
        const g = Halo.makeGeometry(p, grid)
        let steps = 0
        done(skipTooFast(Halo.runDecomposed(p, grid, {
          onStep: (_step, envelopes) => {
            steps++
            const owner = new Int32Array(p.n).fill(-1)
            const x = new Float64Array(p.n)
            const y = new Float64Array(p.n)
            for (const e of envelopes) {
              e.migrants.ids.forEach((id, j) => {
                expect(owner[id]).toBe(-1) // not duplicated
                owner[id] = e.to
                x[id] = e.migrants.x[j]!
                y[id] = e.migrants.y[j]!
              })
            }
            expect(owner.every((r) => r >= 0)).toBe(true) // none lost
            for (let r = 0; r < g.regions; r++) {
              const visible = new Set<number>()
              for (const e of envelopes) {
                if (e.to !== r) continue
                for (const id of e.halo.ids) {
                  expect(visible.has(id)).toBe(false)
                  expect(owner[id]).not.toBe(r)
                  visible.add(id)
                }
              }
              // complete: whoever is within the cutoff of an owned particle is visible to its owner
              for (let j = 0; j < p.n; j++) {
                if (owner[j] !== r) continue
                for (let i = 0; i < p.n; i++) {
                  if (owner[i] === r) continue
                  let dx = x[i]! - x[j]!
                  if (dx > p.L / 2) dx -= p.L
                  else if (dx < -p.L / 2) dx += p.L
                  let dy = y[i]! - y[j]!
                  if (dy > p.L / 2) dy -= p.L
                  else if (dy < -p.L / 2) dy += p.L
                  if (dx * dx + dy * dy < p.rc * p.rc) expect(visible.has(i)).toBe(true)
                }
              }
            }
          }
        })))
        expect(steps).toBe(p.steps + 1)
      }),
      { numRuns: 40 }
    )
  })

  it("haloFor agrees with the halos distribute sends, and a particle is only sent to distinct neighbours", () => {
    fc.assert(
      fc.property(paramsArb(300, 1, 0.03), gridArb, (p, grid) => {
        const g = Halo.makeGeometry(p, grid)
        const owned = Halo.partition(g, Halo.initialState(p))
        for (let r = 0; r < g.regions; r++) {
          const res = Halo.distribute(g, r, owned[r]!, 0)
          if (res._tag !== "Advanced") throw new Error(res.issue.message)
          expect(res.outbox.map((e) => e.to)).toEqual(Array.from(g.targets[r]!))
          for (const e of res.outbox) {
            expect(Array.from(e.halo.ids)).toEqual(Array.from(Halo.haloFor(g, owned[r]!, e.to).ids))
            expect(e.migrants.ids.length).toBe(e.to === r ? owned[r]!.ids.length : 0)
          }
        }
      }),
      { numRuns: 40 }
    )
  })

  it("without a reused own envelope, every envelope holds arrays of its own, exactly its length (postable as they are)", () => {
    // Each region is handed its initial particles at their positions `steps` later: some have left it, so its
    // own envelope is shorter than what it held.
    let shorter = 0
    fc.assert(
      fc.property(paramsArb(300, 30, 0.03), gridArb, (p, grid) => {
        fc.pre(Halo.validateSetup(p, grid) === undefined)
        const g = Halo.makeGeometry(p, grid)
        const later = Halo.simulateSerial(p)
        const owned = Halo.partition(g, Halo.initialState(p)).map((held) => ({
          ids: held.ids,
          x: Float64Array.from(held.ids, (id) => later.x[id]!),
          y: Float64Array.from(held.ids, (id) => later.y[id]!),
          vx: Float64Array.from(held.ids, (id) => later.vx[id]!),
          vy: Float64Array.from(held.ids, (id) => later.vy[id]!)
        }))
        for (let r = 0; r < g.regions; r++) {
          const res = Halo.distribute(g, r, owned[r]!, 1)
          if (res._tag !== "Advanced") continue
          if (res.outbox.find((e) => e.to === r)!.migrants.ids.length < owned[r]!.ids.length) shorter++
          for (const e of res.outbox) {
            for (const a of [...Object.values(e.migrants), ...Object.values(e.halo)] as Array<Int32Array | Float64Array>) {
              expect(a.byteOffset).toBe(0)
              expect(a.buffer.byteLength).toBe(a.byteLength)
            }
          }
        }
      }),
      { numRuns: 40 }
    )
    expect(shorter).toBeGreaterThan(0)
  })

  it("advanceRegion reports a wrong inbox instead of computing garbage", () => {
    const p: Halo.HaloParams = { n: 500, L: Halo.boxForDensity(500, 1, 20), rc: 1, k: 1, dt: 0.01, steps: 1, seed: 3 }
    const g = Halo.makeGeometry(p, { px: 3, py: 3 })
    const owned = Halo.partition(g, Halo.initialState(p))
    const all = owned.flatMap((o, r) => {
      const res = Halo.distribute(g, r, o, 0)
      return res._tag === "Advanced" ? res.outbox : []
    })
    const inbox = all.filter((e) => e.to === 4)
    expect(Halo.advanceRegion(g, 4, 0, inbox)._tag).toBe("Advanced")
    const tags = [
      Halo.advanceRegion(g, 4, 0, inbox.slice(1)), // one missing
      Halo.advanceRegion(g, 4, 1, inbox), // wrong step
      Halo.advanceRegion(g, 4, 0, [...inbox.slice(1), inbox[1]!]), // one sender twice
      Halo.advanceRegion(g, 4, 0, inbox.map((e) => e.from === 4 ? e : { ...e, migrants: inbox.find((f) => f.from === 4)!.migrants }))
    ].map((r) => r._tag === "Invalid" ? r.issue._tag : r._tag)
    expect(tags).toEqual(["InboxMismatch", "InboxMismatch", "InboxMismatch", "InboxMismatch"])
  })
})

describe("halo model: validation", () => {
  it("reports rc wider than a region, naming the axis and the largest usable region count", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1, max: 100, noNaN: true }),
        fc.double({ min: 0.05, max: 1.2, noNaN: true }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        (L, frac, px, py) => {
          const p: Halo.HaloParams = { n: 10, L, rc: frac * L, k: 1, dt: 0.01, steps: 1, seed: 1 }
          const issue = Halo.validateSetup(p, { px, py })
          const reach = p.rc * (1 + 1e-9) + L * 1e-12
          const tooWide = reach >= L / px || reach >= L / py
          expect(issue?._tag).toBe(tooWide ? "CutoffWiderThanRegion" : undefined)
          if (issue?._tag === "CutoffWiderThanRegion") {
            const m = issue.axis === "x" ? px : py
            expect(issue.regionWidth).toBe(L / m)
            expect(issue.message).toContain(issue.maxRegions >= 1 ? (issue.axis === "x" ? "px" : "py") : "smaller rc")
            // the suggested count works along that axis, one more does not
            if (issue.maxRegions >= 1) expect(reach < L / issue.maxRegions).toBe(true)
            expect(reach >= L / (issue.maxRegions + 1)).toBe(true)
            const run = Halo.runDecomposed(p, { px, py })
            expect(run._tag === "Invalid" && run.issue._tag).toBe("CutoffWiderThanRegion")
          }
        }
      ),
      { numRuns: 500 }
    )
  })

  it("reports a particle that moves farther than region width - rc in one step", () => {
    fc.assert(
      fc.property(gridArb, fc.integer(), fc.double({ min: 1.1, max: 10, noNaN: true }), (grid, seed, factor) => {
        const L = 12
        const rc = 1
        const dt = 0.01
        const width = Math.min(L / grid.px, L / grid.py)
        // some particle surely exceeds the limit in its first step: v0·dt = factor·(width - rc)
        const p: Halo.HaloParams = { n: 400, L, rc, k: 0, dt, steps: 3, seed, v0: (factor * (width - rc)) / dt }
        const r = Halo.runDecomposed(p, grid)
        expect(r._tag).toBe("Invalid")
        if (r._tag === "Invalid" && r.issue._tag === "ParticleMovedTooFar") {
          expect(Math.abs(r.issue.displacement)).toBeGreaterThanOrEqual(r.issue.limit)
          expect(r.issue.step).toBe(0)
          expect(r.issue.message).toContain("dt")
        } else {
          expect.fail(`expected ParticleMovedTooFar, got ${r._tag === "Invalid" ? r.issue._tag : r._tag}`)
        }
        // well below the limit the same run is fine (and equals serial)
        const slow = { ...p, v0: (0.5 * (width - rc)) / dt / 2 }
        expect(sameBits(done(Halo.runDecomposed(slow, grid)), Halo.simulateSerial(slow))).toBe(true)
      }),
      { numRuns: 30 }
    )
  })

  it("reports bad parameters by name", () => {
    const ok: Halo.HaloParams = { n: 10, L: 10, rc: 1, k: 1, dt: 0.01, steps: 1, seed: 1 }
    const cases: Array<[Partial<Halo.HaloParams> | Partial<Halo.Grid>, string]> = [
      [{ n: 0 }, "n"],
      [{ n: 1.5 }, "n"],
      [{ L: -1 }, "L"],
      [{ rc: 0 }, "rc"],
      [{ dt: Number.NaN }, "dt"],
      [{ steps: -1 }, "steps"],
      [{ seed: 0.5 }, "seed"],
      [{ px: 0 }, "px"]
    ]
    for (const [patch, name] of cases) {
      const issue = Halo.validateSetup({ ...ok, ...patch } as Halo.HaloParams, { px: 1, py: 1, ...patch } as Halo.Grid)
      expect(issue?._tag === "InvalidParameter" && issue.parameter).toBe(name)
    }
    expect(Halo.validateSetup(ok, { px: 3, py: 3 })).toBeUndefined()
  })
})
