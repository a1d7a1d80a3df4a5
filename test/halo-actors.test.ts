/**
 * Particle regions as actors: every mode (messages on Local and on Threads, shared memory) equals the serial
 * reference bit for bit for any initial state, grid up to 3 × 3 and 1–4 workers; every step keeps the set of
 * particle ids; over-decomposed grids do not deadlock; too-large steps and too-wide cutoffs are typed errors;
 * and the program behaves on the command line.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect, Fiber } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import * as Halo from "../src/actors/halo/index.ts"
import { HaloError } from "../src/actors/halo/Schemas.ts"
import * as Modes from "../src/programs/halo/modes.ts"
import { ActorSystem } from "../src/runtime/index.ts"
import { Echo } from "./fixtures/Echo.ts"
import { gridArb, paramsArb, sameBits } from "./support/halo.ts"
import * as Program from "./support/program.ts"
import { pairwise } from "./support/pairwise.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

type Variant = { readonly name: string; readonly mode: "messages" | "shared"; readonly tier: (workers: number) => Tiers.Tier }
const variants: ReadonlyArray<Variant> = [
  { name: "messages on Local", mode: "messages", tier: () => tiers.local() },
  { name: "messages on Threads", mode: "messages", tier: (w) => tiers.threads(w) },
  { name: "shared on Threads", mode: "shared", tier: (w) => tiers.threads(w) }
]

/** Prepares the mode and runs it once from `initial` (traced); the failure, if any, as a value. */
const runMode = (variant: Variant, workers: number, params: Halo.HaloParams, grid: Halo.Grid, initial: Halo.HaloState) =>
  Tiers.run(
    variant.tier(workers),
    Effect.gen(function*() {
      const runner = yield* Modes.prepare(variant.mode, { params, grid })
      return yield* runner.run(initial, { trace: true })
    }).pipe(Effect.result)
  )

const checkFingerprints = (outcome: Modes.Outcome, n: number, steps: number) => {
  const want = Halo.expectedFingerprint(n)
  expect(outcome.trace!.counts.length).toBe(steps + 1)
  for (let s = 0; s <= steps; s++) {
    expect(outcome.trace!.counts[s], `particles owned at step ${s}`).toBe(want.count)
    expect(outcome.trace!.hashes[s], `id fingerprint at step ${s}`).toBe(want.hash)
  }
}

