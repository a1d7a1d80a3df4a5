/**
 * Benchmarks of the foundation: chunked π against serial and against raw
 * worker_threads, no-op asks at 1 and 64 in flight (one fiber per ask, and by `askMany`; and the floor of a
 * fiber per ask), one message per sample, a
 * 10 MB array's round trip moved and copied (against raw postMessage doing the
 * same), and the cold start of a 2-worker pool. Variants alternate within each round and
 * every figure is the median over rounds, so ratios come from the same run.
 */
import { Effect, Layer } from "effect"
import type { Worker } from "node:worker_threads"
import { warmUp } from "../../actors/pi/kernel.ts"
import { ActorSystem, Threads } from "../../runtime/index.ts"
import * as Modes from "../pi/modes.ts"
import { Mover } from "./MoverActor.ts"
import { Noop } from "./NoopActor.ts"
import * as RawPool from "./RawPool.ts"
import type { Options, Row } from "./Row.ts"
import { median, perRound, roundsFor, seconds, spread } from "./Row.ts"

const SEED = 2024

/** Raw baseline: N hand-written workers, each given one contiguous share of the samples (they echo no-ops too). */
export const rawPool = (workers: number) => RawPool.make(new URL("./rawPiWorker.ts", import.meta.url).href, workers, 0)

const ask = (worker: Worker, message: unknown) => RawPool.ask<number>(worker, message)

export const rawPi = (pool: ReadonlyArray<Worker>, samples: number) =>
  Effect.promise(async () => {
    const share = Math.ceil(samples / pool.length)
    const counts = await Promise.all(
      pool.map((w, i) => ask(w, { seed: SEED, start: i * share, count: Math.max(0, Math.min(share, samples - i * share)) }))
    )
    return counts.reduce((a, b) => a + b, 0)
  })

/** Raw postMessage round trips with `inFlight` outstanding, spread over the pool. */
export const rawNoop = (pool: ReadonlyArray<Worker>, total: number, inFlight: number) =>
  Effect.promise(
    () =>
      new Promise<void>((resolve) => {
        let sent = 0
        let done = 0
        const onReply = (w: Worker) => () => {
          done++
          if (done === total) return resolve()
          if (sent < total) {
            sent++
            w.postMessage(sent)
          }
        }
        const listeners = pool.map((w) => {
          const listener = onReply(w)
          w.on("message", listener)
          return listener
        })
        for (let i = 0; i < Math.min(inFlight, total); i++) {
          sent++
          pool[i % pool.length]!.postMessage(sent)
        }
        const check = setInterval(() => {
          if (done >= total) {
            clearInterval(check)
            pool.forEach((w, i) => w.off("message", listeners[i]!))
          }
        }, 5)
      })
  )

/**
 * The floor of one fiber per ask, with no framework and no thread: `total` asks as `Effect.forEach` with
 * `inFlight` fibers over an `Effect.callback` that the next turn of the event loop resumes, all waiting ones at
 * once (as a reply batch does). What the no-op asks row pays for its fibers alone, whatever the runtime does.
 */
export const fiberFloor = (total: number, inFlight: number) =>
  Effect.suspend(() => {
    let waiting: Array<() => void> = []
    const resumeAll = () => {
      const now = waiting
      waiting = []
      for (let i = 0; i < now.length; i++) now[i]!()
    }
    const ask = (i: number) =>
      Effect.callback<number>((resume) => {
        if (waiting.length === 0) setImmediate(resumeAll)
        waiting.push(() => resume(Effect.succeed(i)))
        // A cancel hook, as a real ask has.
        return Effect.void
      })
    return Effect.forEach(Array.from({ length: total }, (_, i) => i), ask, { concurrency: inFlight, discard: true })
  })

/**
 * `trips` round trips of a `length`-element array to one raw worker, moved both ways (or copied both ways); the
 * seconds of each trip.
 */
const rawArray = (worker: Worker, length: number, trips: number, move: boolean) =>
  Effect.promise(async () => {
    let data = new Float64Array(length)
    const seconds: Array<number> = []
    for (let i = 0; i < trips; i++) {
      const sent = data
      const started = performance.now()
      data = await new Promise<Float64Array<ArrayBuffer>>((resolve) => {
        worker.once("message", resolve)
        if (move) worker.postMessage(sent, [sent.buffer])
        else worker.postMessage({ copy: sent })
      })
      seconds.push((performance.now() - started) / 1000)
    }
    return seconds
  })

