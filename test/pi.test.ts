/**
 * π: every parallel mode gives the serial hit count, for any seed, size,
 * worker count and chunking.
 */
import { Effect, Fiber } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import * as PiKernel from "../src/actors/pi/kernel.ts"
import { PiSampler, sampleRange, SLICE } from "../src/actors/pi/PiSampler.ts"
import * as Rng from "../src/actors/rng.ts"
import { Progress } from "../src/runtime/index.ts"
import * as Modes from "../src/programs/pi/modes.ts"
import { ActorSystem } from "../src/runtime/index.ts"
import { WideCounter } from "../src/runtime/shared/index.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

/**
 * Sample i as the kernel documents it, one at a time and written plainly (no blocks, no int32 tricks): block
 * h = floor(i / 2^32) has keys hash32(key, 2h) and hash32(key, 2h + 1); the point is (mix32(lo ^ k1),
 * mix32(lo ^ k2)) / 2^32 with lo = i mod 2^32.
 */
const ruleAt = (seed: number, i: number): number => {
  const key = Rng.seedKey(seed)
  const high = Math.floor(i / 2 ** 32)
  const lo = i - high * 2 ** 32
  const x = Rng.mix32((lo ^ Rng.hash32(key, 2 * high)) >>> 0) / 2 ** 32
  const y = Rng.mix32((lo ^ Rng.hash32(key, 2 * high + 1)) >>> 0) / 2 ** 32
  return x * x + y * y < 1 ? 1 : 0
}

const hitsOneByOne = (seed: number, start: number, count: number): number => {
  let hits = 0
  for (let i = start; i < start + count; i++) hits += ruleAt(seed, i)
  return hits
}

describe("π kernel", () => {
  it("counts what the documented per-sample rule gives, for ranges anywhere (across 2^32 blocks too)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1e9, max: 1e9 }),
        fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 2 ** 32 - 3000, max: 2 ** 32 + 100 }), fc.integer({ min: 3 * 2 ** 32 - 2000, max: 3 * 2 ** 32 })),
        fc.integer({ min: 0, max: 4000 }),
        (seed, start, count) => {
          expect(PiKernel.countHits(seed, start, count)).toBe(hitsOneByOne(seed, start, count))
        }
      ),
      { numRuns: 200 }
    )
  })

  it("one sample alone (what a message per sample computes) is the documented rule, anywhere", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1e9, max: 1e9 }),
        fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 2 ** 32 - 50, max: 2 ** 32 + 50 }), fc.integer({ min: 0, max: 2 ** 53 - 1 })),
        (seed, index) => {
          expect(PiKernel.hitAt(seed, index)).toBe(ruleAt(seed, index))
        }
      ),
      { numRuns: 2000 }
    )
  })

  it("is additive over any split of the index range", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 5000 }), (seed, start, a, b) => {
        expect(PiKernel.countHits(seed, start, a) + PiKernel.countHits(seed, start + a, b)).toBe(PiKernel.countHits(seed, start, a + b))
      })
    )
  })

  it("counts a range longer than one kernel run (MAX_RUN) as its parts, the seam inside a 2^32 block or on its edge", () => {
    // The seam between two runs is where a wrong offset or a lost sample would show.
    for (const [seed, start] of [[3, 12_345], [8, 2 ** 32 - PiKernel.MAX_RUN]] as const) {
      const whole = PiKernel.countHits(seed, start, PiKernel.MAX_RUN + 100)
      expect(whole).toBe(PiKernel.countHits(seed, start, PiKernel.MAX_RUN - 7) + hitsOneByOne(seed, start + PiKernel.MAX_RUN - 7, 107))
    }
  }, 60_000)

  it("crosses the 2^32 block boundary consistently", () => {
    const start = 2 ** 32 - 1000
    expect(PiKernel.countHits(7, start, 600) + PiKernel.countHits(7, start + 600, 1400)).toBe(PiKernel.countHits(7, start, 2000))
  })

  it("estimates π", () => {
    const n = 4_000_000
    expect(Math.abs((4 * PiKernel.countHits(1, 0, n)) / n - Math.PI)).toBeLessThan(0.005)
  })
})

