/**
 * Retrying idempotent work whose worker died: the runtime fails such asks with `WorkerDied` and restarts the
 * worker, and work that is safe to repeat (a π chunk, a pure pool task) is sent again — to another live worker
 * at once when the caller has one (`elsewhere`), otherwise once the dead worker's successor is up. Both are
 * bounded: at most `times` resends, at most `maxWaitMs` waiting for a successor, and no waiting at all for a
 * worker the tier gave up on (`WorkerLost`).
 *
 * Written as a plain catch rather than `Effect.retry` with a Schedule: it costs nothing on the success path,
 * which matters at hundreds of thousands of asks per second.
 */
import { Effect, Option, Stream } from "effect"
import { isWorkerDied, isWorkerLost } from "./ActorError.ts"
import type { WorkerDied, WorkerLost } from "./ActorError.ts"
import { ActorSystem } from "./ActorSystem.ts"

export interface Policy {
  /** Resends after the first attempt (default 5). */
  readonly times?: number
  /** The longest wait for a dead worker's successor, in ms, before failing with its `WorkerDied` (default 30000). */
  readonly maxWaitMs?: number
  /**
   * Whether the resend can go to another live worker right away (a balancer with a member up): then it does,
   * without waiting for the successor.
   */
  readonly elsewhere?: () => boolean
}

export const onWorkerDeath = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  policy: Policy = {}
): Effect.Effect<A, E | WorkerLost, R | ActorSystem> => resend(self, policy.times ?? 5, policy)

/** One catch frame per attempt; the next attempt's frame is only built after a death. */
const resend = <A, E, R>(self: Effect.Effect<A, E, R>, left: number, policy: Policy): Effect.Effect<A, E | WorkerLost, R | ActorSystem> =>
  Effect.catch(self, (error): Effect.Effect<A, E | WorkerLost, R | ActorSystem> => {
    if (left <= 0 || !(isWorkerDied(error) || isWorkerLost(error))) return Effect.fail(error)
    if (policy.elsewhere?.() === true) return resend(self, left - 1, policy)
    if (isWorkerLost(error)) return Effect.fail(error)
    return successor(error, policy.maxWaitMs ?? 30_000).pipe(
      Effect.flatMap((up) => (up ? resend(self, left - 1, policy) : Effect.fail(error)))
    )
  })

/**
 * `onWorkerDeath` for a stream that may have delivered part of its elements before its worker died: `make()`
 * opens it afresh for each attempt, and the elements the consumer already had are skipped, so that each arrives
 * exactly once (the stream must produce the same elements in the same order every time, as a pure task does).
 */
export const streamOnWorkerDeath = <A, E, R>(
  make: () => Stream.Stream<A, E, R>,
  policy: Policy = {}
): Stream.Stream<A, E | WorkerLost, R | ActorSystem> =>
  Stream.suspend(() => {
    let delivered = 0
    const attempt = (left: number): Stream.Stream<A, E | WorkerLost, R | ActorSystem> => {
      let seen = 0
      // One pass per element, no Effect: skip what earlier attempts delivered, count what this one delivers.
      const fresh = Stream.filter(make(), () => {
        if (seen++ < delivered) return false
        delivered++
        return true
      })
      return Stream.catch(fresh, (error) => {
        if (left <= 0 || !(isWorkerDied(error) || isWorkerLost(error))) return Stream.fail(error)
        if (policy.elsewhere?.() === true) return attempt(left - 1)
        if (isWorkerLost(error)) return Stream.fail(error)
        return Stream.unwrap(Effect.map(successor(error, policy.maxWaitMs ?? 30_000), (up) => (up ? attempt(left - 1) : Stream.fail(error))))
      })
    }
    return attempt(policy.times ?? 5)
  })

/** Wait for the successor of the worker that died: true once it is up, false after `maxWaitMs`. */
const successor = (died: WorkerDied, maxWaitMs: number): Effect.Effect<boolean, WorkerLost, ActorSystem> =>
  ActorSystem.use((system) => system.awaitUp(died.worker)).pipe(
    Effect.timeoutOption(maxWaitMs),
    Effect.map(Option.isSome)
  )
