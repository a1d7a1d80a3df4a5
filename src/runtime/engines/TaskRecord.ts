/**
 * What the client knows about one task: where it is (waiting, queued, running,
 * done), which engine took it, how many attempts it needed, and when it was
 * submitted, started and completed (start and completion measured on the
 * engine), and what it wrote there. Results expose these as their per-task metadata.
 */
import type { Effect } from "effect"
import type { TaskFailure } from "./Errors.ts"

export type Status = "pending" | "queued" | "running" | "succeeded" | "failed" | "aborted"

export interface TaskRecord {
  readonly id: number
  /** The operation the task belongs to (`execute`, `apply`, `map`, ...). */
  readonly label: string
  status: Status
  /** Engine that took the task, -1 until one did. */
  engine: number
  /** Attempts started so far (more than 1 after retries). */
  attempts: number
  /** Engine of each attempt, in order. */
  readonly tried: Array<number>
  /** Client clock, when the task was submitted. */
  readonly submitted: number
  /** Engine clock, when the engine started it. */
  started: number | undefined
  /** Engine clock, when the engine finished it. */
  completed: number | undefined
  /** Client clock, when its outcome arrived. */
  received: number | undefined
  failure: TaskFailure | undefined
  /** What the task wrote on its engine (its last attempt's), "" for nothing. */
  stdout: string
  stderr: string
  /** Set while the task waits in a client-side queue: drops it and fails it with `TaskAborted`. */
  abort: (() => void) | undefined
  /** Set while the task is with an engine (its mailbox or running): asks the engine to withdraw it. */
  abortRemote: (() => Effect.Effect<"aborted" | "running" | "unknown">) | undefined
}

/** A read-only snapshot of a task, as results report it. */
export interface Metadata {
  readonly task: number
  readonly label: string
  readonly status: Status
  readonly engine: number
  readonly attempts: number
  /** Engine of each attempt, in order. */
  readonly tried: ReadonlyArray<number>
  readonly submitted: number
  readonly started: number | undefined
  readonly completed: number | undefined
  readonly received: number | undefined
  /** Engine-side duration (completed - started), ms. */
  readonly duration: number | undefined
  readonly error: string | undefined
  /** What the task wrote on its engine. */
  readonly stdout: string
  readonly stderr: string
}

let nextId = 1

export const make = (label: string, submitted: number): TaskRecord => ({
  id: nextId++,
  label,
  status: "pending",
  engine: -1,
  attempts: 0,
  tried: [],
  submitted,
  started: undefined,
  completed: undefined,
  received: undefined,
  failure: undefined,
  stdout: "",
  stderr: "",
  abort: undefined,
  abortRemote: undefined
})

export const isDone = (task: TaskRecord): boolean =>
  task.status === "succeeded" || task.status === "failed" || task.status === "aborted"

/** Whether the task ended with a failure (or was aborted). */
export const isFailed = (task: TaskRecord): boolean => task.status === "failed" || task.status === "aborted"

export const metadata = (task: TaskRecord): Metadata => ({
  task: task.id,
  label: task.label,
  status: task.status,
  engine: task.engine,
  attempts: task.attempts,
  tried: [...task.tried],
  submitted: task.submitted,
  started: task.started,
  completed: task.completed,
  received: task.received,
  duration: task.started !== undefined && task.completed !== undefined ? task.completed - task.started : undefined,
  error: task.failure === undefined ? undefined : task.failure._tag === "RemoteError" ? `${task.failure.error}: ${task.failure.message}` : task.failure._tag,
  stdout: task.stdout,
  stderr: task.stderr
})
