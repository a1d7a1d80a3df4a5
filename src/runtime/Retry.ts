/**
 * Retrying idempotent work whose worker died: the runtime fails such asks with
 * `WorkerDied` and restarts the worker, and work that is safe to repeat (a π
 * chunk, a pure pool task) is sent again after a short exponential backoff.
 *
 * Written as a plain catch rather than `Effect.retry` with a Schedule: it costs
 * nothing on the success path, which matters at hundreds of thousands of asks
 * per second.
 */
import { Effect } from "effect"
import { isWorkerDied } from "./ActorError.ts"

export interface Policy {
  /** Resends after the first attempt (default 5). */
  readonly times?: number
  /** First delay in milliseconds, doubled per attempt (default 20). */
  readonly baseMs?: number
}

export const onWorkerDeath = <A, E, R>(self: Effect.Effect<A, E, R>, policy: Policy = {}): Effect.Effect<A, E, R> =>
  resend(self, policy.times ?? 5, policy.baseMs ?? 20)

/** One catch frame per attempt; the next attempt's frame is only built after a death. */
const resend = <A, E, R>(self: Effect.Effect<A, E, R>, left: number, delay: number): Effect.Effect<A, E, R> =>
  Effect.catch(self, (error) =>
    left > 0 && isWorkerDied(error)
      ? Effect.flatMap(Effect.sleep(delay), () => resend(self, left - 1, delay * 2))
      : Effect.fail(error))
