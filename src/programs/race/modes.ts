/**
 * The chapter's lost-update race, on the framework's workers: W racers (one RaceCounter actor per worker) each
 * add K to one shared Int32 counter — unguarded (updates lost), with a lock, with atomics — and the expected
 * and observed totals are compared. Shared by `race.ts`, the benchmark and the tests.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { RaceCounter } from "../../actors/race/RaceCounter.ts"
import * as Schemas from "../../actors/race/Schemas.ts"
import { ActorSystem } from "../../runtime/index.ts"
import type { ActorError } from "../../runtime/index.ts"
import { AtomicCounter, Barrier, Mutex } from "../../runtime/shared/index.ts"

export const MODES = Schemas.GUARDS
export type Mode = Schemas.Guard

/** The counter is an Int32: totals must stay below 2^31. */
export const MAX_TOTAL = 2 ** 31 - 1

export interface Result {
  readonly mode: Mode
  readonly workers: number
  /** Increments per worker (K). */
  readonly increments: number
  readonly expected: number
  readonly observed: number
  readonly lost: number
  /** The slowest racer's time from the start barrier to its last increment. */
  readonly seconds: number
}

export type RaceError = ActorError.ActorError | Schemas.RaceError

export interface Racers {
  readonly workers: number
  readonly race: (mode: Mode, increments: number) => Effect.Effect<Result, RaceError>
}

/** One racer per worker of the provided tier (racers must not share a thread: they wait at a barrier). */
export const prepare: Effect.Effect<Racers, ActorError.SpawnFailed, ActorSystem.ActorSystem | Scope.Scope> = Effect.gen(function*() {
  const system = yield* ActorSystem.ActorSystem
  const racers = yield* ActorSystem.spawnMany(RaceCounter, system.workers, () => ({}))
  const workers = racers.length
  const race = (mode: Mode, increments: number): Effect.Effect<Result, RaceError> =>
    Effect.gen(function*() {
      const expected = workers * increments
      if (!Number.isSafeInteger(increments) || increments < 0 || expected > MAX_TOTAL) {
        return yield* Effect.die(new RangeError(`race: workers × increments must be an integer in [0, 2^31), got ${workers} × ${increments}`))
      }
      const counter = AtomicCounter.make()
      const mutex = Mutex.make({ name: "race" })
      const start = workers > 1 ? Barrier.make(workers, { name: "race-start" }).handle : null
      const times = yield* Effect.forEach(
        racers,
        (racer) => racer.ask("run", { guard: mode, counter: counter.handle, mutex: mutex.handle, start, increments }),
        { concurrency: "unbounded" }
      )
      const observed = counter.get()
      return { mode, workers, increments, expected, observed, lost: expected - observed, seconds: Math.max(...times) }
    })
  return { workers, race }
})

export const run = (mode: Mode, increments: number) => Effect.flatMap(prepare, (racers) => racers.race(mode, increments))
