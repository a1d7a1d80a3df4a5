/**
 * The typed errors an actor boundary can raise, whatever tier the actor lives on.
 *
 * They are Schema classes so that they cross thread boundaries intact: a worker
 * encodes them, the caller decodes them back into the same class.
 */
import { Schema } from "effect"

/** The worker that held the message died (process.exit, an uncaught throw, resource limits). */
export class WorkerDied extends Schema.TaggedError<WorkerDied>()("WorkerDied", {
  worker: Schema.Number,
  reason: Schema.String
}) {}

/** A message, reply or init payload failed Schema decoding at a thread boundary. */
export class MalformedMessage extends Schema.TaggedError<MalformedMessage>()("MalformedMessage", {
  actor: Schema.String,
  message: Schema.String,
  detail: Schema.String
}) {}

/** A handler died with a defect (a thrown exception, not a typed failure). */
export class ActorDefect extends Schema.TaggedError<ActorDefect>()("ActorDefect", {
  actor: Schema.String,
  message: Schema.String,
  detail: Schema.String
}) {}

/** The actor could not be created (bad init parameters, module not loadable, init effect failed). */
export class SpawnFailed extends Schema.TaggedError<SpawnFailed>()("SpawnFailed", {
  actor: Schema.String,
  detail: Schema.String
}) {}

/** The actor was stopped (its scope closed) before the message could be handled. */
export class ActorStopped extends Schema.TaggedError<ActorStopped>()("ActorStopped", {
  actor: Schema.String
}) {}

/** Every error the runtime itself can add to an ask, on top of the message's own error. */
export type ActorError = WorkerDied | MalformedMessage | ActorDefect | ActorStopped

export const ActorErrorSchema = Schema.Union([WorkerDied, MalformedMessage, ActorDefect, ActorStopped, SpawnFailed])

/** Render anything thrown into one line for a `detail` field. */
export const describe = (u: unknown): string => {
  if (typeof u === "object" && u !== null && "_tag" in u) {
    const { _tag, ...fields } = u as { _tag: string }
    return `${_tag} ${JSON.stringify(fields)}`
  }
  if (u instanceof Error) return `${u.name}: ${u.message}`
  try {
    return typeof u === "string" ? u : JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}
