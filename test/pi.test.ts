/**
 * π: every parallel mode gives the serial hit count, for any seed, size,
 * worker count and chunking.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import * as PiKernel from "../src/actors/pi/kernel.ts"
import { SLICE } from "../src/actors/pi/PiSampler.ts"
import * as Modes from "../src/programs/pi/modes.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

describe("π kernel", () => {
  it("is additive over any split of the index range", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 5000 }), (seed, start, a, b) => {
        expect(PiKernel.countHits(seed, start, a) + PiKernel.countHits(seed, start + a, b)).toBe(PiKernel.countHits(seed, start, a + b))
      })
    )
  })

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

  it("serial mode equals the kernel", async () => {
    const hits = await Effect.runPromise(Modes.serial({ samples: 300_001, seed: 3, chunk: 77_777 }))
    expect(hits).toBe(PiKernel.countHits(3, 0, 300_001))
  })
})
