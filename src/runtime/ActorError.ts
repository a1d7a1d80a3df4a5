/**
 * The typed errors an actor boundary can raise, whatever tier the actor lives on.
 *
 * They are Schema classes so that they cross thread boundaries intact: a worker
 * encodes them, the caller decodes them back into the same class.
 */
import { Predicate, Schema } from "effect"
import { mapStack } from "./internal/SourceMap.ts"

/** The worker that held the message died (process.exit, an uncaught throw, resource limits). */
export class WorkerDied extends Schema.TaggedError<WorkerDied>()("WorkerDied", {
  worker: Schema.Number,
  reason: Schema.String
}) {}

/**
 * The tier gave up on the worker that held the message, or that the actor was placed on: it kept dying
 * (more restarts than its supervision policy allows) or could not be started at all. Unlike `WorkerDied`,
 * waiting does not help: the worker does not come back for the life of the tier.
 */
export class WorkerLost extends Schema.TaggedError<WorkerLost>()("WorkerLost", {
  worker: Schema.Number,
  reason: Schema.String
}) {}

/** A message, reply or init payload failed Schema decoding at a thread boundary. */
export class MalformedMessage extends Schema.TaggedError<MalformedMessage>()("MalformedMessage", {
  actor: Schema.String,
  message: Schema.String,
  detail: Schema.String
}) {}

/**
 * A handler died with a defect (a thrown exception, not a typed failure). `message` is the message's tag,
 * `detail` the thrown error in one line; when it came from a handler, `worker` is the thread that ran it (0 on
 * the Local tier) and `stack` its stack where it was thrown, source-mapped to the `.ts` files, with its cause
 * chain (see `trace`).
 */
export class ActorDefect extends Schema.TaggedError<ActorDefect>()("ActorDefect", {
  actor: Schema.String,
  message: Schema.String,
  detail: Schema.String,
  worker: Schema.optional(Schema.Number),
  stack: Schema.optional(Schema.String)
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
export type ActorError = WorkerDied | WorkerLost | MalformedMessage | ActorDefect | ActorStopped

export const ActorErrorSchema = Schema.Union([WorkerDied, WorkerLost, MalformedMessage, ActorDefect, ActorStopped, SpawnFailed])

export const isWorkerDied = (u: unknown): u is WorkerDied => Predicate.isTagged(u, "WorkerDied")
export const isWorkerLost = (u: unknown): u is WorkerLost => Predicate.isTagged(u, "WorkerLost")
export const isMalformedMessage = (u: unknown): u is MalformedMessage => Predicate.isTagged(u, "MalformedMessage")
export const isActorDefect = (u: unknown): u is ActorDefect => Predicate.isTagged(u, "ActorDefect")
export const isActorStopped = (u: unknown): u is ActorStopped => Predicate.isTagged(u, "ActorStopped")
export const isSpawnFailed = (u: unknown): u is SpawnFailed => Predicate.isTagged(u, "SpawnFailed")

/** One of the errors the runtime adds to an ask (not a message's own typed error). */
export const isActorError = (u: unknown): u is ActorError =>
  isWorkerDied(u) || isWorkerLost(u) || isMalformedMessage(u) || isActorDefect(u) || isActorStopped(u)

/**
 * Anything thrown or failed, as one line: for `detail` fields, and for what programs print to a user. Tagged
 * errors show their tag and fields (or their message), errors their name and message; a long message keeps its
 * first three lines, joined.
 */
export const describe = (u: unknown): string => {
  if (Predicate.hasProperty(u, "_tag") && typeof u._tag === "string") {
    // A carried stack is for `trace`, not for a line.
    const { _tag, stack: _, ...fields } = u as { _tag: string } & Record<string, unknown>
    if (typeof fields.message === "string" && Object.keys(fields).length === 1) return `${_tag}: ${oneLine(fields.message)}`
    return `${_tag} ${safeJson(fields)}`
  }
  if (u instanceof Error) return `${u.name}: ${oneLine(u.message)}`
  return typeof u === "string" ? oneLine(u) : safeJson(u)
}

/** Frame lines kept of each error's stack, and errors kept along a cause chain. */
const TRACE_FRAMES = 40
const TRACE_CAUSES = 8

/** One error's stack: its header (name and message, any number of lines) and at most `TRACE_FRAMES` frames. */
const stackOf = (u: unknown): string => {
  const stack = Predicate.hasProperty(u, "stack") && typeof u.stack === "string" && u.stack.length > 0 ? u.stack : undefined
  if (stack === undefined) return describe(u)
  const lines = mapStack(stack).split("\n")
  const firstFrame = lines.findIndex((line) => /^\s+at /.test(line))
  if (firstFrame < 0) return stack
  const kept = lines.slice(0, firstFrame + TRACE_FRAMES)
  if (lines.length > kept.length) kept.push(`    ... ${lines.length - kept.length} more frames`)
  return kept.join("\n")
}

/**
 * Anything thrown or failed, in full: its stack where it was thrown, with frames in worker bundles mapped to
 * the `.ts` sources (`SourceMap.mapStack`), followed by its cause chain (`Caused by: ...`), bounded in length.
 * What crosses a thread boundary in a defect's or a remote error's `stack` field.
 */
export const trace = (u: unknown): string => {
  const parts: Array<string> = []
  const seen = new Set<unknown>()
  let current: unknown = u
  while (current !== undefined && current !== null && !seen.has(current) && parts.length < TRACE_CAUSES) {
    seen.add(current)
    parts.push(parts.length === 0 ? stackOf(current) : `Caused by: ${stackOf(current)}`)
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  return parts.join("\n")
}

/** The first three lines of a text, joined by spaces. */
export const oneLine = (text: string): string => text.split("\n").slice(0, 3).map((line) => line.trim()).join(" ")

const safeJson = (u: unknown): string => {
  try {
    return JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}
