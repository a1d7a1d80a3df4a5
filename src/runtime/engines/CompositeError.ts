/**
 * The per-engine error summary: when an operation fails on some engines, the
 * caller gets one typed error that lists each engine's failure (engine id,
 * operation, error), the counterpart of IPython parallel's `CompositeError`:
 *
 * ```text
 * 2 of 4 engines failed in execute:
 * [0:execute] TypeError: Cannot read properties of undefined (reading 'x')
 * [2:execute] EngineDied: engine 2 died (exited with code 1)
 * ```
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

export class CompositeError extends Schema.TaggedError<CompositeError>()("CompositeError", {
  operation: Schema.String,
  /** Tasks in the operation (engines for a direct-view operation, chunks for a map). */
  total: Schema.Number,
  /** Noun for `total` in the message: "engines" or "tasks". */
  unit: Schema.String,
  failures: Schema.Array(Failure)
}) {
  override get message(): string {
    const lines = this.failures.slice(0, SHOWN).map((failure) =>
      `[${failure.engine < 0 ? "-" : failure.engine}:${this.operation}] ${describeFailure(failure.error)}`
    )
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
