/**
 * The chapter's Monte Carlo π experiment: serial, one message per sample (with
 * and without automatic batching), chunked actors, a pipeline, shared memory and
 * a stream of partial estimates (shown on the progress line as it improves) —
 * same seed, same samples, same hit count in every mode.
 *
 *   npx tsx src/programs/pi.ts --samples 1e9 --workers 2
 *   npx tsx src/programs/pi.ts --mode actors --json
 */
import { Console, Context, Effect, Layer, Option } from "effect"
import { Command, Flag } from "effect/cli"
import * as Kernel from "../actors/pi/kernel.ts"
import { ActorSystem, Progress, Threads } from "../runtime/index.ts"
import { WideCounter } from "../runtime/shared/index.ts"
import * as Flags from "./cli/Flags.ts"
import * as Main from "./cli/Main.ts"
import * as Tier from "./cli/Tier.ts"
import * as Table from "./cli/Table.ts"
import * as TraceFile from "./cli/TraceFile.ts"
import * as Modes from "./pi/modes.ts"

export interface Row {
  readonly mode: string
  readonly batching?: boolean
  readonly samples: number
  readonly workers: number
  readonly seed: number
  readonly hits: number
  readonly pi: number
  readonly error: number
  readonly seconds: number
  readonly samplesPerSecond: number
  readonly speedup: number | null
}

const flags = {
  samples: Flags.count("samples", { default: 1e9, max: 2 ** 53, description: "number of samples (accepts 1e9)" }),
  workers: Flags.workers(),
  seed: Flags.seed(2024),
  mode: Flags.mode(Modes.MODES),
  chunk: Flag.Finite("chunk").pipe(
    Flag.withSchema(Flags.PositiveInt),
    Flag.optional,
    Flag.withDescription("samples per message for actors / pipeline (default: ~4 chunks per worker)")
  ),
  cluster: Flags.cluster(),
  inspectWorkers: Tier.inspectFlag(),
  trace: TraceFile.flag(),
  json: Flags.json()
}

const columns: ReadonlyArray<Table.Column<Row>> = [
  { header: "mode", cell: (r) => r.batching === false ? `${r.mode} (unbatched)` : r.mode },
  { header: "samples", cell: (r) => Table.si(r.samples), right: true },
  { header: "workers", cell: (r) => String(r.workers), right: true },
  { header: "estimate", cell: (r) => r.pi.toFixed(8), right: true },
  { header: "|error|", cell: (r) => r.error.toExponential(2), right: true },
  { header: "seconds", cell: (r) => r.seconds.toFixed(3), right: true },
  { header: "samples/s", cell: (r) => Table.si(r.samplesPerSecond), right: true },
  {
    header: "speedup",
    // One message per sample is thousands of times slower than serial: show it, not "0.00x".
    cell: (r) => (r.speedup === null ? "-" : `${r.speedup < 0.1 ? r.speedup.toPrecision(2) : r.speedup.toFixed(2)}x`),
    right: true
  }
]

const measure = (
  mode: Modes.Mode,
  options: { samples: number; workers: number; seed: number; chunk: Option.Option<number>; json: boolean; cluster: Option.Option<string> },
  layer: Tier.Tier,
  batching?: boolean
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const samples = Modes.samplesOf(mode, options.samples)
      // Samplers add to this from inside their workers, slice by slice: the bar moves during a long ask.
      const progress = WideCounter.make()
      const partial = { hits: 0, samples: 0 }
      // The stream mode's estimate improves while it runs: the progress line shows it.
      const estimate = mode === "stream"
        ? () => (partial.samples === 0 ? "" : `π ≈ ${Kernel.estimate(partial.hits, partial.samples).toFixed(6)}`)
        : undefined
      const params: Modes.Params = {
        samples: options.samples,
        seed: options.seed,
        progress,
        // A cluster's runners are other processes: no shared counter there, progress counts replies instead.
        progressInside: Option.isNone(options.cluster),
        partial,
        ...(Option.isSome(options.chunk) ? { chunk: options.chunk.value } : {})
      }
      // Start the workers before the clock, and wait until they have booted: this times the computation, not
      // the pool's start (a layer does not wait for its threads to load the runtime, ~0.3–0.8 s here).
      const context = yield* Layer.build(layer)
      yield* Context.get(context, ActorSystem.ActorSystem).ready
      // The bar's clock starts here too, so its rate is the computation's.
      yield* Progress.track(batching === false ? `${mode} (unbatched)` : mode, () => ({ done: progress.get(), total: samples }), {
        enabled: !options.json,
        ...(estimate === undefined ? {} : { detail: estimate })
      })
      const workers = Context.get(context, ActorSystem.ActorSystem).workers
      const started = performance.now()
      const hits = yield* Modes.run(mode, params).pipe(Effect.provide(context))
      const seconds = (performance.now() - started) / 1000
      const pi = Kernel.estimate(hits, samples)
      return {
        mode,
        ...(batching === undefined ? {} : { batching }),
        samples,
        workers: mode === "serial" ? 1 : workers,
        seed: options.seed,
        hits,
        pi,
        error: Math.abs(pi - Math.PI),
        seconds,
        samplesPerSecond: samples / seconds,
        speedup: null
      } satisfies Row as Row
    })
  )

const command = Command.make("pi", flags, (options) =>
  Effect.gen(function*() {
    // On a cluster, shared memory cannot cross processes, a message per sample costs a millisecond each, and
    // stream messages are not relayed.
    const modes = Option.match(options.mode, {
      onNone: () =>
        Option.isSome(options.cluster)
          ? Modes.MODES.filter((m) => m !== "shared" && m !== "per-sample" && m !== "stream")
          : Modes.MODES,
      onSome: (mode) => [mode] as const
    })
    const recorder = yield* TraceFile.recorder(options.trace, options.cluster)
    const threads = Tier.layer(options.cluster, { workers: options.workers, inspect: options.inspectWorkers, ...TraceFile.option(recorder) })
    const rows: Array<Row> = []
    for (const mode of modes) {
      rows.push(yield* measure(mode, options, threads, mode === "per-sample" ? true : undefined))
      if (mode === "per-sample" && Option.isNone(options.cluster)) {
        rows.push(yield* measure(mode, options, Threads.layer({ workers: options.workers, batching: false, inspect: options.inspectWorkers, ...TraceFile.option(recorder) }), false))
      }
    }
    const serial = rows.find((row) => row.mode === "serial")
    const withSpeedup = rows.map((row) => ({
      ...row,
      speedup: serial === undefined ? null : row.samplesPerSecond / serial.samplesPerSecond
    }))
    if (options.json) yield* Table.json(withSpeedup)
    else {
      yield* Console.log(Table.format(columns, withSpeedup))
      const distinct = new Set(rows.filter((r) => r.samples === options.samples).map((r) => r.hits))
      if (distinct.size > 1) yield* Console.log("\nWARNING: modes disagree on the hit count")
    }
    // After the results: a trace that cannot be written costs one line, not the run.
    yield* TraceFile.write(options.trace, recorder, { quiet: options.json })
  })).pipe(Command.withDescription("Monte Carlo π: serial vs actors on worker threads"))

Main.run(command)