describe("π on actors equals serial", () => {
  it("for any seed, samples, workers 1-4 and chunk size (actors, pipeline, shared and stream)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -1e9, max: 1e9 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 4 }),
        fc.option(fc.integer({ min: 1, max: 300_000 }), { nil: undefined }),
        fc.constantFrom("actors" as const, "pipeline" as const, "shared" as const, "stream" as const),
        async (seed, samples, workers, chunk, mode) => {
          const serial = PiKernel.countHits(seed, 0, samples)
          // At most 5,000 messages a run: a chunk of 1 over 10^6 samples tests nothing more, but takes seconds.
          const params = { samples, seed, ...(chunk === undefined ? {} : { chunk: Math.max(chunk, Math.ceil(samples / 5000)) }) }
          const parallel = await Tiers.run(tiers.threads(workers), Modes.run(mode, params))
          expect(parallel).toBe(serial)
        }
      ),
      { numRuns: 40 }
    )
  })

  it("one message per sample gives the serial count, batched or not", async () => {
    for (const batching of [true, false]) {
      const hits = await Tiers.run(tiers.threads(2, { batching }), Modes.perSample({ samples: 20_000, seed: 5 }))
      expect(hits).toBe(PiKernel.countHits(5, 0, 20_000))
    }
  })

  it("the stream mode reports its estimate slice by slice, and ends at the serial count", async () => {
    const samples = 3 * SLICE + 12_345
    const seen: Array<number> = []
    const partial = {
      hits: 0,
      counted: 0,
      get samples() {
        return this.counted
      },
      set samples(n: number) {
        this.counted = n
        seen.push(n)
      }
    }
    const hits = await Tiers.run(tiers.threads(2), Modes.stream({ samples, seed: 4, chunk: samples, partial }))
    expect(hits).toBe(PiKernel.countHits(4, 0, samples))
    expect(partial.hits).toBe(hits)
    // One chunk, four slices: the estimate moved four times, the last at every sample.
    expect(seen).toEqual([SLICE, 2 * SLICE, 3 * SLICE, samples])
  })

  it("the Local tier gives the serial count too", async () => {
    const hits = await Tiers.run(tiers.local(), Modes.actors({ samples: 123_457, seed: 9, chunk: 10_000 }))
    expect(hits).toBe(PiKernel.countHits(9, 0, 123_457))
  })

  it("ranges longer than a slice (as 10^9 samples make) count the same as one kernel call, the last slice short", async () => {
    // Starts just below a 2^32 block boundary, so slices straddle it too.
    const start = 2 ** 32 - SLICE - 12_345
    const count = 2 * SLICE + 54_321
    const sliced = await Effect.runPromise(sampleRange(17, start, count))
    expect(sliced).toBe(PiKernel.countHits(17, start, count))
    expect(PiKernel.countHits(17, start, 3000)).toBe(hitsOneByOne(17, start, 3000))
  })

  it("chunks of several slices each, and a short last chunk, on 2 workers: every mode gives the serial count", async () => {
    const samples = 5 * SLICE + 777
    const chunk = 2 * SLICE + 1 // 3 chunks: two of 2 slices + 1 sample, a last one of ~1 slice
    const serial = PiKernel.countHits(23, 0, samples)
    for (const mode of ["actors", "pipeline", "shared"] as const) {
      expect(await Tiers.run(tiers.threads(2), Modes.run(mode, { samples, seed: 23, chunk }))).toBe(serial)
    }
    // And with the default chunking: about 4 chunks per worker.
    expect(await Tiers.run(tiers.threads(2), Modes.run("actors", { samples, seed: 23 }))).toBe(serial)
  })

  it("serial mode equals the kernel", async () => {
    const hits = await Effect.runPromise(Modes.serial({ samples: 300_001, seed: 3, chunk: 77_777 }))
    expect(hits).toBe(PiKernel.countHits(3, 0, 300_001))
  })
})

describe("π progress from inside", () => {
  it("a sampler's shared counter moves during one long ask, with no message until its reply", async () => {
    const slices = 6
    const samples = slices * SLICE
    const progress = WideCounter.make()
    const seen = await Tiers.run(
      tiers.threads(1),
      Effect.gen(function*() {
        const sampler = yield* ActorSystem.spawn(PiSampler, { seed: 5 })
        const ask = yield* Effect.forkChild(sampler.ask("sample", { start: 0, count: samples, progress: progress.handle }))
        const seen: Array<number> = []
        // Read while the one ask runs: every value before its reply comes from the worker, not from a reply.
        while (ask.pollUnsafe() === undefined) {
          seen.push(progress.get())
          yield* Effect.sleep("2 millis")
        }
        expect(yield* Fiber.join(ask)).toBe(PiKernel.countHits(5, 0, samples))
        return seen
      })
    )
    const between = seen.filter((done) => done > 0 && done < samples)
    expect(between.length).toBeGreaterThan(0)
    for (const done of between) expect(done % SLICE).toBe(0) // whole slices, added as each ends
    expect(progress.get()).toBe(samples)
  }, 60_000)

  it("the progress line shows a bar, the rate and the time left", () => {
    expect(Progress.render("actors", 250, 1000, 2)).toBe("actors [#####...............] 25.0% 250 / 1.00k, 125/s, 6.0 s left")
    expect(Progress.render("actors", 1200, 1000, 2)).toMatch(/\[#{20}\] 100\.0% .*, 0\.0 s left$/)
    expect(Progress.render("x", 0, 0, 0)).toContain("? ")
  })
})

describe("π chunks are produced as they are sent", () => {
  it("a run of 2^40 one-sample chunks starts at once and is interrupted with bounded memory (actors and shared)", async () => {
    // Before: Effect.forEach made an array of every range first; with --chunk 1 on 1e9 samples the process grew
    // without bound (2.8 GB after a minute, measured) and here it would block the thread for hours.
    await Tiers.run(tiers.threads(2), Modes.run("actors", { samples: 1000, seed: 3 })) // workers up first
    for (const mode of ["actors", "shared"] as const) {
      const progress = WideCounter.make()
      const run = Modes.run(mode, { samples: 2 ** 40, seed: 3, chunk: 1, progress })
      const out = await Tiers.run(tiers.threads(2), Effect.timeoutOption(run, "1 second"))
      expect(out._tag).toBe("None") // interrupted, not finished
      expect({ mode, started: progress.get() > 100 }).toEqual({ mode, started: true }) // chunks really went out and came back
    }
  })
})
