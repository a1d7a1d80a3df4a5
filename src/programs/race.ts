/**
 * The chapter's lost-update race, shown and fixed: W workers each add K to one shared counter — unguarded
 * (`counter += 1` as a separate read and write: updates are lost), with a lock (a futex Mutex), with atomics
 * (`Atomics.add`). The racers are actors on the framework's worker threads, started together at a barrier.
 *
 *   npx tsx src/programs/race.ts --workers 2 --increments 1e7
 *   npx tsx src/programs/race.ts --mode unguarded --json
 */
import { Console, Effect, Layer, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { Progress, Threads } from "../runtime/index.ts"
import * as Flags from "./cli/Flags.ts"
import * as Main from "./cli/Main.ts"
import * as Table from "./cli/Table.ts"
import * as Tier from "./cli/Tier.ts"
import * as TraceFile from "./cli/TraceFile.ts"
import * as Modes from "./race/modes.ts"

export interface Row extends Modes.Result {
  readonly lostPercent: number
  readonly incrementsPerSecond: number
}

const flags = {
  workers: Flags.workers("racing worker threads, one racer each (default: cores)", 64),
  increments: Flag.Finite("increments").pipe(
    Flag.withSchema(Flags.PositiveInt),
    Flag.withDefault(1e7),
    Flag.withDescription("increments per worker, K (accepts 1e7); workers × K must stay below 2^31")
  ),
  mode: Flags.mode(Modes.MODES),
  trace: TraceFile.flag(),
  inspectWorkers: Tier.inspectFlag(),
  json: Flags.json()
}

const columns: ReadonlyArray<Table.Column<Row>> = [
  { header: "mode", cell: (r) => r.mode },
  { header: "workers", cell: (r) => String(r.workers), right: true },
  { header: "increments", cell: (r) => Table.si(r.increments), right: true },
  { header: "expected", cell: (r) => String(r.expected), right: true },
  { header: "observed", cell: (r) => String(r.observed), right: true },
  { header: "lost", cell: (r) => String(r.lost), right: true },
  { header: "lost %", cell: (r) => r.lostPercent.toFixed(1), right: true },
  { header: "seconds", cell: (r) => r.seconds.toFixed(3), right: true },
  { header: "increments/s", cell: (r) => Table.si(r.incrementsPerSecond), right: true }
]

class TooManyIncrements extends Schema.TaggedError<TooManyIncrements>()("TooManyIncrements", {
  message: Schema.String
}) {}

const command = Command.make("race", flags, (options) =>
  Effect.gen(function*() {
    if (options.workers * options.increments > Modes.MAX_TOTAL) {
      return yield* new TooManyIncrements({
        message: `--workers ${options.workers} × --increments ${options.increments} exceeds the Int32 counter (2^31 - 1)`
      })
    }
    const modes = Option.match(options.mode, { onNone: () => Modes.MODES, onSome: (mode) => [mode] as const })
    const recorder = yield* TraceFile.recorder(options.trace)
    const rows = yield* Effect.scoped(
      Effect.gen(function*() {
        const progress = { done: 0, total: modes.length }
        yield* Progress.track("race", () => progress, { enabled: !options.json })
        const context = yield* Layer.build(Threads.layer({ workers: options.workers, inspect: options.inspectWorkers, ...TraceFile.option(recorder) }))
        const racers = yield* Modes.prepare.pipe(Effect.provide(context))
        return yield* Effect.forEach(modes, (mode) =>
          racers.race(mode, options.increments).pipe(
            Effect.map((result): Row => ({
              ...result,
              lostPercent: (100 * result.lost) / result.expected,
              incrementsPerSecond: result.expected / result.seconds
            })),
            Effect.tap(() => Effect.sync(() => progress.done++))
          ))
      })
    )
    if (options.json) yield* Table.json(rows)
    else yield* Console.log(Table.format(columns, rows))
    // After the results: a trace that cannot be written costs one line, not the run.
    yield* TraceFile.write(options.trace, recorder, { quiet: options.json })
  })).pipe(Command.withDescription("The lost-update race: unguarded vs lock vs atomics, on worker threads"))

Main.run(command)
