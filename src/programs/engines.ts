/**
 * A scripted tour of engines and views that replays the chapter's IPython parallel session step by step: the
 * engine ids, execute, push / pull, scatter / gather, apply on every engine vs load-balanced apply, map, remote,
 * parallel, the per-engine error summary, and the particle simulator as scatter / evolve / gather against serial.
 *
 *   npx tsx src/programs/engines.ts
 *   npx tsx src/programs/engines.ts --engines 4 --particles 10000 --dt 0.1 --json
 */
import { Console, Effect, Layer, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import * as Os from "node:os"
import { evolveInSlices } from "../actors/particles/EvolveKernel.ts"
import * as particles from "../actors/particles/index.ts"
import { Client, Remote } from "../runtime/engines/index.ts"
import type { AsyncResult } from "../runtime/engines/index.ts"
import * as Flags from "./cli/Flags.ts"
import * as Tier from "./cli/Tier.ts"
import * as Main from "./cli/Main.ts"
import { Progress } from "../runtime/index.ts"
import * as Table from "./cli/Table.ts"
import * as TraceFile from "./cli/TraceFile.ts"

/** One step of the session: the call as written, and what it gave. */
export interface Step {
  readonly step: number
  readonly name: string
  readonly code: string
  readonly result: unknown
  readonly ms: number
}

/** The last step: the particle simulator on the engines against serial. */
export interface ParticlesStep extends Step {
  readonly particles: number
  readonly dt: number
  readonly steps: number
  readonly engines: number
  readonly serialSeconds: number
  readonly parallelSeconds: number
  readonly speedup: number
  readonly checksum: string
  readonly matchesSerial: boolean
}

const particlesModule = Remote.module(new URL("../actors/particles/index.ts", import.meta.url).href, particles)

const flags = {
  engines: Flag.Int("engines").pipe(
    Flag.withSchema(Flags.PositiveInt.check(Schema.isLessThanOrEqualTo(64))),
    Flag.withDefault(Os.availableParallelism()),
    Flag.withDescription("engines to start (default: one per core)")
  ),
  particles: Flags.count("particles", { default: 10_000, max: 1e7, description: "particles in the closing simulation (accepts 1e4)" }),
  dt: Flag.Finite("dt").pipe(
    Flag.withSchema(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1e-5), Schema.isLessThanOrEqualTo(100))),
    Flag.withDefault(0.1),
    Flag.withDescription("simulated time; evolve takes dt / 1e-5 steps")
  ),
  repeat: Flag.Int("repeat").pipe(
    Flag.withSchema(Flags.PositiveInt.check(Schema.isLessThanOrEqualTo(100))),
    Flag.withDefault(3),
    Flag.withDescription("timed runs of serial and parallel evolution; the best counts (as %timeit)")
  ),
  seed: Flags.seed(42, "generator seed for the particles"),
  cluster: Flags.cluster(),
  inspectWorkers: Tier.inspectFlag(),
  trace: TraceFile.flag(),
  json: Flags.json("one JSON object per step on stdout")
}

