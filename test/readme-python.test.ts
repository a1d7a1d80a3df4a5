// The README's section for Python users ("Coming from Python's multiprocessing or ipyparallel"), run as written
// (each snippet's lines, with what they give checked beside them), so the examples there cannot rot.
import { Effect, Exit, Stream } from "effect"
import type { Scope } from "effect"
import { describe, expect, it } from "vitest"
import { ActorSystem, Progress, Threads } from "../src/runtime/index.ts"
import { Group } from "../src/runtime/collectives/index.ts"
import { AsyncResult, Client, Errors, Remote } from "../src/runtime/engines/index.ts"
import { ParallelFor } from "../src/runtime/parallel/index.ts"
import { Pool } from "../src/runtime/pool/index.ts"
import { SharedArray } from "../src/runtime/shared/index.ts"
import { Ranked } from "./fixtures/collective.ts"
import * as fns from "./fixtures/engineFns.ts"
import { scale } from "./fixtures/kernels.ts"
import { add, nap, reportingSteps, setUp, slowSquare, square } from "./fixtures/tasks.ts"

const F = Remote.module(new URL("./fixtures/engineFns.ts", import.meta.url).href, fns)
const range = (n: number) => Array.from({ length: n }, (_, i) => i)
const onThreads = <A, E>(effect: Effect.Effect<A, E, ActorSystem.ActorSystem | Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(effect).pipe(Effect.provide(Threads.layer({ workers: 2 }))))

