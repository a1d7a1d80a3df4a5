/**
 * The per-engine error summary: when an operation fails on some engines, the
 * caller gets one typed error that lists each engine's failure (engine id,
 * operation, error), the counterpart of IPython parallel's `CompositeError`:
 *
 * ```text
 * 2 of 4 engines failed in execute:
 * [0:execute] TypeError: Cannot read properties of undefined (reading 'x')
 *     at readX (src/kernels.ts:12:17)
 * [2:execute] EngineDied: engine 2 died (exited with code 1)
 * ```
 *
 * Under each remote error it shows the first frames of its stack (mapped to the
 * `.ts` sources) and the cause chain; `on(engine)` gives the whole of it.
 */
import { Schema } from "effect"
import { TaskFailure, describeFailure } from "./Errors.ts"

/** One failed task: the engine it ran on (-1 if it never reached one), its task id and its failure. */
export const Failure = Schema.Struct({
  engine: Schema.Number,
  task: Schema.Number,
  error: TaskFailure
})
export type Failure = typeof Failure.Type

/** How many failures the message spells out; the rest are counted. */
const SHOWN = 16
/** Stack frames the message shows under each failure (the whole stack is on the failure). */
const FRAMES = 3

/** Where a failure was raised, as indented lines: its first frames and the header of each cause. */
const where = (failure: TaskFailure): Array<string> => {
  if (failure._tag !== "RemoteError" || failure.stack === "") return []
  const lines = failure.stack.split("\n")
  const firstCause = lines.findIndex((line) => line.startsWith("Caused by: "))
  const own = firstCause < 0 ? lines : lines.slice(0, firstCause)
  const frames = own.filter((line) => /^\s+at /.test(line)).slice(0, FRAMES).map((line) => `    ${line.trim()}`)
  const causes = lines.filter((line) => line.startsWith("Caused by: ")).map((line) => `    ${line}`)
  return [...frames, ...causes]
}

export class CompositeError extends Schema.TaggedError<CompositeError>()("CompositeError", {
  operation: Schema.String,
  /** Tasks in the operation (engines for a direct-view operation, chunks for a map). */
  total: Schema.Number,
  /** Noun for `total` in the message: "engines" or "tasks". */
  unit: Schema.String,
  failures: Schema.Array(Failure)
}) {
  override get message(): string {
    const lines = this.failures.slice(0, SHOWN).flatMap((failure) => [
      `[${failure.engine < 0 ? "-" : failure.engine}:${this.operation}] ${describeFailure(failure.error)}`,
      ...where(failure.error)
    ])
    if (this.failures.length > SHOWN) lines.push(`... and ${this.failures.length - SHOWN} more`)
    return `${this.failures.length} of ${this.total} ${this.unit} failed in ${this.operation}:\n${lines.join("\n")}`
  }

  /** Engines that failed, in order, without repeats. */
  get engines(): ReadonlyArray<number> {
    return [...new Set(this.failures.map((failure) => failure.engine))]
  }

  /** Printed (Node's inspect, a REPL) as its summary, like IPython's traceback listing. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `${this._tag}: ${this.message}`
  }

  /** The failure of one engine (the first, if it failed several tasks). */
  on(engine: number): TaskFailure | undefined {
    return this.failures.find((failure) => failure.engine === engine)?.error
  }
}

export const make = (
  operation: string,
  total: number,
  failures: ReadonlyArray<Failure>,
  unit: "engines" | "tasks" = "engines"
): CompositeError =>
  new CompositeError({ operation, total, unit, failures: [...failures].sort((a, b) => a.engine - b.engine || a.task - b.task) })