/** A short rendering of a result for the table. */
const show = (value: unknown): string => {
  if (value === undefined) return "(done)"
  if (Array.isArray(value) && value.length > 12) return `[${value.slice(0, 8).map((v) => show(v)).join(", ")}, … ${value.length} items]`
  if (Array.isArray(value)) return `[${value.map((v) => show(v)).join(", ")}]`
  if (typeof value === "string") return value.split("\n")[0]!
  return JSON.stringify(value)
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

export const tour = (options: {
  readonly engines: number
  readonly particles: number
  readonly dt: number
  readonly repeat: number
  readonly seed: number
  readonly json?: boolean
}) =>
  Effect.gen(function*() {
    const client = yield* Client.Client
    const steps: Array<Step> = []
    const progress = { done: 0, total: 14 }
    /** The map step running now, if any: the bar adds its items done (inside running chunks too). */
    let running: { readonly name: string; readonly result: AsyncResult.AsyncResult<unknown, unknown, unknown> } | undefined
    yield* Progress.track("engines", () => progress, {
      enabled: options.json !== true,
      detail: () => {
        if (running === undefined) return ""
        const { done, total } = running.result.progress()
        return `(${running.name}: ${Progress.si(done)} / ${Progress.si(total)} items)`
      }
    })
    const step = <A, E, R>(name: string, code: string, effect: Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        const started = performance.now()
        const result = yield* effect
        steps.push({ step: steps.length + 1, name, code, result, ms: performance.now() - started })
        progress.done++
        return result
      })
    /** A map step: the bar shows its items while it runs. */
    const mapStep = <A, E1, E2>(name: string, code: string, submit: Effect.Effect<AsyncResult.AsyncResult<A, E2, any>, E1>) =>
      step(name, code, Effect.flatMap(submit, (result) => {
        running = { name, result }
        return Effect.ensuring(result.get, Effect.sync(() => (running = undefined)))
      }))

    const square = Remote.fn((x: number) => x * x, { name: "square" })
    yield* step("ids", "rc.ids", Effect.succeed(client.ids))
    const dview = yield* client.view()
    const lview = yield* client.loadBalanced()
    yield* step("execute", "dview.execute((ns) => { ns.a = 1 })", Effect.flatten(dview.execute((ns) => {
      ns.a = 1
    })))
    yield* step("pull", "dview.pull('a')", Effect.flatten(dview.pull("a")))
    yield* step("push", "dview.push({ a: 2 }); dview.get('a')", Effect.andThen(dview.push({ a: 2 }), Effect.flatten(dview.get("a"))))
    yield* step("scatter", "dview.scatter('a', range(11)); dview.get('a')", Effect.andThen(dview.scatter("a", range(11)), Effect.flatten(dview.get("a"))))
    yield* step("gather", "dview.gather('a')", Effect.flatten(dview.gather("a")))
    yield* step("apply (direct)", "dview.apply(square, 2)", Effect.flatten(dview.apply(square, 2)))
    yield* step("apply (load-balanced)", "lview.apply(square, 2)", Effect.flatten(lview.apply(square, 2)))
    yield* mapStep("map (direct)", "dview.map(square, range(100))", dview.map(square, range(100)))
    yield* mapStep("map (load-balanced)", "lview.map(square, range(100))", lview.map(square, range(100)))
    yield* step("remote", "dview.remote(square)(2)", Effect.flatten(dview.remote(square)(2)))
    yield* step("parallel", "dview.parallel(square).map(range(100))", Effect.flatten(dview.parallel(square).map(range(100))))
    yield* step(
      "error summary",
      "dview.execute((ns) => ns.simulator.evolve(0.1))",
      Effect.flip(Effect.flatten(dview.execute((ns) => ns.simulator.evolve(0.1)))).pipe(Effect.map((error) => error.message))
    )

    // The particle simulator: serial on this thread vs scatter / evolve / gather on the engines.
    const nsteps = particles.stepsFor(options.dt)
    const initial = particles.randomParticles(options.particles, options.seed)
    particles.warmUp()
    let serialSeconds = Infinity
    let serialSum = ""
    for (let r = 0; r < options.repeat; r++) {
      const s = particles.cloneParticles(initial)
      const t = performance.now()
      // In slices with a yield between them, so that Ctrl-C lands within ~10 ms (the same bits as one call).
      yield* evolveInSlices(s.x, s.y, s.w, nsteps)
      serialSeconds = Math.min(serialSeconds, (performance.now() - t) / 1000)
      serialSum = particles.checksum(s.x, s.y)
    }
    yield* Effect.flatten(dview.syncImports({ particles: particlesModule }))
    // Warm the engines' kernels with short calls on copies (a cold first long call runs slower).
    yield* Effect.andThen(dview.scatter("x", initial.x), dview.scatter("y", initial.y))
    yield* Effect.andThen(dview.scatter("w", initial.w), Effect.flatten(dview.execute((ns) => {
      const x = ns.x.slice()
      const y = ns.y.slice()
      for (let r = 0; r < 50; r++) ns.particles.evolveRange(x, y, ns.w, 0, x.length, 20)
    })))
    let parallelSeconds = Infinity
    let parallelSum = ""
    const started = performance.now()
    for (let r = 0; r < options.repeat; r++) {
      const t = performance.now()
      yield* dview.scatter("x", initial.x)
      yield* dview.scatter("y", initial.y)
      yield* dview.scatter("w", initial.w)
      yield* dview.push({ nsteps })
      yield* dview.execute((ns) => ns.particles.evolveRange(ns.x, ns.y, ns.w, 0, ns.x.length, ns.nsteps))
      const x = yield* yield* dview.gather<Float64Array>("x")
      const y = yield* yield* dview.gather<Float64Array>("y")
      parallelSeconds = Math.min(parallelSeconds, (performance.now() - t) / 1000)
      parallelSum = particles.checksum(x, y)
    }
    const row: ParticlesStep = {
      step: steps.length + 1,
      name: "particles",
      code: "scatter x, y, w; execute evolve; gather x, y",
      result: `serial ${serialSeconds.toFixed(3)} s, engines ${parallelSeconds.toFixed(3)} s: ${(serialSeconds / parallelSeconds).toFixed(2)}x, ` +
        (parallelSum === serialSum ? "same bits as serial" : "DIFFERENT from serial"),
      ms: performance.now() - started,
      particles: options.particles,
      dt: options.dt,
      steps: nsteps,
      engines: client.ids.length,
      serialSeconds,
      parallelSeconds,
      speedup: serialSeconds / parallelSeconds,
      checksum: parallelSum,
      matchesSerial: parallelSum === serialSum
    }
    steps.push(row)
    progress.done++
    return steps
  })

const columns: ReadonlyArray<Table.Column<Step>> = [
  { header: "#", cell: (s) => String(s.step), right: true },
  { header: "step", cell: (s) => s.name },
  { header: "code", cell: (s) => s.code },
  { header: "result", cell: (s) => show(s.result) },
  { header: "ms", cell: (s) => s.ms.toFixed(1), right: true }
]

const command = Command.make("engines", flags, (options) =>
  Effect.gen(function*() {
    const workers = Math.min(options.engines, Os.availableParallelism())
    const recorder = yield* TraceFile.recorder(options.trace, options.cluster)
    const steps = yield* Effect.scoped(
      Effect.gen(function*() {
        const tier = Tier.layer(options.cluster, { workers, inspect: options.inspectWorkers, ...TraceFile.option(recorder) })
        const context = yield* Layer.build(Client.layer({ engines: options.engines }).pipe(Layer.provide(tier)))
        return yield* tour(options).pipe(Effect.provide(context))
      })
    )
    if (options.json) yield* Table.json(steps)
    else {
      yield* Console.log(Table.format(columns, steps))
      const summary = steps.find((s) => s.name === "error summary")
      if (summary !== undefined) yield* Console.log(`\nThe error summary of step ${summary.step}, in full:\n${String(summary.result)}`)
    }
    // After the results: a trace that cannot be written costs one line, not the run.
    yield* TraceFile.write(options.trace, recorder, { quiet: options.json })
  })).pipe(Command.withDescription("A tour of engines and views: the chapter's IPython parallel session, step by step"))

Main.run(command)
