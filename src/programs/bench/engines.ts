/**
 * Benchmarks of engines and views: load-balanced `map` of many tiny tasks with automatic chunking against the
 * same map sent one task per message (ipyparallel's way), and the round trip of a direct-view `apply` on every
 * engine against raw `postMessage` round trips to as many bare workers. Variants alternate within each round;
 * every figure is the median over rounds (latencies: over all samples), so ratios come from the same run.
 */
import { Context, Effect, Layer } from "effect"
import * as Os from "node:os"
import { Worker } from "node:worker_threads"
import { Threads } from "../../runtime/index.ts"
import { Client, Remote } from "../../runtime/engines/index.ts"
import type { Options, Row } from "./Row.ts"
import { median, roundsFor } from "./Row.ts"

const SECTION = "engines"

const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** Bare echo workers (no framework): the floor for a round trip to every worker. */
const rawWorkers = (count: number) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const code = `const { parentPort } = require("node:worker_threads"); parentPort.on("message", (m) => parentPort.postMessage(m))`
      const pool = Array.from({ length: count }, () => new Worker(code, { eval: true }))
      await Promise.all(pool.map((w) => echo(w, 0)))
      return pool
    }),
    (pool) => Effect.promise(() => Promise.all(pool.map((w) => w.terminate())))
  )

const echo = (worker: Worker, message: unknown) =>
  new Promise<unknown>((resolve) => {
    worker.once("message", resolve)
    worker.postMessage(message)
  })

/** One round trip to every raw worker at once, in µs. */
const rawRoundTrip = (pool: ReadonlyArray<Worker>) =>
  Effect.promise(async () => {
    const t = performance.now()
    await Promise.all(pool.map((w) => echo(w, 1)))
    return (performance.now() - t) * 1000
  })

export const run = (options: Partial<Options> & { readonly json?: boolean } = {}): Effect.Effect<Array<Row>> =>
  Effect.scoped(
    Effect.gen(function*() {
      const quick = options.quick === true
      const rounds = roundsFor({ quick, rounds: options.rounds }, 5, 2)
      const tiny = quick ? 20_000 : 100_000
      const perMessage = quick ? 2_000 : 10_000
      const latencySamples = quick ? 200 : 1_000
      const workers = Os.availableParallelism()
      const context = yield* Layer.build(Client.layer().pipe(Layer.provide(Threads.layer({ workers }))))
      const client = Context.get(context, Client.Client)
      const dview = yield* client.view()
      const lview = yield* client.loadBalanced()
      const raw = yield* rawWorkers(client.ids.length)
      const plusOne = Remote.fn((x: number) => x + 1, { name: "plusOne" })
      const noop = Remote.fn(() => 0, { name: "noop" })
      const items = Array.from({ length: tiny }, (_, i) => i)
      const fewItems = items.slice(0, perMessage)

      const timeMap = (xs: ReadonlyArray<number>, chunkSize?: number) =>
        Effect.gen(function*() {
          const t = performance.now()
          const out = yield* yield* lview.map(plusOne, xs, chunkSize === undefined ? {} : { chunkSize })
          if (out.length !== xs.length || out[xs.length - 1] !== xs.length) return yield* Effect.die(new Error("wrong map result"))
          return xs.length / ((performance.now() - t) / 1000)
        }).pipe(Effect.orDie)

      const applyRoundTrip = Effect.gen(function*() {
        const t = performance.now()
        yield* yield* dview.apply(noop)
        return (performance.now() - t) * 1000
      }).pipe(Effect.orDie)

      const lbRoundTrip = Effect.gen(function*() {
        const t = performance.now()
        yield* yield* lview.apply(noop)
        return (performance.now() - t) * 1000
      }).pipe(Effect.orDie)

      // Warm up every path (JIT, bundles, engines' compiled functions).
      yield* timeMap(items)
      yield* timeMap(fewItems.slice(0, 500), 1)
      for (let i = 0; i < 100; i++) {
        yield* applyRoundTrip
        yield* lbRoundTrip
        yield* rawRoundTrip(raw)
      }

      const auto: Array<number> = []
      const single: Array<number> = []
      const direct: Array<number> = []
      const balanced: Array<number> = []
      const bare: Array<number> = []
      for (let round = 0; round < rounds; round++) {
        auto.push(yield* timeMap(items))
        single.push(yield* timeMap(fewItems, 1))
        for (let i = 0; i < latencySamples / rounds; i++) {
          direct.push(yield* applyRoundTrip)
          balanced.push(yield* lbRoundTrip)
          bare.push(yield* rawRoundTrip(raw))
        }
      }
      const engines = client.ids.length
      const rows: Array<Row> = [
        {
          section: SECTION,
          name: `load-balanced map, ${tiny} tiny tasks, automatic chunks`,
          value: median(auto),
          unit: "tasks/s",
          ratio: median(auto) / median(single),
          note: `ratio vs one task per message; target >= 200k/s; piscina ~28k/s (DESIGN.md), ${engines} engines`
        },
        {
          section: SECTION,
          name: `load-balanced map, ${perMessage} tasks, one per message`,
          value: median(single),
          unit: "tasks/s",
          note: "ipyparallel-style: every task a message and a reply"
        },
        {
          section: SECTION,
          name: `direct apply on all ${engines} engines, round trip, median`,
          value: median(direct),
          unit: "µs",
          ratio: median(direct) / median(bare),
          note: "ratio vs raw postMessage to as many bare workers"
        },
        {
          section: SECTION,
          name: `direct apply on all ${engines} engines, round trip, p99`,
          value: quantile(direct, 0.99),
          unit: "µs",
          ratio: quantile(direct, 0.99) / quantile(bare, 0.99),
          note: `${direct.length} samples`
        },
        {
          section: SECTION,
          name: "load-balanced apply, one task, round trip, median",
          value: median(balanced),
          unit: "µs",
          note: `p99 ${quantile(balanced, 0.99).toFixed(0)} µs`
        },
        {
          section: SECTION,
          name: `raw postMessage to ${engines} bare workers, round trip, median`,
          value: median(bare),
          unit: "µs",
          note: `baseline; p99 ${quantile(bare, 0.99).toFixed(0)} µs`
        }
      ]
      return rows
    })
  ).pipe(Effect.orDie)
