/**
 * What crosses threads in the race demo: which guard a racer uses, the shared counter, mutex and start barrier
 * it races on, and the typed errors a racer can fail with.
 */
import { Schema } from "effect"
import { AtomicCounter, Barrier, Mutex } from "../../runtime/shared/index.ts"

/** How `counter += 1` is guarded: not at all, by a Mutex, or by `Atomics.add`. */
export const Guard = Schema.Literals(["unguarded", "locked", "atomic"])
export type Guard = typeof Guard.Type
export const GUARDS = Guard.literals

/** One racer's orders. */
export const Race = Schema.Struct({
  guard: Guard,
  counter: AtomicCounter.HandleSchema,
  mutex: Mutex.HandleSchema,
  /** All racers wait here first (null for a single racer). */
  start: Schema.NullOr(Barrier.HandleSchema),
  increments: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))
})

/** A lock holder died, or the start barrier broke or timed out. */
export const RaceError = Schema.Union([Mutex.LockOwnerDied, Barrier.BarrierBroken, Barrier.BarrierTimeout])
export type RaceError = typeof RaceError.Type

/** Whether something thrown is one of the `RaceError`s. */
export const isRaceError = Schema.is(RaceError)
