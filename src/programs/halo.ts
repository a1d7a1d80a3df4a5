/**
 * The chapter's opening example: particles attracting within a cutoff, the box cut into regions, each region an
 * actor that trades boundary particles with its neighbours every step. Serial reference, regions exchanging
 * messages (on worker threads, or all in this thread with `--tier local`), and regions exchanging through shared
 * arrays and a barrier — same bits in every mode, and how much of the time goes to communication.
 *
 *   npx tsx src/programs/halo.ts --particles 20000 --regions 1x2 --workers 2
 *   npx tsx src/programs/halo.ts --mode messages --regions 4x2 --json
 *   npx tsx src/programs/halo.ts --particles 2000 --regions 3x3 --steps 200 --svg regions.svg
 */
import { Console, Effect, Layer, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import * as Halo from "../actors/halo/index.ts"
import { Local, Progress } from "../runtime/index.ts"
import * as Flags from "./cli/Flags.ts"
import * as Main from "./cli/Main.ts"
import * as Serial from "./cli/Serial.ts"
import * as Tier from "./cli/Tier.ts"
import * as Table from "./cli/Table.ts"
import * as TraceFile from "./cli/TraceFile.ts"
import * as Modes from "./halo/modes.ts"
import { regionsSvg } from "./render/regionsSvg.ts"
import * as SvgFile from "./render/svgFile.ts"

export interface Row {
  readonly mode: Modes.Mode
  /** Where the regions ran: "threads", "local" (messages in this thread), or "-" for serial. */
  readonly tier: string
  readonly particles: number
  /** The region grid, `PXxPY`. */
  readonly regions: string
  readonly workers: number
  readonly steps: number
  readonly seed: number
  readonly L: number
  readonly rc: number
  readonly dt: number
  readonly seconds: number
  readonly speedup: number | null
  /** Envelopes between distinct regions (messages, or blocks published to shared arrays), and their bytes. */
  readonly messages: number
  readonly crossWorkerMessages: number
  readonly bytes: number
  readonly bytesPerStep: number
  /** Time in the region kernels, summed over regions. */
  readonly computeSeconds: number
  /** Time regions waited for their neighbours' envelopes (messages) or at the barrier (shared), summed. */
  readonly waitSeconds: number
  /** (workers × seconds − computeSeconds) / computeSeconds: time not spent computing, per unit of computing. */
  readonly commRatio: number
  /**
   * Total kinetic energy of the final state, summed per region in id order and over the regions' rank tree: in the
   * messages mode, the regions' last per-step allreduce; in the others, the same sum computed afterwards.
   */
  readonly kineticEnergy: number
  /** The largest total kinetic energy over steps 0..steps, from the per-step allreduce (messages mode only). */
  readonly kineticEnergyMax: number | null
  /** FNV-1a 64 of the exact bits of the final n, x, y, vx, vy. */
  readonly checksum: string
  readonly matchesSerial: boolean | null
}

/** `PXxPY`, e.g. `4x2`: px regions along x, py along y. */
export const parseGrid = (text: string): Halo.Grid => {
  const match = /^\s*(\d+)\s*[xX×]\s*(\d+)\s*$/.exec(text)
  const px = match ? Number(match[1]) : NaN
  const py = match ? Number(match[2]) : NaN
  if (!(px >= 1 && py >= 1 && px <= 4096 && py <= 4096)) {
    throw new Error(`PXxPY, two integers from 1 to 4096 such as 4x2 or 1x2 (got "${text}")`)
  }
  return { px, py }
}

const Positive = Schema.Finite.check(Schema.isGreaterThan(0))
const NonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

const flags = {
  particles: Flags.count("particles", { default: 20_000, max: 1e7, description: "number of particles (accepts 2e4)" }),
  regions: Flag.String("regions").pipe(
    Flag.mapTryCatch(parseGrid, (error) => (error instanceof Error ? error.message : String(error))),
    Flag.withDefault({ px: 1, py: 2 }),
    Flag.withDescription("region grid PXxPY (strips are 1xR); default 1x2")
  ),
  workers: Flags.workers("worker threads (default: cores); regions beyond that share workers"),
  steps: Flag.Int("steps").pipe(
    Flag.withSchema(Flags.PositiveInt.check(Schema.isLessThanOrEqualTo(1e6))),
    Flag.withDefault(100),
    Flag.withDescription("time steps")
  ),
  mode: Flags.mode(Modes.MODES),
  tier: Flag.Literals("tier", ["threads", "local"]).pipe(
    Flag.withDefault("threads" as const),
    Flag.withDescription("messages mode: regions on worker threads, or all in this thread (local)")
  ),
  seed: Flags.seed(1, "generator seed for the initial state"),
  rc: Flag.Finite("rc").pipe(Flag.withSchema(Positive), Flag.withDefault(1), Flag.withDescription("cutoff distance")),
  density: Flag.Finite("density").pipe(
    Flag.withSchema(Positive),
    Flag.withDefault(20),
    Flag.withDescription("mean neighbours within rc, N·π·rc²/L² (sets the box side L)")
  ),
  k: Flag.Finite("k").pipe(Flag.withDefault(1), Flag.withDescription("attraction strength")),
  dt: Flag.Finite("dt").pipe(Flag.withSchema(NonNegative), Flag.withDefault(0.01), Flag.withDescription("time step")),
  v0: Flag.Finite("v0").pipe(
    Flag.withSchema(NonNegative),
    Flag.withDefault(0.1),
    Flag.withDescription("initial speeds are uniform in [-v0, v0) per axis")
  ),
  svg: Flag.String("svg").pipe(
    Flag.optional,
    Flag.withDescription("also draw the final particles, coloured by region, with the region borders")
  ),
  cluster: Flags.cluster(),
  inspectWorkers: Tier.inspectFlag(),
  trace: TraceFile.flag(),
  json: Flags.json()
}

const columns: ReadonlyArray<Table.Column<Row>> = [
  { header: "mode", cell: (r) => (r.tier === "local" ? `${r.mode} (local)` : r.mode) },
  { header: "particles", cell: (r) => Table.si(r.particles), right: true },
  { header: "regions", cell: (r) => r.regions, right: true },
  { header: "workers", cell: (r) => String(r.workers), right: true },
  { header: "steps", cell: (r) => String(r.steps), right: true },
  { header: "seconds", cell: (r) => r.seconds.toFixed(3), right: true },
  { header: "speedup", cell: (r) => (r.speedup === null ? "-" : `${r.speedup.toFixed(2)}x`), right: true },
  { header: "messages", cell: (r) => String(r.messages), right: true },
  { header: "KB/step", cell: (r) => (r.bytesPerStep / 1024).toFixed(1), right: true },
  { header: "comm/comp", cell: (r) => r.commRatio.toFixed(3), right: true },
  { header: "checksum", cell: (r) => r.checksum },
  { header: "= serial", cell: (r) => (r.matchesSerial === null ? "-" : r.matchesSerial ? "yes" : "NO") }
]

const command = Command.make("halo", flags, (options) =>
  Effect.gen(function*() {
    const onCluster = Option.isSome(options.cluster)
    // On a cluster, shared memory cannot cross processes: the shared mode runs only when asked for (and says so).
    const modes = Option.match(options.mode, {
      onNone: () => (onCluster ? Modes.MODES.filter((m) => m !== "shared") : Modes.MODES),
      onSome: (mode) => [mode] as const
    })
    const { density, dt, k, rc, seed, steps, v0 } = options
    const recorder = yield* TraceFile.recorder(options.trace, options.cluster)
    const n = options.particles
    const grid = options.regions
    const params: Halo.HaloParams = { n, L: Halo.boxForDensity(n, rc, density), rc, k, dt, steps, seed, v0 }
    // A bad setup (e.g. a cutoff wider than a region) is one line before anything starts.
    yield* Modes.validate({ params, grid })
    const initial = Halo.initialState(params)
    const regions = grid.px * grid.py
    const rows: Array<Omit<Row, "speedup" | "matchesSerial">> = []
    let last: Halo.HaloState | undefined
    for (const mode of modes) {
      const tier = mode === "serial" ? "-" : onCluster ? "cluster" : mode === "messages" ? options.tier : "threads"
      const row = yield* Effect.scoped(
        Effect.gen(function*() {
          const progress = new SharedArrayBuffer(4 * regions)
          const words = new Int32Array(progress)
          // Start the workers and the actors before the clock; serial starts none.
          const layer: Tier.Tier = tier === "local"
            ? Local.layerWith(TraceFile.option(recorder))
            : Tier.layer(options.cluster, { workers: options.workers, inspect: options.inspectWorkers, ...TraceFile.option(recorder) })
          const runner = mode === "serial"
            ? yield* Modes.serial({ params, grid })
            : yield* Modes.prepare(mode, { params, grid }).pipe(Effect.provide(yield* Layer.build(layer)))
          // A short untimed run first: the JIT and the regions' buffers warm up on the real sizes.
          yield* runner.run(initial, { steps: Math.min(steps, 10) })
          // The regions report their steps in shared memory, which runners in other processes cannot reach; the
          // per-step energy allreduce is not tried across runners yet (kineticEnergy is then summed at the end).
          // The bar starts with the timed run, so its rate and time left are the run's, not the start-up's.
          // (Not on a cluster: its regions cannot reach these words, the bar would stand at 0.)
          yield* Progress.track(mode, () => ({ done: Math.min(...words), total: steps }), { enabled: !options.json && !onCluster })
          const outcome = yield* runner.run(initial, onCluster ? {} : { progress, energy: true })
          last = outcome.state
          return {
            mode,
            tier,
            particles: n,
            regions: `${grid.px}x${grid.py}`,
            workers: runner.workers,
            steps,
            seed,
            L: params.L,
            rc,
            dt,
            seconds: outcome.seconds,
            messages: outcome.messages,
            crossWorkerMessages: outcome.crossWorkerMessages,
            bytes: outcome.bytes,
            bytesPerStep: outcome.bytes / (steps + 1),
            computeSeconds: outcome.computeSeconds,
            waitSeconds: outcome.waitSeconds,
            commRatio: Modes.commRatio(outcome, runner.workers),
            kineticEnergy: outcome.kineticEnergy,
            kineticEnergyMax: outcome.energy === undefined ? null : Math.max(...outcome.energy),
            checksum: Halo.checksum(outcome.state)
          }
        })
      )
      rows.push(row)
    }
    const out: Array<Row> = Serial.compare(rows)
    if (options.json) yield* Table.json(out)
    else {
      yield* Console.log(Table.format(columns, out))
      yield* Console.log(
        "\ncomm/comp: time the workers spent outside the region kernels (messages or barrier waits, copies, idle)" +
          " per unit of kernel time; KB/step: halo and migrant bytes between distinct regions per step."
      )
      if (out.some((row) => row.matchesSerial === false)) yield* Console.log("\nWARNING: a mode's final state differs from serial")
    }
    // After the results: a picture or a trace that cannot be written costs one line, not the run.
    if (Option.isSome(options.svg) && last !== undefined) {
      const title = `${n} particles after ${steps} steps, ${grid.px} × ${grid.py} regions, checksum ${out.at(-1)!.checksum}`
      yield* SvgFile.write(options.svg.value, regionsSvg(last, params.L, grid, { title, halo: params.rc }), { quiet: options.json })
    }
    yield* TraceFile.write(options.trace, recorder, { quiet: options.json })
  })).pipe(Command.withDescription("Particle regions as actors exchanging boundary messages: serial vs messages vs shared memory"))

Main.run(command)
