/**
 * Benchmarks of the shared-memory tier: the particle simulator per mode (serial, distributed actors, shared
 * parallelFor) against a hand-written worker_threads + SharedArrayBuffer baseline (rawParticlesWorker.ts);
 * shared-counter throughput with a lock and with atomics (the race, on 2 framework workers); uncontended lock
 * pairs per second from kernel code in a worker; and what one Effect `withLock` costs. Variants alternate
 * within each round and every figure is the median over rounds, so ratios come from the same run.
 */
import { Effect, Layer } from "effect"
import type { Worker } from "node:worker_threads"
import * as Particles from "../../actors/particles/index.ts"
import type { ParticleState } from "../../actors/particles/index.ts"
import { ActorSystem, Partition, Threads } from "../../runtime/index.ts"
import * as ParticleModes from "../particles/modes.ts"
import * as RaceModes from "../race/modes.ts"
import * as RawPool from "./RawPool.ts"
import type { Options, Row } from "./Row.ts"
import { median, roundsFor, timed } from "./Row.ts"
import { SharedBench, withLockMicros } from "./SharedBenchActor.ts"

const SEED = 42
const RAW_WORKER = new URL("./rawParticlesWorker.ts", import.meta.url).href

/** Raw baseline: N hand-written workers, each evolving one contiguous share of a shared state. */
const rawPool = (workers: number) => RawPool.make(RAW_WORKER, workers, "ping")

const ask = RawPool.ask

const rawEvolve = (pool: ReadonlyArray<Worker>, initial: ParticleState, nsteps: number) =>
  Effect.promise(async () => {
    const s = Particles.allocParticles(initial.n, true)
    s.x.set(initial.x)
    s.y.set(initial.y)
    s.w.set(initial.w)
    const ranges = Partition.allBounds(initial.n, pool.length)
    await Promise.all(pool.map((w, i) => ask(w, { buffer: s.x.buffer, n: s.n, lo: ranges[i]![0], hi: ranges[i]![1], nsteps })))
    return s
  })

export const run = (options: Options): Effect.Effect<Array<Row>, unknown, never> =>
  Effect.scoped(
    Effect.gen(function*() {
      const workers = 2
      const rounds = roundsFor(options, 5)
      const n = options.quick ? 2_000 : 10_000
      const dt = options.quick ? 0.02 : 0.1
      const nsteps = Particles.stepsFor(dt)
      const k = options.quick ? 500_000 : 5_000_000
      const pairs = options.quick ? 5e6 : 5e7
      const uses = options.quick ? 20_000 : 200_000
      const context = yield* Layer.build(Threads.layer({ workers }))
      const provide = <A, E>(effect: Effect.Effect<A, E, ActorSystem.ActorSystem | import("effect").Scope.Scope>) =>
        Effect.provide(effect, context)
      const serial = yield* ParticleModes.serial
      const distributed = yield* provide(ParticleModes.distributed())
      const shared = yield* provide(ParticleModes.shared({ schedule: "static" }))
      const racers = yield* provide(RaceModes.prepare)
      const bench = yield* provide(ActorSystem.spawn(SharedBench, {}))
      const raw = yield* rawPool(workers)
      const initial = Particles.randomParticles(n, SEED)

      const times: Record<string, Array<number>> = {}
      const record = (name: string, value: number) => (times[name] ??= []).push(value)
      const sums = new Set<string>()
      const particles = (name: string, effect: Effect.Effect<ParticleState, unknown>) =>
        Effect.map(Effect.orDie(timed(effect)), ({ seconds, value }) => {
          record(name, seconds)
          sums.add(Particles.checksum(value.x, value.y))
        })

      for (let round = 0; round < rounds; round++) {
        yield* particles("serial", serial.evolve(initial, nsteps))
        yield* particles("raw", rawEvolve(raw, initial, nsteps))
        yield* particles("shared", shared.evolve(initial, nsteps))
        yield* particles("distributed", distributed.evolve(initial, nsteps))
        for (const mode of ["locked", "atomic", "unguarded"] as const) {
          const result = yield* Effect.orDie(racers.race(mode, k))
          record(`race.${mode}`, result.seconds)
          if (mode === "unguarded") record("race.lost", result.lost / result.expected)
        }
        record("lockPairs", yield* Effect.orDie(bench.ask("lockPairs", pairs)))
        record("atomicAdds", yield* Effect.orDie(bench.ask("atomicAdds", pairs)))
        record("withLock.worker", yield* Effect.orDie(bench.ask("withLock", uses)))
        record("withLock.main", yield* withLockMicros(uses))
      }

      const m = (name: string) => median(times[name]!)
      const rate = (count: number, name: string) => count / m(name)
      const work = n * nsteps
      const size = `${n / 1000}k particles, dt ${dt}`
      const agree = sums.size === 1 ? "all modes: same checksum" : `CHECKSUMS DIFFER (${[...sums].join(", ")})`
      const total = workers * k
      return [
        { section: "particles", name: `serial, ${size}`, value: m("serial"), unit: "s", note: agree },
        { section: "particles", name: `raw worker_threads + SAB, ${workers} workers`, value: m("raw"), unit: "s", ratio: m("serial") / m("raw"), note: "ratio: vs serial" },
        {
          section: "particles",
          name: `shared (parallelFor static), ${workers} workers`,
          value: m("shared"),
          unit: "s",
          ratio: m("raw") / m("shared"),
          note: `ratio: vs raw (target >= 0.95); vs serial ${(m("serial") / m("shared")).toFixed(2)}x (target >= 1.85)`
        },
        {
          section: "particles",
          name: `distributed (scatter/evolve/gather), ${workers} workers`,
          value: m("distributed"),
          unit: "s",
          ratio: m("serial") / m("distributed"),
          note: "ratio: vs serial"
        },
        { section: "particles", name: "shared, throughput", value: work / m("shared"), unit: "particle-steps/s" },
        { section: "counter", name: `locked, ${workers} workers x ${k / 1e6}M`, value: rate(total, "race.locked"), unit: "increments/s", note: "exact" },
        { section: "counter", name: `atomic, ${workers} workers x ${k / 1e6}M`, value: rate(total, "race.atomic"), unit: "increments/s", ratio: m("race.locked") / m("race.atomic"), note: "exact; ratio: vs locked" },
        {
          section: "counter",
          name: `unguarded, ${workers} workers x ${k / 1e6}M`,
          value: rate(total, "race.unguarded"),
          unit: "increments/s",
          note: `loses ${(100 * m("race.lost")).toFixed(1)}% of the increments`
        },
        { section: "lock", name: "lock()/unlock() uncontended, kernel code in a worker", value: m("lockPairs"), unit: "pairs/s", note: "target >= 40M/s" },
        { section: "lock", name: "Atomics.add uncontended, in a worker", value: m("atomicAdds"), unit: "adds/s" },
        { section: "lock", name: "Effect withLock per use, in a worker", value: m("withLock.worker"), unit: "µs" },
        { section: "lock", name: "Effect withLock per use, main thread", value: m("withLock.main"), unit: "µs" }
      ]
    })
  )
