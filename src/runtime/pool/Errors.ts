/**
 * The typed failures a pool adds to its tasks' own errors: the input failed part-way (`InputFailed`, after every
 * result of what was read before), a task threw (`TaskThrew`, with the remote stack and the failing input), the
 * pool was terminated (`PoolTerminated`) or a call took longer than its `timeout` (`PoolTimeout`). A task's own
 * typed error arrives as itself (put the input in it if you need it: it is your value).
 */
import { Predicate, Schema } from "effect"

/** The input iterable threw after `read` items; `results` holds the results of those items (`map` only). */
export class InputFailed extends Schema.TaggedError<InputFailed>()("InputFailed", {
  read: Schema.Number,
  detail: Schema.String,
  cause: Schema.Defect(),
  results: Schema.optional(Schema.Array(Schema.Unknown))
}) {
  override get message(): string {
    return `the input failed after ${this.read} item${this.read === 1 ? "" : "s"}: ${this.detail}`
  }
}

/** A task threw (or died) on an item: Python's exception in a pool, with the worker's stack and the item. */
export class TaskThrew extends Schema.TaggedError<TaskThrew>()("TaskThrew", {
  task: Schema.String,
  /** The item's position in the call's input (in its chunk, until the pool places it). */
  index: Schema.Number,
  /** The item that made it throw, as given (undefined until the pool fills it in). */
  input: Schema.Unknown,
  /** The thrown error's name (`RangeError`), or `Defect`. */
  error: Schema.String,
  /** The thrown error's own message. */
  detail: Schema.String,
  /** Its stack on the worker (frames of the worker's bundle). */
  stack: Schema.String
}) {
  override get message(): string {
    return `task ${this.task} threw on item ${this.index} (${safe(this.input)}): ${this.error}: ${this.detail}`
  }
}

/** The pool was terminated (`terminate`) while the call waited or ran, or before it started. */
export class PoolTerminated extends Schema.TaggedError<PoolTerminated>()("PoolTerminated", {}) {
  override get message(): string {
    return "the pool was terminated"
  }
}

/** The call did not finish within its `timeout` (its work was interrupted). */
export class PoolTimeout extends Schema.TaggedError<PoolTimeout>()("PoolTimeout", {
  operation: Schema.String,
  ms: Schema.Number
}) {
  override get message(): string {
    return `${this.operation} did not finish within ${this.ms} ms`
  }
}

export const isInputFailed = (u: unknown): u is InputFailed => Predicate.isTagged(u, "InputFailed")
export const isTaskThrew = (u: unknown): u is TaskThrew => Predicate.isTagged(u, "TaskThrew")
export const isPoolTerminated = (u: unknown): u is PoolTerminated => Predicate.isTagged(u, "PoolTerminated")
export const isPoolTimeout = (u: unknown): u is PoolTimeout => Predicate.isTagged(u, "PoolTimeout")

const safe = (u: unknown): string => {
  try {
    const text = typeof u === "string" ? JSON.stringify(u) : JSON.stringify(u) ?? String(u)
    return text.length > 80 ? `${text.slice(0, 77)}...` : text
  } catch {
    return String(u)
  }
}
