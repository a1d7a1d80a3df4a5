/**
 * Benchmarks of the Cluster tier against the Threads tier in the same run: the ask round trip and asks/s at 64
 * in flight across processes, π on 2 runners × 1 thread against serial and against 2 worker threads, and the
 * failover time after SIGKILL of a runner (until every actor placed by shard answers again; median of 3). The
 * cluster (embedded Postgres, 2 runner processes) is started in a temporary folder and stopped at the end.
 */
import { Context, Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { warmUp } from "../../actors/pi/kernel.ts"
import * as Cluster from "../../runtime/Cluster.ts"
import { ActorSystem, Threads } from "../../runtime/index.ts"
import * as Modes from "../pi/modes.ts"
import { Noop } from "./NoopActor.ts"
import type { Options, Row } from "./Row.ts"
import { median, roundsFor, seconds } from "./Row.ts"

const SEED = 2024

export const run = (options: Options): Effect.Effect<Array<Row>, unknown> =>
  Effect.scoped(
    Effect.gen(function*() {
      const rounds = roundsFor(options, 3)
      const samples = options.quick ? 1e8 : 1e9
      const clusterAsks = options.quick ? 1000 : 20_000
      const threadAsks = options.quick ? 20_000 : 100_000
      const rttAsks = options.quick ? 100 : 500
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-bench-cluster-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const started = yield* Cluster.start({ runners: 2, threads: 1, dir })
      const cluster = yield* Layer.build(Cluster.layer({ file: started.file }))
      const threads = yield* Layer.build(Threads.layer({ workers: 2 }))
      const system = Context.get(cluster, ActorSystem.ActorSystem)
      const noops = (context: typeof cluster) => Effect.provide(ActorSystem.spawnMany(Noop, 2, () => ({})), context).pipe(Effect.orDie)
      const onCluster = yield* noops(cluster)
      const onThreads = yield* noops(threads)
      warmUp()

      const times: Record<string, Array<number>> = {}
      const record = (name: string, value: number) => (times[name] ??= []).push(value)
      const asks = (refs: typeof onCluster, total: number, inFlight: number) =>
        Effect.forEach(Array.from({ length: total }, (_, i) => i), (i) => refs[i % refs.length]!.ask("noop", i), {
          concurrency: inFlight,
          discard: true
        })

      // The first asks across processes run 3-5x slower than later ones (client, runner main threads and their
      // workers all compile Effect Cluster's request path as they go: measured here, 6k/s over the first 5000 asks,
      // 17-20k/s from 45000 to 65000, 25-35k/s after 80000). A cluster lives long: its rows are its warm rate,
      // after 100000 asks, and the cold rate is its own row.
      const coldAsks = 5000
      const cold = yield* seconds(asks(onCluster, coldAsks, 64))
      const warmUpAsks = options.quick ? 0 : 100_000
      yield* asks(onCluster, warmUpAsks, 64)
      for (let round = 0; round < rounds; round++) {
        record("rtt.cluster", (yield* seconds(asks(onCluster, rttAsks, 1))) / rttAsks)
        record("rtt.threads", (yield* seconds(asks(onThreads, threadAsks / 10, 1))) / (threadAsks / 10))
        record("64.cluster", yield* seconds(asks(onCluster, clusterAsks, 64)))
        record("64.threads", yield* seconds(asks(onThreads, threadAsks, 64)))
        record("pi.serial", yield* seconds(Modes.serial({ samples, seed: SEED })))
        record("pi.cluster", yield* seconds(Effect.scoped(Modes.actors({ samples, seed: SEED })).pipe(Effect.provide(cluster))))
        record("pi.threads", yield* seconds(Effect.scoped(Modes.actors({ samples, seed: SEED })).pipe(Effect.provide(threads))))
      }

      // Persisted asks: each key new (the work runs), one at a time, against plain asks in the same rounds.
      const persisted = options.quick ? 20 : 100
      for (let round = 0; round < rounds; round++) {
        record("persisted", (yield* seconds(Effect.forEach(Array.from({ length: persisted }, (_, i) => `${round}-${i}`), (key) => onCluster[0]!.ask("once", key), { discard: true }))) / persisted)
        record("plain", (yield* seconds(asks(onCluster, persisted, 1))) / persisted)
      }

      // Failover: kill runner 1, time until every actor placed by shard answers again, bring it back. A runner that
      // is back takes its shards again only after a while (until then its actors stay on the survivor, and a kill
      // would move none): each round first waits until some of the actors live on runner 1 again.
      const placed = yield* Effect.provide(
        Effect.forEach(Array.from({ length: 8 }, () => 0), () => ActorSystem.spawn(Noop, {})),
        cluster
      ).pipe(Effect.orDie)
      const onRunner1 = Effect.map(
        Effect.forEach(placed, (ref) => Effect.orDie(ref.ask("pid", undefined))),
        (pids) => pids.filter((pid) => pid === started.runners()[1]!.pid).length
      )
      const moved: Array<number> = []
      for (let round = 0; round < rounds; round++) {
        let there = yield* onRunner1
        for (let wait = 0; there === 0 && wait < 300; wait++) {
          yield* Effect.sleep("100 millis")
          there = yield* onRunner1
        }
        moved.push(there)
        const runner = started.runners()[1]!
        const killedAt = performance.now()
        runner.kill()
        yield* Effect.forEach(placed, (ref) => Effect.orDie(ref.ask("noop", round)), { concurrency: "unbounded", discard: true })
        record("failover", (performance.now() - killedAt) / 1000)
        while (system.isUp(1)) yield* Effect.sleep("20 millis")
        yield* started.restart(1)
        yield* system.awaitUp(1)
      }

      const m = (name: string) => median(times[name]!)
      const rates = (name: string, count: number) => `${Math.round(count / Math.max(...times[name]!))}..${Math.round(count / Math.min(...times[name]!))}/s`
      return [
        { section: "cluster", name: "ask round trip, 1 in flight, across processes", value: m("rtt.cluster") * 1000, unit: "ms", ratio: m("rtt.cluster") / m("rtt.threads"), note: `ratio: vs threads (${(m("rtt.threads") * 1e6).toFixed(0)} µs)` },
        { section: "cluster", name: `no-op asks, 64 in flight, 2 runners, the first ${coldAsks} (cold)`, value: coldAsks / cold, unit: "asks/s" },
        { section: "cluster", name: "no-op asks, 64 in flight, 2 runners", value: clusterAsks / m("64.cluster"), unit: "asks/s", ratio: (clusterAsks / m("64.cluster")) / (threadAsks / m("64.threads")), note: `ratio: vs 2 threads (${Math.round(threadAsks / m("64.threads"))}/s; target >= 20k/s); after ${coldAsks + warmUpAsks} asks of warm-up; rounds of ${clusterAsks}: ${rates("64.cluster", clusterAsks)}` },
        { section: "cluster", name: "persisted ask, 1 in flight, a new key each", value: m("persisted") * 1000, unit: "ms", ratio: m("persisted") / m("plain"), note: `ratio: vs a plain ask in the same rounds (${(m("plain") * 1000).toFixed(2)} ms); saved in Postgres, then run` },
        { section: "cluster", name: `π, ${samples.toExponential(0)} samples, serial`, value: samples / m("pi.serial"), unit: "samples/s" },
        { section: "cluster", name: "π on 2 worker threads", value: samples / m("pi.threads"), unit: "samples/s", ratio: m("pi.serial") / m("pi.threads"), note: "ratio: vs serial" },
        { section: "cluster", name: "π on 2 runners × 1 thread", value: samples / m("pi.cluster"), unit: "samples/s", ratio: m("pi.threads") / m("pi.cluster"), note: `ratio: vs threads (target >= 0.9); vs serial ${(m("pi.serial") / m("pi.cluster")).toFixed(2)}x` },
        { section: "cluster", name: `failover after SIGKILL, median of ${rounds}`, value: m("failover"), unit: "s", note: `until 8 actors placed by shard answer again, ${moved.join(" / ")} of them on the runner killed (target <= 5 s)` }
      ] satisfies Array<Row>
    })
  )
