/**
 * `Ref.askMany`: one ask per payload without a fiber each. The replies equal one `ask` per payload, in order, for
 * any number of payloads (past the ring of waiting asks and past the mailbox), any `inFlight` and a mailbox of
 * one; the first failure fails the whole, typed; interrupting it stops the handlers where they run.
 */
import { Effect, Exit, Fiber } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { ActorError, ActorSystem } from "../src/runtime/index.ts"
import { Echo, Sluggish } from "./fixtures/Echo.ts"
import { failureOf } from "./support/exit.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

describe("askMany", () => {
  it("replies in the payloads' order, as one ask each would, for any count, inFlight and mailbox", async () => {
    let long = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ maxLength: 4 }).filter((text) => text !== "no"), { maxLength: 6000, size: "max" }),
        fc.integer({ min: 1, max: 400 }),
        fc.boolean(),
        fc.constantFrom("threads", "local"),
        async (texts, inFlight, oneSlot, tier) => {
          if (texts.length > 4096) long++
          const out = await Tiers.run(
            tier === "threads" ? tiers.threads(2) : tiers.local(),
            Effect.gen(function*() {
              const placement = tier === "threads" ? { worker: 1 } : undefined
              // Sluggish's mailbox holds one message: every ask past the first waits for credit.
              if (oneSlot) return yield* (yield* ActorSystem.spawn(Sluggish, { startMs: 0 }, placement)).askMany("echo", texts, { inFlight })
              return yield* (yield* ActorSystem.spawn(Echo, { prefix: "p:" }, placement)).askMany("echo", texts, { inFlight })
            })
          )
          expect(out).toEqual(texts.map((text) => (oneSlot ? "slow:" : "p:") + text))
        }
      ),
      { numRuns: 24 }
    )
    // More payloads than the ring of waiting asks has slots (4096) came up.
    expect(long).toBeGreaterThan(0)
  }, 180_000)

  it("fails with the first failure, typed, and the actor goes on", async () => {
    const out = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "e:" }, { worker: 0 })
        const texts = Array.from({ length: 3000 }, (_, i) => (i === 1234 ? "no" : `t${i}`))
        const failed = yield* Effect.exit(echo.askMany("echo", texts, { inFlight: 64 }))
        const empty = yield* echo.askMany("echo", [])
        return { failed, empty, after: yield* echo.ask("echo", "after") }
      })
    )
    expect(failureOf(out.failed)).toMatchObject({ _tag: "Refused", reason: "no" })
    expect(out.empty).toEqual([])
    expect(out.after).toBe("e:after")
  })

  it("an interrupt stops the asks where they run, queued ones included", async () => {
    const out = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "i:" }, { worker: 1 })
        const cell = new SharedArrayBuffer(4)
        const slices = new Int32Array(cell)
        // 40 asks of 200 ms each, 8 out at a time: 8 s of work if nothing stopped it.
        const asking = yield* Effect.forkChild(echo.askMany("spinShared", Array.from({ length: 40 }, () => ({ ms: 200, cell })), { inFlight: 8 }))
        while (Atomics.load(slices, 0) < 50) yield* Effect.sleep("10 millis")
        yield* Fiber.interrupt(asking)
        yield* Effect.sleep("100 millis")
        const stoppedAt = Atomics.load(slices, 0)
        yield* Effect.sleep("400 millis")
        return { stoppedAt, later: Atomics.load(slices, 0), exit: yield* Fiber.await(asking), after: yield* echo.ask("echo", "after") }
      })
    )
    expect(Exit.hasInterrupts(out.exit)).toBe(true)
    expect(out.later).toBe(out.stoppedAt)
    expect(out.stoppedAt).toBeLessThan(40 * 200)
    expect(out.after).toBe("i:after")
  })

  it("refuses an inFlight that is not a positive integer", async () => {
    const exit = await Tiers.run(
      tiers.local(),
      Effect.gen(function*() {
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "" })
        return yield* Effect.exit(echo.askMany("echo", ["a"], { inFlight: 0 }))
      })
    )
    expect(Exit.isFailure(exit) && String(exit.cause)).toContain("inFlight must be a positive integer, got 0")
    expect(ActorError.isWorkerDied(exit)).toBe(false)
  })
})
