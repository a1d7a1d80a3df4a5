/**
 * The race demo's actor: on its worker, it adds `increments` to a shared counter — unguarded, under a Mutex, or
 * with `Atomics.add` (the kernels of `RaceKernels`) — after a start barrier, so that all workers really
 * increment at the same time. Replies with the seconds it spent incrementing.
 */
import { Effect, Schema } from "effect"
import { Actor } from "../../runtime/index.ts"
import { Barrier } from "../../runtime/shared/index.ts"
import * as RaceKernels from "./RaceKernels.ts"
import * as Schemas from "./Schemas.ts"

/** How long a worker waits at the start barrier for the others. */
export const START_TIMEOUT_MS = 10_000

export const RaceCounter = Actor.make("RaceCounter", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    /** Waits at the start barrier, then increments; replies with the seconds spent incrementing. */
    run: Actor.message({ payload: Schemas.Race, success: Schema.Number, error: Schemas.RaceError })
  },
  behaviour: () =>
    Effect.succeed({
      run: ({ counter, guard, increments, mutex, start }) =>
        Effect.suspend(() => {
          try {
            if (start !== null) Barrier.fromHandle(start).wait(START_TIMEOUT_MS)
            const t0 = performance.now()
            if (guard === "unguarded") RaceKernels.incrementUnguarded(counter, increments)
            else if (guard === "locked") RaceKernels.incrementLocked(counter, mutex, increments)
            else RaceKernels.incrementAtomic(counter, increments)
            return Effect.succeed((performance.now() - t0) / 1000)
          } catch (thrown) {
            // The shared primitives throw their typed errors; anything else thrown is a bug.
            return Schemas.isRaceError(thrown) ? Effect.fail(thrown) : Effect.die(thrown)
          }
        })
    })
})
