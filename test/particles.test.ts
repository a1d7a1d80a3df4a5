/**
 * The particle simulator's modes: `distributed` (actors, scatter / evolve / gather) and `shared` (parallelFor
 * over shared arrays, any schedule) give the serial reference's exact bits, for any particles, steps and
 * workers 1-4.
 */
import { Effect, Fiber } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { SLICE_WORK } from "../src/actors/particles/EvolveKernel.ts"
import * as Particles from "../src/actors/particles/index.ts"
import { Schedule } from "../src/runtime/parallel/index.ts"
import { WideCounter } from "../src/runtime/shared/index.ts"
import * as Modes from "../src/programs/particles/modes.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

const coordinate = fc.double({ min: -10, max: 10, noNaN: true })

/** Any particles; one at the exact origin (where the book's kernel divides 0 by 0) is moved off it. */
const particles = fc.array(fc.tuple(coordinate, coordinate, coordinate), { maxLength: 3000, size: "max" }).map((list) => {
  const s = Particles.allocParticles(list.length)
  list.forEach(([x, y, w], i) => {
    s.x[i] = x === 0 && y === 0 ? 1 : x
    s.y[i] = y
    s.w[i] = w
  })
  return s
})

const serialChecksum = (initial: Particles.ParticleState, nsteps: number) =>
  Effect.runPromise(Effect.map(Effect.flatMap(Modes.serial, (runner) => runner.evolve(initial, nsteps)), (s) => Particles.checksum(s.x, s.y)))

describe("particle modes equal serial, bit for bit", () => {
  it("distributed and shared, for any particles, steps, workers 1-4 and schedule", async () => {
    await fc.assert(
      fc.asyncProperty(
        particles,
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(...Schedule.SCHEDULES),
        fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined }),
        async (initial, nsteps, workers, schedule, chunk) => {
          const before = Particles.checksum(initial.x, initial.y)
          const reference = await serialChecksum(initial, nsteps)
          const [distributed, shared] = await Tiers.run(
            tiers.threads(workers),
            Effect.all([
              Modes.run("distributed", initial, nsteps),
              Modes.run("shared", initial, nsteps, { schedule, chunk })
            ])
          )
          expect(Particles.checksum(distributed.x, distributed.y)).toBe(reference)
          expect(Particles.checksum(shared.x, shared.y)).toBe(reference)
          expect(Array.from(shared.w)).toEqual(Array.from(initial.w))
          // The initial state is left untouched.
          expect(Particles.checksum(initial.x, initial.y)).toBe(before)
        }
      ),
      { numRuns: 30 }
    )
  })

  it("evolving in slices of steps (with yields between them: serial, distributed) gives the one-call kernel's bits", async () => {
    const initial = Particles.randomParticles(3000, 11)
    const nsteps = Math.ceil((2.5 * SLICE_WORK) / 1500)
    const direct = Particles.cloneParticles(initial)
    Particles.evolveRange(direct.x, direct.y, direct.w, 0, direct.n, nsteps)
    const reference = Particles.checksum(direct.x, direct.y)
    expect(await serialChecksum(initial, nsteps)).toBe(reference)
    const out = await Tiers.run(tiers.threads(2), Modes.run("distributed", initial, nsteps))
    expect(Particles.checksum(out.x, out.y)).toBe(reference)
  })

  it("the shared mode's slices (one parallelFor per ~5·10^7 particle-steps, the last one short) give the kernel's bits", async () => {
    const initial = Particles.randomParticles(2000, 5)
    const nsteps = Math.ceil((2.3 * Modes.SHARED_SLICE_WORK) / 2000) // 3 loops: two full slices and a short one
    const direct = Particles.cloneParticles(initial)
    Particles.evolveRange(direct.x, direct.y, direct.w, 0, direct.n, nsteps)
    const out = await Tiers.run(tiers.threads(2), Modes.run("shared", initial, nsteps, { schedule: "dynamic" }))
    expect(Particles.checksum(out.x, out.y)).toBe(Particles.checksum(direct.x, direct.y))
  })

  it("the Local tier runs every mode to the serial bits", async () => {
    const initial = Particles.randomParticles(777, 3)
    const reference = await serialChecksum(initial, 40)
    for (const mode of Modes.MODES) {
      const out = await Tiers.run(tiers.local(), Modes.run(mode, initial, 40))
      expect(Particles.checksum(out.x, out.y)).toBe(reference)
    }
  })

  it("a prepared runner evolves many states (actors and kernels are set up once)", async () => {
    const states = [Particles.randomParticles(1000, 1), Particles.randomParticles(10, 2), Particles.randomParticles(0, 3), Particles.randomParticles(2001, 4)]
    const references = await Promise.all(states.map((s) => serialChecksum(s, 25)))
    const sums = await Tiers.run(
      tiers.threads(3),
      Effect.gen(function*() {
        const out: Array<string> = []
        for (const mode of ["distributed", "shared"] as const) {
          const runner = yield* Modes.prepare(mode)
          for (const s of states) {
            const r = yield* runner.evolve(s, 25)
            out.push(Particles.checksum(r.x, r.y))
          }
        }
        return out
      })
    )
    expect(sums).toEqual([...references, ...references])
  })
})

describe("progress from inside", () => {
  /**
   * Evolves with a shared counter while the main thread polls it: it must move before the run ends (the threads
   * add as they go, no messages) and end at exactly particles × steps, with the same bits as without a counter.
   */
  const watch = (mode: Modes.Mode, initial: Particles.ParticleState, nsteps: number) =>
    Effect.gen(function*() {
      const runner = yield* Modes.prepare(mode, { schedule: "dynamic", chunk: 100 })
      const progress = WideCounter.make()
      const seen: Array<number> = []
      const fiber = yield* Effect.forkChild(runner.evolve(initial, nsteps, progress))
      while (fiber.pollUnsafe() === undefined) {
        seen.push(progress.get())
        yield* Effect.sleep("1 millis")
      }
      const final = yield* Fiber.join(fiber)
      return { seen, total: progress.get(), checksum: Particles.checksum(final.x, final.y) }
    }).pipe(Effect.scoped)

  it("every mode counts particle-steps as they are done, ends at exactly n × steps, and keeps the bits", async () => {
    const initial = Particles.randomParticles(2000, 3)
    // Serial and distributed: 5 slices of SLICE_WORK / 2000 steps, the last one short; shared: one parallelFor of
    // 20 chunks handed out one by one (dynamic), each adding when done.
    const nsteps = Math.ceil((4.5 * SLICE_WORK) / 2000)
    const reference = await serialChecksum(initial, nsteps)
    const total = 2000 * nsteps
    for (const mode of Modes.MODES) {
      const out = await Tiers.run(tiers.threads(2), watch(mode, initial, nsteps))
      expect(out.total, mode).toBe(total)
      expect(out.checksum, mode).toBe(reference)
      // Seen strictly between 0 and the total before the run ended (an add only at the end would fail this).
      expect(out.seen.some((v) => v > 0 && v < total), `${mode}: ${out.seen.length} polls`).toBe(true)
      // Never more than the total, and never going back.
      expect(out.seen.every((v, i) => v <= total && (i === 0 || v >= out.seen[i - 1]!)), mode).toBe(true)
    }
  })
})