describe("halo regions as actors", () => {
  it("every mode equals the serial reference bit for bit and keeps every id at every step, or fails as the kernels do", async () => {
    await fc.assert(
      fc.asyncProperty(paramsArb(300, 30, 0.05), gridArb, fc.integer({ min: 1, max: 4 }), async (p, grid, workers) => {
        const initial = Halo.initialState(p)
        const reference = Halo.runDecomposed(p, grid)
        const serial = Halo.simulateSerial(p, initial)
        for (const variant of variants) {
          const result = await runMode(variant, workers, p, grid, initial)
          if (reference._tag === "Invalid") {
            // Too large a step for these regions: a typed error naming the issue, never a wrong state.
            expect(result._tag, variant.name).toBe("Failure")
            if (result._tag === "Failure") {
              expect(result.failure).toBeInstanceOf(HaloError)
              expect((result.failure as HaloError).issue._tag).toBe(reference.issue._tag)
            }
            continue
          }
          if (result._tag === "Failure") throw new Error(`${variant.name}: ${String(result.failure)}`)
          expect(sameBits(result.success.state, serial), variant.name).toBe(true)
          checkFingerprints(result.success, p.n, p.steps)
        }
      }),
      { numRuns: 30 }
    )
    // 90 runs of up to 30 exchange steps: 10-40 s on 2 loaded cores, and past the default 60 s on a machine that
    // was also running two other suites.
  }, 180_000)

  it("a step too large for the regions fails with ParticleMovedTooFar exactly when the kernels say so", async () => {
    const fastArb = fc.tuple(paramsArb(200, 10, 0.05), fc.double({ min: 0.05, max: 4, noNaN: true }), fc.double({ min: 0.3, max: 2, noNaN: true }))
      .map(([p, dt, v0]) => ({ ...p, dt, v0 }))
    await fc.assert(
      fc.asyncProperty(fastArb, gridArb, fc.integer({ min: 1, max: 4 }), async (p, grid, workers) => {
        const initial = Halo.initialState(p)
        const reference = Halo.runDecomposed(p, grid)
        for (const variant of variants) {
          const result = await runMode(variant, workers, p, grid, initial)
          if (reference._tag === "Done") {
            expect(result._tag, variant.name).toBe("Success")
            continue
          }
          expect(result._tag, variant.name).toBe("Failure")
          const issue = result._tag === "Failure" ? (result.failure as HaloError).issue : undefined
          expect(issue?._tag).toBe(reference.issue._tag)
          // Regions far from the first failure may get one step further before the run stops.
          if (issue?._tag === "ParticleMovedTooFar" && reference.issue._tag === "ParticleMovedTooFar") {
            expect(issue.step).toBeGreaterThanOrEqual(reference.issue.step)
            expect(issue.message).toMatch(/use a smaller dt/)
          }
        }
      }),
      { numRuns: 20 }
    )
  })

  it("over-decomposed grids (more regions than workers, 1 or 2 per axis included) finish and agree", async () => {
    const p: Halo.HaloParams = { n: 3000, L: Halo.boxForDensity(3000, 1, 20), rc: 1, k: 1, dt: 0.01, steps: 40, seed: 11 }
    const initial = Halo.initialState(p)
    const serial = Halo.simulateSerial(p, initial)
    for (const [grid, workers] of [[{ px: 5, py: 4 }, 2], [{ px: 4, py: 4 }, 1], [{ px: 2, py: 6 }, 3], [{ px: 1, py: 7 }, 2]] as const) {
      for (const variant of variants) {
        const result = await runMode(variant, workers, p, grid, initial)
        if (result._tag === "Failure") throw new Error(`${variant.name} ${grid.px}x${grid.py}: ${String(result.failure)}`)
        expect(sameBits(result.success.state, serial), `${variant.name} ${grid.px}x${grid.py} on ${workers}`).toBe(true)
        checkFingerprints(result.success, p.n, p.steps)
      }
    }
  })

  it("the regions' per-step energy allreduce equals a reference sum over the same rank tree, at any worker count", async () => {
    /** Reference: each region's migrants of a step sorted by id, ½(vx² + vy²) summed in that order; regions paired (0,1), (2,3), … */
    const reference = (p: Halo.HaloParams, grid: Halo.Grid): Array<number> | undefined => {
      const series: Array<number> = []
      const regions = grid.px * grid.py
      const out = Halo.runDecomposed(p, grid, {
        onStep: (_step, envelopes) => {
          const partials = Array.from({ length: regions }, (_, r) => {
            const held = envelopes.filter((e) => e.to === r).flatMap((e) =>
              Array.from(e.migrants.ids, (id, i) => ({ id, vx: e.migrants.vx[i]!, vy: e.migrants.vy[i]! })))
            held.sort((a, b) => a.id - b.id)
            let sum = 0
            for (const q of held) sum += 0.5 * (q.vx * q.vx + q.vy * q.vy)
            return sum
          })
          series.push(pairwise(partials))
        }
      })
      return out._tag === "Done" ? series : undefined
    }
    await fc.assert(
      fc.asyncProperty(paramsArb(300, 15, 0.02), gridArb, fc.integer({ min: 1, max: 4 }), async (p, grid, workers) => {
        const want = reference(p, grid)
        if (want === undefined) return
        for (const tier of [tiers.threads(workers), tiers.local()]) {
          const outcome = await Tiers.run(
            tier,
            Effect.flatMap(Modes.prepare("messages", { params: p, grid }), (runner) => runner.run(Halo.initialState(p), { energy: true }))
          )
          expect(Array.from(outcome.energy!)).toEqual(want)
          expect(outcome.kineticEnergy).toBe(want[p.steps])
        }
      }),
      { numRuns: 20 }
    )
  })

  it("neighbours talk directly: one envelope per neighbour per step, across workers where they live apart", async () => {
    const p: Halo.HaloParams = { n: 2000, L: Halo.boxForDensity(2000, 1, 20), rc: 1, k: 1, dt: 0.01, steps: 10, seed: 5 }
    const grid = { px: 3, py: 2 }
    const g = Halo.makeGeometry(p, grid)
    const result = await runMode(variants[1]!, 2, p, grid, Halo.initialState(p))
    if (result._tag === "Failure") throw new Error(String(result.failure))
    let perStep = 0
    let crossPerStep = 0
    for (let r = 0; r < g.regions; r++) {
      for (const t of g.targets[r]!) {
        if (t === r) continue
        perStep++
        if (t % 2 !== r % 2) crossPerStep++ // region r lives on worker r mod 2
      }
    }
    expect(result.success.messages).toBe(perStep * (p.steps + 1))
    expect(result.success.crossWorkerMessages).toBe(crossPerStep * (p.steps + 1))
    expect(result.success.bytes).toBeGreaterThan(0)
  })

  it("interrupting a run stops the regions inside the workers within a step", async () => {
    const p: Halo.HaloParams = { n: 20000, L: Halo.boxForDensity(20000, 1, 20), rc: 1, k: 1, dt: 0.01, steps: 5000, seed: 1 }
    const small: Halo.HaloParams = { ...p, steps: 3 }
    for (const variant of [variants[0]!, variants[1]!, variants[2]!]) {
      await Tiers.run(
        variant.tier(2),
        Effect.gen(function*() {
          const runner = yield* Modes.prepare(variant.mode, { params: p, grid: { px: 1, py: 2 } })
          const progress = new SharedArrayBuffer(8)
          const words = new Int32Array(progress)
          const fiber = yield* Effect.forkChild(runner.run(Halo.initialState(p), { progress }))
          while (Math.min(...words) < 3) yield* Effect.sleep("2 millis")
          yield* Fiber.interrupt(fiber)
          const at = Array.from(words)
          yield* Effect.sleep("300 millis") // ~70 more steps if the regions went on
          const later = Array.from(words)
          later.forEach((steps, r) => expect(steps - at[r]!, variant.name).toBeLessThanOrEqual(2))
          // The same actors then run the next state as usual.
          const again = yield* Modes.prepare(variant.mode, { params: small, grid: { px: 1, py: 2 } })
          const out = yield* again.run(Halo.initialState(small))
          expect(sameBits(out.state, Halo.simulateSerial(small))).toBe(true)
        })
      )
    }
  })

  // The shared mode's run holds its workers' event loops until it ends (a death there breaks the barrier, which the
  // shared-memory tests cover); between steps, a messages region leaves its worker free, so a neighbour can crash it.
  it("a worker dying mid-run fails the messages run with WorkerDied instead of hanging; the next run works", async () => {
    const p: Halo.HaloParams = { n: 20000, L: Halo.boxForDensity(20000, 1, 20), rc: 1, k: 1, dt: 0.01, steps: 5000, seed: 1 }
    const failure = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const runner = yield* Modes.prepare("messages", { params: p, grid: { px: 1, py: 2 } })
        const victim = yield* ActorSystem.spawn(Echo, { prefix: "" }, { worker: 1 })
        const progress = new SharedArrayBuffer(8)
        const words = new Int32Array(progress)
        const fiber = yield* Effect.forkChild(Effect.flip(runner.run(Halo.initialState(p), { progress })))
        while (Math.min(...words) < 3) yield* Effect.sleep("2 millis")
        yield* Effect.ignore(victim.ask("crash", "exit"))
        return yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds"))
      })
    )
    expect((failure as { _tag: string })._tag).toBe("WorkerDied")
    // The restarted worker takes part in the next runs.
    const small: Halo.HaloParams = { ...p, n: 2000, L: Halo.boxForDensity(2000, 1, 20), steps: 5 }
    for (const variant of [variants[1]!, variants[2]!]) {
      const result = await runMode(variant, 2, small, { px: 2, py: 2 }, Halo.initialState(small))
      if (result._tag === "Failure") throw new Error(`${variant.name}: ${String(result.failure)}`)
      expect(sameBits(result.success.state, Halo.simulateSerial(small))).toBe(true)
    }
  })

  it("a runner that failed (a particle too fast) runs the next state correctly", async () => {
    const p: Halo.HaloParams = { n: 800, L: Halo.boxForDensity(800, 1, 20), rc: 1, k: 1, dt: 0.01, steps: 8, seed: 4 }
    const grid = { px: 3, py: 3 }
    const good = Halo.initialState(p)
    const bad = Halo.cloneState(good)
    bad.vx[17] = 500 // 5 per step: more than a region's width minus rc
    for (const variant of variants) {
      const outcomes = await Tiers.run(
        variant.tier(2),
        Effect.gen(function*() {
          const runner = yield* Modes.prepare(variant.mode, { params: p, grid })
          const failed = yield* Effect.flip(runner.run(bad))
          const ok = yield* runner.run(good)
          return { failed, ok }
        })
      )
      expect(outcomes.failed).toBeInstanceOf(HaloError)
      const issue = (outcomes.failed as HaloError).issue
      expect(issue._tag === "ParticleMovedTooFar" && issue.id).toBe(17)
      expect(issue.message).toMatch(/smaller dt/)
      expect(sameBits(outcomes.ok.state, Halo.simulateSerial(p, good)), variant.name).toBe(true)
    }
  })

  it("a cutoff wider than a region is a HaloError saying how many regions fit", async () => {
    const p: Halo.HaloParams = { n: 100, L: 10, rc: 1, k: 1, dt: 0.01, steps: 1, seed: 1 }
    for (const variant of variants) {
      const failure = await Tiers.run(
        variant.tier(2),
        Effect.flip(Modes.prepare(variant.mode, { params: p, grid: { px: 2, py: 10 } }))
      )
      expect(failure).toBeInstanceOf(HaloError)
      expect((failure as HaloError).issue._tag).toBe("CutoffWiderThanRegion")
      expect(failure.message).toMatch(/at most 9 regions along y \(py\)/)
    }
  })
})