export const run = (options: Options): Effect.Effect<Array<Row>, unknown> =>
  Effect.scoped(
    Effect.gen(function*() {
      const workers = 2
      const rounds = roundsFor(options, 5)
      const samples = options.quick ? 1e8 : 1e9
      const asks = options.quick ? 20_000 : 200_000
      // 10 MB arrays, a few round trips per round; each trip is timed alone (a garbage collection of the last
      // variant's buffers lands on one trip, not on the median).
      const arrayLength = 10 * 2 ** 20 / 8
      const trips = options.quick ? 5 : 20
      const layer = Threads.layer({ workers })
      const context = yield* Layer.build(layer)
      const unbatched = yield* Layer.build(Threads.layer({ workers, batching: false }))
      const raw = yield* rawPool(workers)
      const noops = yield* Effect.provide(ActorSystem.spawnMany(Noop, workers, () => ({})), context).pipe(Effect.orDie)
      const mover = yield* Effect.provide(ActorSystem.spawn(Mover, {}, { worker: 0 }), context).pipe(Effect.orDie)
      const arrayRun = (tag: "moved" | "copied", count = trips) =>
        Effect.gen(function*() {
          let data = new Float64Array(arrayLength)
          const seconds: Array<number> = []
          for (let i = 0; i < count; i++) {
            const started = performance.now()
            data = yield* mover.ask(tag, data)
            seconds.push((performance.now() - started) / 1000)
          }
          return seconds
        })
      warmUp()
      // A moved array's trip runs the transfer schemas' code, which V8 compiles only after some hundreds of trips
      // (measured here: 87 µs a trip over the first 2000, then 42-46 µs); rounds of 20 trips measured it cold.
      // Both moved variants, ours and raw, make 500 trips first; copies cost too long a trip to need it.
      yield* Effect.orDie(Effect.andThen(arrayRun("moved", 500), rawArray(raw[0]!, arrayLength, 500, true)))
      // One message per sample runs at a third of its rate the first time in a process, and speeds up over the next
      // few runs as its path through both tiers compiles (here: 790k/s, then 1.0-1.1M, up to 1.35M/s by the
      // fifth); three runs first, so that the rounds measure the warm rate.
      for (let i = 0; i < 3; i++) yield* Effect.scoped(Modes.perSample({ samples: 1e5, seed: SEED })).pipe(Effect.provide(context))

      const times: Record<string, Array<number>> = {}
      const record = (name: string, value: number) => (times[name] ??= []).push(value)
      const noopRun = (total: number, inFlight: number) =>
        Effect.forEach(
          Array.from({ length: total }, (_, i) => i),
          (i) => noops[i % noops.length]!.ask("noop", i),
          { concurrency: inFlight, discard: true }
        )

      /** The same asks by `askMany`: each actor's share, `inFlight / actors` out at a time per actor. */
      const manyRun = (total: number, inFlight: number) =>
        Effect.forEach(noops, (noop, k) =>
          noop.askMany(
            "noop",
            Array.from({ length: Math.ceil((total - k) / noops.length) }, (_, i) => k + i * noops.length),
            { inFlight: inFlight / noops.length }
          ), { concurrency: "unbounded", discard: true })

      for (let round = 0; round < rounds; round++) {
        record("pi.serial", yield* seconds(Modes.serial({ samples, seed: SEED })))
        record("pi.actors", yield* seconds(Effect.scoped(Modes.actors({ samples, seed: SEED })).pipe(Effect.provide(context))))
        record("pi.raw", yield* seconds(rawPi(raw, samples)))
        record("noop.1", yield* seconds(noopRun(Math.min(asks, 20_000), 1)))
        record("noop.64", yield* seconds(noopRun(asks, 64)))
        record("noop.raw64", yield* seconds(rawNoop(raw, asks, 64)))
        record("noop.many", yield* seconds(manyRun(asks, 64)))
        record("noop.floor", yield* seconds(fiberFloor(asks, 64)))
        // Before the arrays, not after: right after twenty 10 MB copies the workers collect their garbage during the
        // next run (one message per sample measured 498-932k/s there, and 660k-1.3M/s in the run after).
        record("perSample", yield* seconds(Effect.scoped(Modes.perSample({ samples: 1e5, seed: SEED })).pipe(Effect.provide(context))))
        record(
          "perSample.unbatched",
          yield* seconds(Effect.scoped(Modes.perSample({ samples: 1e5, seed: SEED })).pipe(Effect.provide(unbatched)))
        )
        for (const [name, trip] of [
          ["array.moved", arrayRun("moved")],
          ["array.rawMoved", rawArray(raw[0]!, arrayLength, trips, true)],
          ["array.copied", arrayRun("copied")],
          ["array.rawCopied", rawArray(raw[0]!, arrayLength, trips, false)]
        ] as const) {
          for (const t of yield* Effect.orDie(trip)) record(name, t)
        }
        record(
          "coldStart",
          yield* seconds(
            Effect.scoped(
              Effect.gen(function*() {
                const noop = yield* ActorSystem.spawn(Noop, {})
                yield* noop.ask("noop", 1)
              }).pipe(Effect.provide(Threads.layer({ workers })))
            ).pipe(Effect.orDie)
          )
        )
      }

      const m = (name: string) => median(times[name]!)
      const rate = (count: number, name: string) => count / m(name)
      /** The spread of `baseline / measured` over the rounds (both recorded once a round). */
      const roundRatios = (baseline: string, measured: string) => spread(perRound(times[baseline]!, times[measured]!))
      /** `rounds 587k-769k/s`: the range over the rounds of `name`'s seconds, as `show` gives each. */
      const roundsRange = (name: string, show: (seconds: number) => number, unit: string) => {
        const all = times[name]!.map(show)
        return `rounds ${Math.min(...all).toFixed(0)}-${Math.max(...all).toFixed(0)}${unit}`
      }
      const noop1 = Math.min(asks, 20_000)
      return [
        { section: "π", name: `serial, ${samples.toExponential(0)} samples`, value: rate(samples, "pi.serial"), unit: "samples/s" },
        { section: "π", name: `raw worker_threads, ${workers} workers`, value: rate(samples, "pi.raw"), unit: "samples/s", ratio: m("pi.serial") / m("pi.raw"), note: "ratio: vs serial" },
        {
          section: "π",
          name: `actors, ${workers} workers`,
          value: rate(samples, "pi.actors"),
          unit: "samples/s",
          ratio: m("pi.serial") / m("pi.actors"),
          note: `ratio: vs serial (target >= 1.85); vs raw ${(m("pi.raw") / m("pi.actors")).toFixed(3)}x (target >= 0.97, ${roundRatios("pi.raw", "pi.actors")})`
        },
        { section: "asks", name: `no-op, 1 in flight, ${workers} workers`, value: rate(noop1, "noop.1"), unit: "asks/s" },
        {
          section: "asks",
          name: `no-op, 64 in flight, ${workers} workers`,
          value: rate(asks, "noop.64"),
          unit: "asks/s",
          ratio: m("noop.raw64") / m("noop.64"),
          note: `ratio: vs raw postMessage (target >= 1.0); ${roundRatios("noop.raw64", "noop.64")}`
        },
        {
          section: "asks",
          name: `no-op askMany, 64 in flight, ${workers} workers`,
          value: rate(asks, "noop.many"),
          unit: "asks/s",
          ratio: m("noop.raw64") / m("noop.many"),
          note: `ratio: vs raw postMessage (target >= 1.0); one message per ask, no fiber per ask; ${roundRatios("noop.raw64", "noop.many")}`
        },
        { section: "asks", name: `raw postMessage, 64 in flight`, value: rate(asks, "noop.raw64"), unit: "msgs/s" },
        {
          section: "asks",
          name: "one fiber per ask, no threads (Effect's floor)",
          value: rate(asks, "noop.floor"),
          unit: "asks/s",
          ratio: m("noop.raw64") / m("noop.floor"),
          note: "ratio: vs raw postMessage; Effect.forEach + Effect.callback alone"
        },
        {
          section: "asks",
          name: "π one message per sample, 1e5",
          value: rate(1e5, "perSample"),
          unit: "samples/s",
          ratio: m("perSample.unbatched") / m("perSample"),
          note: `ratio: vs batching off (target >= 550k/s); ${roundsRange("perSample", (s) => 1e5 / s / 1000, "k/s")}`
        },
        { section: "asks", name: "π one message per sample, batching off", value: rate(1e5, "perSample.unbatched"), unit: "samples/s" },
        {
          section: "arrays",
          name: "10 MB Float64Array round trip, moved (median trip)",
          value: m("array.moved") * 1000,
          unit: "ms",
          ratio: m("array.moved") / m("array.rawMoved"),
          note: `ratio: vs raw transfer (target <= 1.5); vs copied ${(m("array.moved") / m("array.copied")).toFixed(2)}x`
        },
        { section: "arrays", name: "10 MB round trip, raw transfer", value: m("array.rawMoved") * 1000, unit: "ms" },
        {
          section: "arrays",
          name: "10 MB round trip, copied",
          value: m("array.copied") * 1000,
          unit: "ms",
          ratio: m("array.copied") / m("array.rawCopied"),
          note: "ratio: vs raw postMessage copy"
        },
        { section: "arrays", name: "10 MB round trip, raw copy", value: m("array.rawCopied") * 1000, unit: "ms" },
        { section: "start", name: `cold start to first reply, ${workers} workers`, value: m("coldStart") * 1000, unit: "ms", note: `target <= 300 ms; ${roundsRange("coldStart", (s) => s * 1000, " ms")}` }
      ]
    })
  )
