/**
 * The warm-up hook of actor definitions runs once per thread, before the first actor of the definition starts
 * there.
 */
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { ActorSystem } from "../src/runtime/index.ts"
import { Warm } from "./fixtures/Warm.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

describe("an actor definition's warm-up", () => {
  it.each([["Local", () => tiers.local()], ["Threads(2)", () => tiers.threads(2)]] as const)(
    "runs once per thread, before the first actor starts (%s)",
    async (_, tier) => {
      const seen = await Tiers.run(
        tier(),
        Effect.gen(function*() {
          const actors = yield* Effect.forEach([0, 1, 0, 1, 0], (worker) => ActorSystem.spawn(Warm, {}, { worker }))
          return yield* Effect.forEach(actors, (actor) => actor.ask("seen", undefined))
        })
      )
      for (const { atStart, now } of seen) {
        expect(atStart).toBe(1)
        expect(now).toBe(1)
      }
    }
  )
})
