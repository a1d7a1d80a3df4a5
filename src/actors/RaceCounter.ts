/**
 * The race demo's actor: on its worker, it adds `increments` to a shared counter — unguarded, under a Mutex, or
 * with `Atomics.add` (the kernels of `RaceKernels`) — after a start barrier, so that all workers really
 * increment at the same time. Replies with the seconds it spent incrementing.
 */
import { Effect, Schema } from "effect"
import * as Actor from "../runtime/Actor.ts"
import * as AtomicCounter from "../runtime/shared/AtomicCounter.ts"
import * as Barrier from "../runtime/shared/Barrier.ts"
import * as Mutex from "../runtime/shared/Mutex.ts"
import * as RaceKernels from "./race/RaceKernels.ts"

export const GUARDS = ["unguarded", "locked", "atomic"] as const
export type Guard = (typeof GUARDS)[number]

/** How long a worker waits at the start barrier for the others. */
export const START_TIMEOUT_MS = 10_000

export const Race = Schema.Struct({
  guard: Schema.Literals(GUARDS),
  counter: AtomicCounter.HandleSchema,
  mutex: Mutex.HandleSchema,
  /** All racers wait here first (null for a single racer). */
  start: Schema.NullOr(Barrier.HandleSchema),
  increments: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))
})

export const RaceError = Schema.Union([Mutex.LockOwnerDied, Barrier.BarrierBroken, Barrier.BarrierTimeout])

const typed = (thrown: unknown) =>
  thrown instanceof Mutex.LockOwnerDied || thrown instanceof Barrier.BarrierBroken || thrown instanceof Barrier.BarrierTimeout
    ? Effect.fail(thrown)
    : Effect.die(thrown)

export const RaceCounter = Actor.make("RaceCounter", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    /** Waits at the start barrier, then increments; replies with the seconds spent incrementing. */
    run: Actor.message({ payload: Race, success: Schema.Number, error: RaceError })
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
            return typed(thrown)
          }
        })
    })
})