describe("README: coming from Python", () => {
  it("pools", async () => {
    async function* someAsyncGenerator() {
      for (let i = 0; i < 10; i++) yield i
    }
    await onThreads(Effect.gen(function*() {
      const pool = yield* Pool.make({
        initializer: setUp, initargs: { greeting: "hi" },
        maxTasksPerWorker: 100,
        maxHeapMb: 512,
        minWorkers: 1, maxWorkers: 4, idleTimeout: "10 seconds"
      })
      expect(yield* pool.starmap(add, [[1, 2], [3, 4]])).toEqual([3, 7])
      const handle = yield* pool.starmapAsync(add, [[10, 1], [20, 2]])
      expect(yield* handle.join).toEqual([11, 22])
      function* naturals() { for (let i = 0; ; i++) yield i }
      const first = yield* Stream.runCollect(Stream.take(pool.imap(square, naturals(), { inFlight: 2, chunkSize: 5 }), 20))
      expect(Array.from(first)).toEqual(range(20).map((x) => x * x))
      expect(yield* pool.map(square, someAsyncGenerator())).toEqual(range(10).map((x) => x * x))
      const timedOut = yield* Effect.exit(pool.apply(nap, 60_000, { timeout: "200 millis" }))
      expect(Exit.isFailure(timedOut) && JSON.stringify(timedOut.cause)).toMatch(/PoolTimeout/)
      yield* pool.terminate
      expect(pool.stats().runners).toBe(0)
    }))
  })

  it("progress from inside the workers", async () => {
    const steps = reportingSteps // the README's `steps`: 1 ms of work per step, each reported
    await onThreads(Effect.gen(function*() {
      const pool = yield* Pool.make()
      const client = yield* Client.make()
      const lview = yield* client.loadBalanced()
      const meter = Progress.meter()
      const squares = yield* pool.map(slowSquare, range(400), { chunkSize: 20, progress: meter }).pipe(
        Progress.withBar("squares", meter))
      expect(squares).toEqual(range(400).map((x) => x * x))
      expect(meter.snapshot()).toEqual({ done: 400, total: 400 })
      yield* pool.map(steps, [30, 30], { progress: meter })
      expect(meter.work()).toBe(60)
      const ar = yield* lview.map(F.square, range(1000), { chunkSize: 100 })
      expect(yield* ar.waitInteractive({ label: "squares" })).toBe(true)
      expect(ar.progress()).toEqual({ done: 1000, total: 1000 })
      expect((yield* ar.get)[999]).toBe(999 * 999)
    }))
  })

  it("engines and views", async () => {
    function* countUp() { for (let i = 0; ; i++) yield i * 100 }
    await onThreads(Effect.gen(function*() {
      const client = yield* Client.make()
      const dview = yield* client.view()
      const e0 = yield* client.view(0)
      expect(yield* yield* e0.apply(F.square, 7)).toBe(49)
      yield* yield* dview.execute((ns, context) => { ns.me = context.engine })
      expect(yield* (yield* dview.apply(F.add, Remote.reference("me"), 10)).getDict).toEqual({ 0: 10, 1: 11 })
      for (const engine of client) expect(yield* yield* engine.keys()).toEqual(["me"])

      const inPlace = yield* yield* dview.map(F.failOn3, range(20), { returnExceptions: true })
      expect(Errors.isRemoteError(inPlace[3])).toBe(true)
      expect(yield* yield* dview.mapMany(F.add, [[1, 2, 3], countUp()])).toEqual([1, 102, 203])
      yield* yield* dview.scatter("x", [10, 20], { flatten: true })
      yield* yield* dview.push({ a: { b: 1 } })
      yield* yield* dview.set("a.b", 5)
      expect(yield* yield* dview.get("a.b")).toEqual([5, 5])
      expect(yield* yield* dview.apply(F.identity, { list: [Remote.reference("x")] })).toEqual([{ list: [10] }, { list: [20] }])
      yield* yield* dview.push({ f: F.square })

      const lview = (yield* client.loadBalanced()).with({ retries: 5 })
      const ar = yield* lview.map(F.failOn3, range(20), { chunkSize: 5 })
      const settled = yield* ar.settled
      expect(settled.filter(Errors.isTaskFailure)).toHaveLength(10) // chunks [0, 5) and [10, 15)
      expect(yield* ar.wait(undefined, "firstFailure")).toBe(true)
      const ok = yield* lview.map(F.square, range(6))
      const seen: Array<number> = []
      yield* Effect.promise(async () => {
        for await (const x of ok as AsyncIterable<number>) seen.push(x)
      })
      expect(seen).toEqual(range(6).map((x) => x * x))
      const [ar1, ar2] = [yield* lview.apply(F.square, 2), yield* lview.apply(F.square, 3)]
      const first = yield* AsyncResult.waitAny([ar1, ar2])
      expect([ar1, ar2]).toContain(first)
      expect(Array.from(yield* Stream.runCollect(AsyncResult.asCompleted([ar1, ar2])))).toHaveLength(2)
      const ars = [ar1, ar2]
      expect((yield* AsyncResult.waitAll(ars, { returnWhen: "firstFailure" })).done).toHaveLength(2)
      yield* ok.abort // nothing left to abort: a success
      yield* dview.abort
      const again = yield* client.resubmit(ar1)
      expect(yield* again).toBe(4)

      yield* yield* e0.push({ a: 5 }, { replay: true })
      yield* yield* e0.syncImports({ m: F }, { replay: true })
      yield* yield* e0.execute((ns) => { ns.c = (ns.a as number) * 2 }, { replay: true })
      expect(yield* yield* e0.pull(["a", "c"])).toEqual([5, 10])
    }))
  })

  it("collectives", async () => {
    const results = await onThreads(Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      const group = yield* Group.make({ size: 4, worker: (rank) => rank % system.workers })
      const members = yield* Effect.forEach(group.members, (_member, rank) => ActorSystem.spawn(Ranked, {}, { worker: group.workers[rank]! }))
      // Each member's handler joins with `Comm.join(context, member, epoch)` and runs the collectives.
      return yield* Effect.forEach(members, (ref, rank) =>
        ref.ask("collect", { member: group.members[rank]!, epoch: 1, value: rank + 1, text: String(rank) }), { concurrency: "unbounded" })
    }))
    expect(results.map((r) => r.sum)).toEqual([10, 10, 10, 10])
    expect(results.map((r) => r.scan)).toEqual([1, 3, 6, 10])
    expect(results[0]!.gathered).toEqual([1, 2, 3, 4])
    expect(results.map((r) => r.worker)).toEqual([0, 1, 0, 1])
  })

  it("fault-tolerant prange (the example's kernel; the death itself is in test/parallel-for.test.ts)", async () => {
    const n = 10_000
    const src = SharedArray.make("Float64", n)
    for (let i = 0; i < n; i++) src[i] = i / 3
    const dst = SharedArray.make("Float64", n)
    await onThreads(Effect.gen(function*() {
      const loops = yield* ParallelFor.make()
      yield* loops.run(scale, n, { src, dst }, { schedule: "dynamic", chunk: 1_000 })
    }))
    expect(Array.from(dst)).toEqual(Array.from(src, (x) => x * 2))
  })
})
