/**
 * Scaling, for the pictures (`--svg`) as much as for the table: how π (chunked actors), particles (shared
 * parallelFor, static) and halo (ParticleRegion actors, one strip per worker) speed up as workers go from 1 to
 * the cores and beyond (oversubscribed), each against serial runs made right before it; and how many no-op asks
 * per second actors answer as messages in flight grow, against raw postMessage on as many hand-written workers.
 * Every figure is the median over rounds.
 */
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import * as Os from "node:os"
import { warmUp } from "../../actors/pi/kernel.ts"
import * as Halo from "../../actors/halo/index.ts"
import * as Particles from "../../actors/particles/index.ts"
import { ActorSystem, Threads } from "../../runtime/index.ts"
import * as HaloModes from "../halo/modes.ts"
import * as ParticleModes from "../particles/modes.ts"
import * as PiModes from "../pi/modes.ts"
import { rawNoop, rawPool } from "./foundation.ts"
import { Noop } from "./NoopActor.ts"
import type { Options, Row } from "./Row.ts"
import { median, roundsFor, seconds } from "./Row.ts"

const SEED = 2024

/** The worker counts a speedup is measured at: 1 .. cores, then oversubscribed up to twice the cores. */
export const workerCounts = (cores: number): Array<number> => Array.from({ length: 2 * cores }, (_, i) => i + 1)

/** Messages in flight for the asks curve. */
const IN_FLIGHT = [1, 2, 4, 8, 16, 32, 64, 128]

export const run = (options: Options): Effect.Effect<Array<Row>, unknown> =>
  Effect.gen(function*() {
    const cores = Os.availableParallelism()
    const rounds = roundsFor(options, 3)
    const samples = options.quick ? 5e7 : 4e8
    const n = options.quick ? 2_000 : 10_000
    const nsteps = Particles.stepsFor(options.quick ? 0.02 : 0.1)
    const haloN = options.quick ? 5_000 : 20_000
    const haloSteps = options.quick ? 20 : 100
    const asks = options.quick ? 5_000 : 50_000
    const initial = Particles.randomParticles(n, SEED)
    const haloSetup = (workers: number): HaloModes.Setup => ({
      params: { n: haloN, L: Halo.boxForDensity(haloN, 1, 20), rc: 1, k: 1, dt: 0.01, steps: haloSteps, seed: SEED },
      grid: { px: 1, py: workers }
    })
    const haloInitial = Halo.initialState(haloSetup(1).params)
    warmUp()

    const times: Record<string, Array<number>> = {}
    const record = (name: string, value: number) => (times[name] ??= []).push(value)
    const m = (name: string) => median(times[name]!)

    const serialParticles = yield* ParticleModes.serial
    const serialHalo = yield* HaloModes.serial(haloSetup(1))
    /** Each serial reference, run right before the parallel run it is compared with (see below). */
    const serial = {
      π: seconds(PiModes.serial({ samples, seed: SEED })),
      particles: seconds(serialParticles.evolve(initial, nsteps)),
      halo: Effect.map(Effect.orDie(serialHalo.run(haloInitial)), (r) => r.seconds)
    }

    for (const workers of workerCounts(cores)) {
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(Threads.layer({ workers }))
        const provide = <A, E>(effect: Effect.Effect<A, E, ActorSystem.ActorSystem | Scope.Scope>) => Effect.provide(effect, context)
        const particles = yield* provide(ParticleModes.shared({ schedule: "static" }))
        const halo = yield* provide(HaloModes.messages(haloSetup(workers)))
        const pi = Effect.scoped(PiModes.actors({ samples, seed: SEED })).pipe(Effect.provide(context))
        // One untimed run of each first: the workers' JIT warms on the real sizes.
        yield* Effect.orDie(pi)
        yield* Effect.orDie(particles.evolve(initial, nsteps))
        yield* Effect.orDie(halo.run(haloInitial))
        // Each parallel run right after its serial reference: a speedup is a ratio of two runs made moments
        // apart. (Timing every serial run first let the machine's load change before the parallel ones, and the
        // pictures showed 4x on 2 cores.)
        for (let round = 0; round < rounds; round++) {
          record(`π.serial.${workers}`, yield* serial.π)
          record(`π.${workers}`, yield* seconds(pi))
          record(`particles.serial.${workers}`, yield* serial.particles)
          record(`particles.${workers}`, yield* seconds(particles.evolve(initial, nsteps)))
          record(`halo.serial.${workers}`, yield* serial.halo)
          record(`halo.${workers}`, (yield* Effect.orDie(halo.run(haloInitial))).seconds)
        }
      }))
    }

    // Asks per second against messages in flight, on as many workers as cores.
    yield* Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(Threads.layer({ workers: cores }))
      const noops = yield* Effect.provide(ActorSystem.spawnMany(Noop, cores, () => ({})), context).pipe(Effect.orDie)
      const raw = yield* rawPool(cores)
      const noopRun = (total: number, inFlight: number) =>
        Effect.forEach(Array.from({ length: total }, (_, i) => i), (i) => noops[i % noops.length]!.ask("noop", i), {
          concurrency: inFlight,
          discard: true
        })
      yield* seconds(noopRun(asks, 64))
      yield* seconds(rawNoop(raw, asks, 64))
      for (let round = 0; round < rounds; round++) {
        for (const inFlight of IN_FLIGHT) {
          // Fewer asks where each waits for a sleeping core: the same few seconds at every point.
          const total = inFlight < 8 ? Math.ceil(asks / 5) : asks
          record(`asks.actors.${inFlight}`, total / (yield* seconds(noopRun(total, inFlight))))
          record(`asks.raw.${inFlight}`, total / (yield* seconds(rawNoop(raw, total, inFlight))))
        }
      }
    }))

    const rows: Array<Row> = []
    const kernels = [
      ["π", `${samples.toExponential(0)} samples`, "chunked actors"],
      ["particles", `${n} particles, ${nsteps} steps`, "shared parallelFor (static)"],
      ["halo", `N=${haloN / 1000}k, ${haloSteps} steps`, "messages, one strip per worker"]
    ] as const
    for (const [kernel, size, how] of kernels) {
      const serialTimes = workerCounts(cores).flatMap((workers) => times[`${kernel}.serial.${workers}`]!)
      rows.push({ section: "scaling", name: `${kernel} serial, ${size}`, value: median(serialTimes), unit: "s" })
      for (const workers of workerCounts(cores)) {
        rows.push({
          section: "scaling",
          name: `${kernel}, ${how}, ${workers} worker${workers === 1 ? "" : "s"}${workers > cores ? " (oversubscribed)" : ""}`,
          value: m(`${kernel}.${workers}`),
          unit: "s",
          ratio: m(`${kernel}.serial.${workers}`) / m(`${kernel}.${workers}`),
          note: "ratio: speedup vs the serial runs alternating with these",
          series: kernel,
          x: workers
        })
      }
    }
    for (const inFlight of IN_FLIGHT) {
      const actors = m(`asks.actors.${inFlight}`)
      const raw = m(`asks.raw.${inFlight}`)
      rows.push({
        section: "in flight",
        name: `no-op asks, ${inFlight} in flight, ${cores} workers`,
        value: actors,
        unit: "asks/s",
        ratio: actors / raw,
        note: "ratio: vs raw postMessage",
        series: "actors",
        x: inFlight
      })
      rows.push({ section: "in flight", name: `raw postMessage, ${inFlight} in flight`, value: raw, unit: "msgs/s", series: "raw postMessage", x: inFlight })
    }
    return rows
  })