describe("halo.ts", () => {
  // Each case boots a process (about a second under tsx): run them side by side.
  it.concurrent.each([
    [["--regions", "0x2"], "--regions"],
    [["--regions", "abc"], "--regions"],
    [["--workers", "0"], "--workers"],
    [["--regions", "60x1"], "at most"],
    [["--particles", "500", "--regions", "3x3", "--dt", "100", "--mode", "messages"], "smaller dt"]
  ])("%j is refused with one line and a non-zero exit", async (args, text) => {
    const { code, stderr, stdout } = await Program.run(["src/programs/halo.ts", ...args])
    expect(code).not.toBe(0)
    expect(stdout).toBe("")
    const lines = Program.errorLines(stderr)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(text)
  })

  it("--json prints one object per mode with the serial checksum; --svg draws the regions", async () => {
    const svg = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "halo-")), "regions.svg")
    const { code, stdout } = await Program.run(
      ["src/programs/halo.ts", "--particles", "1500", "--regions", "3x2", "--workers", "2", "--steps", "20", "--seed", "3", "--json", "--svg", svg]
    )
    expect(code).toBe(0)
    const rows = stdout.trim().split("\n").map((line) => JSON.parse(line))
    expect(rows.map((r) => r.mode)).toEqual(["serial", "messages", "shared"])
    const p: Halo.HaloParams = { n: 1500, L: Halo.boxForDensity(1500, 1, 20), rc: 1, k: 1, dt: 0.01, steps: 20, seed: 3, v0: 0.1 }
    const want = Halo.checksum(Halo.simulateSerial(p))
    // The messages mode's per-step allreduce over regions gives the serial sum over the same rank tree, bit for bit.
    const wantEnergy = Halo.Energy.byRegions(Halo.makeGeometry(p, { px: 3, py: 2 }), Halo.simulateSerial(p))
    expect(rows.map((r) => r.kineticEnergy)).toEqual([wantEnergy, wantEnergy, wantEnergy])
    expect(rows.map((r) => r.kineticEnergyMax === null)).toEqual([true, false, true])
    expect(rows[1].kineticEnergyMax).toBeGreaterThanOrEqual(wantEnergy)
    for (const row of rows) {
      expect(row).toMatchObject({ particles: 1500, regions: "3x2", steps: 20, checksum: want, matchesSerial: true })
      for (const key of ["workers", "seconds", "messages", "bytes", "computeSeconds", "commRatio"]) {
        expect(typeof row[key]).toBe("number")
      }
    }
    expect(rows[1].messages).toBeGreaterThan(0)
    const drawing = Fs.readFileSync(svg, "utf8")
    expect(drawing).toContain("<svg")
    expect(drawing.match(/stroke-dasharray/g)).toHaveLength(2 + 1) // 2 vertical + 1 horizontal border
  })
})
