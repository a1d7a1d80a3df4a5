/**
 * The chapter's particle simulator: serial, distributed (scatter / evolve / gather over actors) and shared
 * memory (parallelFor over shared arrays, the OpenMP version) — same particles, same bits in every mode.
 *
 *   npx tsx src/programs/particles.ts --particles 10000 --dt 0.1 --workers 2
 *   npx tsx src/programs/particles.ts --mode shared --schedule dynamic --chunk 500 --json
 *   npx tsx src/programs/particles.ts --particles 50 --dt 1 --svg paths.svg
 */
import { Console, Effect, Layer, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import * as Particles from "../actors/particles/index.ts"
import { Schedule } from "../runtime/parallel/index.ts"
import { WideCounter } from "../runtime/shared/index.ts"
import * as Flags from "./cli/Flags.ts"
import * as Main from "./cli/Main.ts"
import * as Tier from "./cli/Tier.ts"
import * as Serial from "./cli/Serial.ts"
import { Progress } from "../runtime/index.ts"
import * as Table from "./cli/Table.ts"
import * as TraceFile from "./cli/TraceFile.ts"
import * as Modes from "./particles/modes.ts"
import { pathsSvg } from "./render/pathsSvg.ts"
import * as SvgFile from "./render/svgFile.ts"

export interface Row {
  readonly mode: Modes.Mode
  readonly particles: number
  readonly dt: number
  readonly steps: number
  readonly workers: number
  readonly seed: number
  /** `shared` only. */
  readonly schedule: string | null
  readonly seconds: number
  readonly particleStepsPerSecond: number
  readonly speedup: number | null
  /** FNV-1a 64 of the exact bits of the final x then y. */
  readonly checksum: string
  /** Whether the checksum equals serial's (null when serial was not run). */
  readonly matchesSerial: boolean | null
}

/** At most 1e7 steps (dt 100) and 1e7 particles: beyond that a run takes hours. */
const flags = {
  particles: Flags.count("particles", { default: 10_000, max: 1e7, description: "number of particles (accepts 1e4)" }),
  dt: Flag.Finite("dt").pipe(
    Flag.withSchema(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1e-5), Schema.isLessThanOrEqualTo(100))),
    Flag.withDefault(0.1),
    Flag.withDescription("simulated time; evolve takes dt / 1e-5 steps (between 1e-5 and 100)")
  ),
  workers: Flags.workers(),
  mode: Flags.mode(Modes.MODES),
  seed: Flags.seed(42, "generator seed for the initial particles"),
  schedule: Flag.Literals("schedule", Schedule.SCHEDULES).pipe(
    Flag.withDefault("static" as const),
    Flag.withDescription("shared mode: parallelFor schedule")
  ),
  chunk: Flag.Finite("chunk").pipe(
    Flag.withSchema(Flags.PositiveInt),
    Flag.optional,
    Flag.withDescription("shared mode: particles per logical chunk (default: about n / 64)")
  ),
  svg: Flag.File("svg").pipe(Flag.optional, Flag.withDescription("also draw the first 100 particles' paths to this SVG file")),
  cluster: Flags.cluster(),
  inspectWorkers: Tier.inspectFlag(),
  trace: TraceFile.flag(),
  json: Flags.json()
}

const columns: ReadonlyArray<Table.Column<Row>> = [
  { header: "mode", cell: (r) => (r.schedule === null ? r.mode : `${r.mode} (${r.schedule})`) },
  { header: "particles", cell: (r) => Table.si(r.particles), right: true },
  { header: "steps", cell: (r) => String(r.steps), right: true },
  { header: "workers", cell: (r) => String(r.workers), right: true },
  { header: "seconds", cell: (r) => r.seconds.toFixed(3), right: true },
  { header: "particle-steps/s", cell: (r) => Table.si(r.particleStepsPerSecond), right: true },
  { header: "speedup", cell: (r) => (r.speedup === null ? "-" : `${r.speedup.toFixed(2)}x`), right: true },
  { header: "checksum", cell: (r) => r.checksum },
  { header: "= serial", cell: (r) => (r.matchesSerial === null ? "-" : r.matchesSerial ? "yes" : "NO") }
]

const command = Command.make("particles", flags, (options) =>
  Effect.gen(function*() {
    // On a cluster, shared memory cannot cross processes: the shared mode runs only when asked for (and says so).
    const modes = Option.match(options.mode, {
      onNone: () => Option.isSome(options.cluster) ? Modes.MODES.filter((m) => m !== "shared") : Modes.MODES,
      onSome: (mode) => [mode] as const
    })
    const nsteps = Particles.stepsFor(options.dt)
    const initial = Particles.randomParticles(options.particles, options.seed)
    const recorder = yield* TraceFile.recorder(options.trace, options.cluster)
    const layer = Tier.layer(options.cluster, { workers: options.workers, inspect: options.inspectWorkers, ...TraceFile.option(recorder) })
    const runOptions: Modes.Options = {
      schedule: options.schedule,
      chunk: Option.getOrUndefined(options.chunk),
      // A cluster's runners are other processes: no shared counter there, groups are counted as they answer.
      ...(Option.isSome(options.cluster) ? { sharedMemory: false } : {})
    }
    const rows: Array<Omit<Row, "speedup" | "matchesSerial">> = []
    for (const mode of modes) {
      const row = yield* Effect.scoped(
        Effect.gen(function*() {
          // Particle-steps done, added by the threads that do them (slice by slice, or chunk by chunk).
          const progress = WideCounter.make()
          // Start the workers and warm the kernel before the clock: this times the computation. Serial starts
          // no workers (booting ones would compete with it for the cores).
          const runner = mode === "serial"
            ? yield* Modes.serial
            : yield* Modes.prepare(mode, runOptions).pipe(Effect.provide(yield* Layer.build(layer)))
          yield* Progress.track(mode, () => ({ done: progress.get(), total: options.particles * nsteps }), { enabled: !options.json })
          const started = performance.now()
          const final = yield* runner.evolve(initial, nsteps, progress)
          const seconds = (performance.now() - started) / 1000
          return {
            mode,
            particles: options.particles,
            dt: options.dt,
            steps: nsteps,
            workers: runner.workers,
            seed: options.seed,
            schedule: mode === "shared" ? options.schedule : null,
            seconds,
            particleStepsPerSecond: (options.particles * nsteps) / seconds,
            checksum: Particles.checksum(final.x, final.y)
          }
        })
      )
      rows.push(row)
    }
    const out: Array<Row> = Serial.compare(rows)
    if (options.json) yield* Table.json(out)
    else {
      yield* Console.log(Table.format(columns, out))
      if (out.some((row) => row.matchesSerial === false)) yield* Console.log("\nWARNING: a mode's final positions differ from serial")
    }
    // After the results: a picture or a trace that cannot be written costs one line, not the run.
    if (Option.isSome(options.svg)) yield* SvgFile.write(options.svg.value, pathsSvg(initial, { nsteps }), { quiet: options.json })
    yield* TraceFile.write(options.trace, recorder, { quiet: options.json })
  })).pipe(Command.withDescription("Particle simulator: serial vs distributed actors vs shared-memory parallelFor"))

Main.run(command)
