/**
 * The typed failures of engine work: what one task on one engine can end with.
 *
 * Each is a Schema class so it survives a thread boundary (an engine encodes a
 * `RemoteError`, the client decodes the same class) and so a summary of many of
 * them (`CompositeError`) can name every engine's failure precisely.
 */
import { Predicate, Schema } from "effect"

/**
 * The user's function threw (or failed) on an engine; `error` is the thrown error's name, e.g. `TypeError`,
 * `function` the name of the function that raised it. `stack` is the error's stack where it was thrown, mapped
 * to the `.ts` sources, followed by its cause chain (`Caused by: ...`); empty when the engine has none to give.
 */
export class RemoteError extends Schema.TaggedError<RemoteError>()("RemoteError", {
  engine: Schema.Number,
  error: Schema.String,
  message: Schema.String,
  stack: Schema.String,
  function: Schema.optional(Schema.String),
  /** What the task wrote before it failed (when it wrote anything). */
  stdout: Schema.optional(Schema.String),
  stderr: Schema.optional(Schema.String)
}) {}

/** The engine's thread died while it held the task (its namespace is gone; it is restarted empty). */
export class EngineDied extends Schema.TaggedError<EngineDied>()("EngineDied", {
  engine: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `engine ${this.engine} died (${this.reason})`
  }
}

/** The task was aborted while it still waited in the client's queue, before any engine saw it. */
export class TaskAborted extends Schema.TaggedError<TaskAborted>()("TaskAborted", {
  task: Schema.Number
}) {
  override get message(): string {
    return `task ${this.task} was aborted before it reached an engine`
  }
}

/** The task's dependencies can never be met (a dependency failed, or `follow` tasks ran on different engines). */
export class ImpossibleDependency extends Schema.TaggedError<ImpossibleDependency>()("ImpossibleDependency", {
  task: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `task ${this.task}: ${this.reason}`
  }
}

/** The task's dependencies were not met within its `timeout`. */
export class DependencyTimeout extends Schema.TaggedError<DependencyTimeout>()("DependencyTimeout", {
  task: Schema.Number,
  timeout: Schema.Number
}) {
  override get message(): string {
    return `dependencies of task ${this.task} not met within ${this.timeout} ms`
  }
}

/** A function cannot be sent to engines (it captures outer variables, is native, or does not parse). */
export class NotShippable extends Schema.TaggedError<NotShippable>()("NotShippable", {
  function: Schema.String,
  captured: Schema.Array(Schema.String),
  message: Schema.String
}) {}

/** A value cannot cross to or from an engine (a function, a symbol, a promise, ... inside it). */
export class NotCloneable extends Schema.TaggedError<NotCloneable>()("NotCloneable", {
  path: Schema.String,
  message: Schema.String
}) {}

/** A view named engines that do not exist (or selected none). */
export class NoSuchEngine extends Schema.TaggedError<NoSuchEngine>()("NoSuchEngine", {
  selection: Schema.String,
  ids: Schema.Array(Schema.Number)
}) {
  override get message(): string {
    return `no engine matches ${this.selection} (engines: ${this.ids.join(", ")})`
  }
}

/** A load-balanced task failed on every engine it may run on (each at most once), and has retries left. */
export class NoEngineLeft extends Schema.TaggedError<NoEngineLeft>()("NoEngineLeft", {
  task: Schema.Number,
  tried: Schema.Array(Schema.Number),
  /** The last attempt's failure, in one line. */
  last: Schema.String
}) {
  override get message(): string {
    return `task ${this.task} failed on every engine it may run on (${this.tried.join(", ")}); last: ${this.last}`
  }
}

/** `abort` found tasks already running on their engines (they go on; the others were aborted). */
export class TaskRunning extends Schema.TaggedError<TaskRunning>()("TaskRunning", {
  tasks: Schema.Array(Schema.Struct({ task: Schema.Number, engine: Schema.Number }))
}) {
  override get message(): string {
    return `cannot abort ${this.tasks.map((t) => `task ${t.task} (running on engine ${t.engine})`).join(", ")}: already running`
  }
}

/**
 * An engine refused a task because it restarted since the client last saw it (its namespace is new): the client
 * replays what it recorded for that engine and sends the task again. Not seen by users.
 */
export class Restarted extends Schema.TaggedError<Restarted>()("Restarted", {
  engine: Schema.Number,
  incarnation: Schema.Number
}) {}

/** Everything one task can end with besides its value. */
export type TaskFailure = RemoteError | EngineDied | TaskAborted | ImpossibleDependency | DependencyTimeout | NotCloneable | NoEngineLeft

export const TaskFailure = Schema.Union([RemoteError, EngineDied, TaskAborted, ImpossibleDependency, DependencyTimeout, NotCloneable, NoEngineLeft])

/** Whether a value in a result with `returnExceptions` is a failure in place of a value. */
export const isTaskFailure = (u: unknown): u is TaskFailure =>
  isRemoteError(u) || isEngineDied(u) || isTaskAborted(u) || Predicate.isTagged(u, "ImpossibleDependency") ||
  Predicate.isTagged(u, "DependencyTimeout") || Predicate.isTagged(u, "NotCloneable") || Predicate.isTagged(u, "NoEngineLeft")

export const isRemoteError = (u: unknown): u is RemoteError => Predicate.isTagged(u, "RemoteError")
export const isEngineDied = (u: unknown): u is EngineDied => Predicate.isTagged(u, "EngineDied")
export const isTaskAborted = (u: unknown): u is TaskAborted => Predicate.isTagged(u, "TaskAborted")
export const isTaskRunning = (u: unknown): u is TaskRunning => Predicate.isTagged(u, "TaskRunning")
export const isNoEngineLeft = (u: unknown): u is NoEngineLeft => Predicate.isTagged(u, "NoEngineLeft")
export const isRestarted = (u: unknown): u is Restarted => Predicate.isTagged(u, "Restarted")

/** One line for a failure, as the per-engine summary prints it. */
export const describeFailure = (failure: TaskFailure): string => {
  switch (failure._tag) {
    case "RemoteError":
      return `${failure.error}: ${failure.message}`
    default:
      return `${failure._tag}: ${failure.message}`
  }
}
