/**
 * How long a persisted message's saved reply is kept. Effect Cluster keeps every persisted request and its reply
 * in Postgres for good (it deletes none), so a cluster that runs for months would grow its message tables without
 * end. The launcher's process (which owns the embedded Postgres) so forgets, now and then, the requests that are
 * done and older than the retention, with their replies: a key asked again after that runs again.
 *
 * A request's age is its snowflake id's timestamp (Effect Cluster's ids carry the time they were made). A request
 * not done yet (running, or waiting to be redelivered after its runner died) is kept whatever its age.
 */
import { Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import * as Snowflake from "effect/cluster/Snowflake"
import { SqlClient } from "effect/sql/SqlClient"
import { describe } from "../../ActorError.ts"
import { TYPE } from "./Protocol.ts"

/** Effect Cluster's tables (`SqlMessageStorage` with its default prefix). */
const MESSAGES = "cluster_messages"
const REPLIES = "cluster_replies"

/** The default retention: a week. */
export const DEFAULT_KEEP: Duration.Duration = Duration.days(7)

/** The shortest pause between two sweeps, and the longest. */
const MIN_PAUSE = Duration.seconds(1)
const MAX_PAUSE = Duration.hours(1)

/** Forget the done persisted requests of actors older than `keep`, with their replies; how many requests went. */
export const sweep = (keep: Duration.Duration): Effect.Effect<number, unknown, SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    // The smallest id made at the cutoff: its time since Effect Cluster's epoch, above 22 bits of machine and sequence.
    const cutoff = BigInt(Math.max(0, Date.now() - Duration.toMillis(keep) - Snowflake.constEpochMillis)) << 22n
    const old = `SELECT request_id FROM ${MESSAGES} WHERE entity_type = $1 AND request_id = id AND processed AND id < $2`
    const args = [TYPE, String(cutoff)]
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql.unsafe(`DELETE FROM ${REPLIES} WHERE request_id IN (${old})`, args)
      const gone = yield* sql.unsafe<{ id: string }>(`DELETE FROM ${MESSAGES} WHERE request_id IN (${old}) RETURNING id`, args)
      return gone.length
    }))
  }).pipe(
    // The tables are made by the first runner that joins: before that there is nothing to forget.
    Effect.catchIf((error) => describe(error).includes("does not exist"), () => Effect.succeed(0))
  )

/**
 * Forget done requests older than `keep`, sweeping every `keep / 4` (within 1 s and 1 h) while the scope is open;
 * a failed sweep is logged and tried again.
 */
export const forgetOlderThan = (keep: Duration.Duration): Effect.Effect<void, never, SqlClient | Scope.Scope> => {
  const pause = Duration.clamp(Duration.divideUnsafe(keep, 4), { minimum: MIN_PAUSE, maximum: MAX_PAUSE })
  return sweep(keep).pipe(
    Effect.catchCause((cause) => Effect.logWarning("could not forget old persisted replies", cause)),
    Effect.repeat(Schedule.spaced(pause)),
    Effect.asVoid,
    Effect.forkScoped,
    Effect.asVoid
  )
}
