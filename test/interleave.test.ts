/**
 * Interleaved messages (`Actor.message({ interleave: true })`): a suspended handler does not hold the mailbox,
 * its reply comes when it ends, and interrupting the ask interrupts it — on Local and on Threads.
 */
import { Effect, Exit, Fiber, Option, Scope } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { ActorSystem } from "../src/runtime/index.ts"
import { Gate } from "./fixtures/Gate.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

describe.each([
  ["Local", () => tiers.local()],
  ["Threads", () => tiers.threads(2)]
])("interleaved asks on %s", (_name, tier) => {
  it("reply once later messages bring the state about; plain asks keep waiting", () =>
    Tiers.run(
      tier(),
      Effect.gen(function*() {
        const gate = yield* ActorSystem.spawn(Gate, {})
        const first = yield* Effect.forkChild(gate.ask("await", 3))
        const second = yield* Effect.forkChild(gate.ask("await", 5))
        for (let i = 0; i < 5; i++) yield* gate.tell("bump", 1)
        expect(yield* Fiber.join(first)).toBeGreaterThanOrEqual(3)
        expect(yield* Fiber.join(second)).toBe(5)
        // A plain ask that waits holds the mailbox: nothing behind it is handled meanwhile. Started at once, so
        // that it is sent before the tell below (a forked fiber starts later: on a loaded machine, after the sleep).
        yield* Effect.forkChild(gate.ask("plainAwait", 7), { startImmediately: true })
        yield* Effect.sleep("20 millis")
        yield* gate.tell("bump", 2)
        expect(yield* gate.ask("count", undefined).pipe(Effect.timeoutOption("100 millis"))).toEqual(Option.none())
      })
    ))

  it("interrupting an interleaved ask interrupts its handler; the actor goes on", () =>
    Tiers.run(
      tier(),
      Effect.gen(function*() {
        const gate = yield* ActorSystem.spawn(Gate, {})
        const waiting = yield* Effect.forkChild(gate.ask("await", 100))
        yield* Effect.sleep("20 millis")
        yield* Fiber.interrupt(waiting)
        yield* gate.tell("bump", 2)
        expect(yield* gate.ask("await", 2)).toBe(2)
      })
    ))

  it("stopping the actor while an interleaved ask waits ends that ask", () =>
    Tiers.run(
      tier(),
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const gate = yield* ActorSystem.spawn(Gate, {}).pipe(Scope.provide(scope))
        const waiting = yield* Effect.forkChild(Effect.exit(gate.ask("await", 100)))
        yield* Effect.sleep("20 millis")
        yield* Scope.close(scope, Exit.void)
        const exit = yield* Fiber.join(waiting).pipe(Effect.timeout("5 seconds"))
        expect(exit._tag).toBe("Failure")
      })
    ))
})
