/**
 * The lost-update race on the framework's workers: the locked and atomic counters are exact for any worker
 * count and increments; the unguarded one never gains (and is exact alone). Shared π (hits added into a shared
 * 64-bit counter) equals the serial count.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { WideCounter } from "../src/runtime/shared/index.ts"
import * as RaceModes from "../src/programs/race/modes.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

describe("race counters on Threads workers", () => {
  it("locked and atomic are exact for any workers 1-4 and increments up to 2e5", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.constantFrom("locked" as const, "atomic" as const),
        async (workers, k, mode) => {
          const result = await Tiers.run(tiers.threads(workers), RaceModes.run(mode, k))
          expect(result).toMatchObject({ mode, workers, increments: k, expected: workers * k, observed: workers * k, lost: 0 })
        }
      ),
      { numRuns: 30 }
    )
  })

  it("unguarded never gains, is exact with one worker, and the result row adds up", async () => {
    const alone = await Tiers.run(tiers.threads(1), RaceModes.run("unguarded", 300_000))
    expect(alone.observed).toBe(300_000)
    const contended = await Tiers.run(tiers.threads(2), RaceModes.run("unguarded", 2_000_000))
    console.info(`unguarded, 2 workers x 2e6: observed ${contended.observed}, lost ${(100 * contended.lost / contended.expected).toFixed(1)}%`)
    expect(contended.observed).toBeGreaterThan(0)
    expect(contended.observed).toBeLessThanOrEqual(contended.expected)
    expect(contended.lost).toBe(contended.expected - contended.observed)
    expect(contended.seconds).toBeGreaterThan(0)
  })

  it("a total beyond the Int32 counter is refused", async () => {
    const exit = await Tiers.run(tiers.threads(2), Effect.exit(RaceModes.run("atomic", 2 ** 30)))
    expect(exit._tag).toBe("Failure")
  })
})

describe("the wide counter behind shared π", () => {
  it("the 64-bit counter stays exact past 2^31 and 2^32 (where an Int32 counter wraps)", () => {
    const counter = WideCounter.make()
    for (let i = 0; i < 5; i++) counter.add(2 ** 31 - 1)
    counter.add(7)
    expect(counter.get()).toBe(5 * (2 ** 31 - 1) + 7)
    expect(counter.getBig()).toBe(5n * (2n ** 31n - 1n) + 7n)
  })
})
