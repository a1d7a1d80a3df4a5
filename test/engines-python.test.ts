// Engines and views as an ipyparallel user reaches for them (the cases of its own tests, translated): failures
// in place (`return_exceptions`), every failed chunk reported, `get_dict`, a single engine's bare value, iterating
// the client, maps over several sequences and over iterators, item progress, `scatter(flatten=True)`, dotted
// names, references inside values, functions pushed and pulled by reference, `abort` (queued: aborted; running:
// a typed TaskRunning, never a silent no-op), `view.abort()`, retries that never go back to an engine that failed
// the task (then NoEngineLeft), async iteration, `waitAny` / `asCompleted` / wait for the first failure,
// `resubmit` — on Threads and Local — and the namespace replay after a real engine death (Threads).
import { Effect, Fiber, Stream } from "effect"
import type { Layer } from "effect"
import { describe, expect, it } from "vitest"
import { Local, Threads } from "../src/runtime/index.ts"
import type { ActorSystem } from "../src/runtime/index.ts"
import { AsyncResult, Client, Errors, Remote } from "../src/runtime/engines/index.ts"
import * as fns from "./fixtures/engineFns.ts"

const F = Remote.module(new URL("./fixtures/engineFns.ts", import.meta.url).href, fns)

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** The same cases on each tier: a fresh 2-worker tier and a client of `engines` engines per test. */
const tiers = [
  ["Threads", () => Threads.layer({ workers: 2 })],
  ["Local", () => Local.layer]
] as const

const flag = () => new Int32Array(new SharedArrayBuffer(4))

/** Wait (bounded by the test's timeout) until a fixture has set `cell[0]`. */
const until = (cell: Int32Array) =>
  Effect.promise(async () => {
    while (Atomics.load(cell, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  })

for (const [tier, layer] of tiers) {
  const withClient = <A, E>(engines: number, f: (client: Client.Shape) => Effect.Effect<A, E>) =>
    Effect.runPromise(
      Effect.scoped(Effect.flatMap(Client.make({ engines }), f)).pipe(Effect.provide(layer() as Layer.Layer<ActorSystem.ActorSystem>))
    )

  describe(`engines as ipyparallel users expect (${tier})`, () => {
    it("returnExceptions gives failures in place; a load-balanced map reports every failed chunk", async () => {
      await withClient(2, (client) =>
        Effect.gen(function*() {
          const xs = range(20)
          // dview.map(f, xs, return_exceptions=True): items 3 and 13 fail, the rest are values, in place.
          const dview = yield* client.view()
          const direct = yield* yield* dview.map(F.failOn3, xs, { returnExceptions: true })
          expect(direct.map((v) => (typeof v === "number" ? v : v._tag))).toEqual(xs.map((x) => (x % 10 === 3 ? "RemoteError" : x)))
          const failed = direct[3] as Errors.RemoteError
          expect(Errors.isRemoteError(failed) && failed.message).toMatch(/no 3/)

          // Load-balanced, chunks of 5: chunks 0 and 2 fail. The map's error lists both, not the first only.
          const lview = yield* client.loadBalanced()
          const error = yield* Effect.flip(yield* lview.map(F.failOn3, xs, { chunkSize: 5 }))
          expect(error._tag).toBe("CompositeError")
          expect(error.failures).toHaveLength(2)
          expect(error.failures.map((f) => (f.error as Errors.RemoteError).message).sort()).toEqual([expect.stringMatching(/no 13/), expect.stringMatching(/no 3/)])
          // In place, the load-balanced way too, and `get(return_exceptions=True)` on a result that failed.
          const inPlace = yield* yield* lview.map(F.failOn3, xs, { chunkSize: 5, returnExceptions: true })
          expect(inPlace.map((v) => (typeof v === "number" ? v : v._tag))).toEqual(xs.map((x) => (x % 10 === 3 ? "RemoteError" : x)))
          const settled = yield* (yield* lview.map(F.failOn3, xs, { chunkSize: 5 })).settled
          // A failed chunk's items all carry its failure; the other chunks' items are values.
          expect(settled.map((v) => (typeof v === "number" ? v : v._tag))).toEqual(xs.map((x) => (x < 5 || (x >= 10 && x < 15) ? "RemoteError" : x)))
        }))
    })

    it("getDict, a single engine's bare value, iterating the client, mapMany and iterators, item progress", async () => {
      await withClient(3, (client) =>
        Effect.gen(function*() {
          const dview = yield* client.view()
          yield* yield* dview.execute((ns, context) => {
            ns.me = context.engine
          })
          // dview.apply(...).get_dict(): engine id → its value.
          expect(yield* (yield* dview.apply(F.add, Remote.reference<number>("me"), 10)).getDict).toEqual({ 0: 10, 1: 11, 2: 12 })
          // rc[1].apply(f, x) is the bare value, not a list of one.
          const one = yield* client.view(1)
          expect(yield* yield* one.apply(F.square, 7)).toBe(49)
          expect(yield* yield* one.pull<number>("me")).toBe(1)
          // for e in rc: one view per engine, in id order.
          const seen: Array<number> = []
          for (const engine of client) seen.push(yield* yield* engine.pull<number>("me"))
          expect(seen).toEqual([0, 1, 2])
          // map(f, xs, ys) over sequences of different lengths (the shortest wins), lists and generators alike.
          function* gen(n: number) {
            for (let i = 0; i < n; i++) yield i * 100
          }
          expect(yield* yield* dview.mapMany(F.add, [range(7), gen(5)])).toEqual([0, 101, 202, 303, 404])
          const lview = yield* client.loadBalanced()
          expect(yield* yield* lview.mapMany(F.add, [gen(9), range(6)], { chunkSize: 2 })).toEqual([0, 101, 202, 303, 404, 505])
          expect(yield* yield* dview.map(F.square, gen(4))).toEqual([0, 10_000, 40_000, 90_000])
          // Direct-view progress counts items (10 items over 3 engines: 4 + 3 + 3), as the load-balanced view's does.
          const mapped = yield* dview.map(F.square, range(10))
          yield* mapped
          expect(mapped.progress()).toEqual({ done: 10, total: 10 })
        }))
    })

    it("scatter with flatten, dotted names, references inside values, functions pushed and pulled by reference", async () => {
      await withClient(3, (client) =>
        Effect.gen(function*() {
          const dview = yield* client.view()
          // scatter('x', range(3), flatten=True): each engine gets a bare item, not a list of one.
          yield* yield* dview.scatter("x", [10, 20, 30], { flatten: true })
          expect(yield* yield* dview.pull("x")).toEqual([10, 20, 30])
          expect(yield* yield* dview.gather("x", { flatten: true })).toEqual([10, 20, 30])
          yield* yield* dview.scatter("y", [10, 20, 30])
          expect(yield* yield* dview.pull("y")).toEqual([[10], [20], [30]])
          // view["a.b"] = 5 / view["a.b"]: attribute b of a.
          yield* yield* dview.push({ a: { b: 1, c: 2 } })
          yield* yield* dview.set("a.b", 5)
          expect(yield* yield* dview.get("a")).toEqual([{ b: 5, c: 2 }, { b: 5, c: 2 }, { b: 5, c: 2 }])
          expect(yield* yield* dview.get<number>("a.c")).toEqual([2, 2, 2])
          const missing = yield* Effect.flip(yield* dview.get("a.zz.q"))
          expect(missing.failures).toHaveLength(3)
          // References resolved inside lists, records and Map values, as arguments and as map items.
          const echoed = yield* yield* (yield* client.view(2)).apply(
            F.identity,
            { list: [Remote.reference("x"), 1], record: { deep: Remote.reference("a.b") }, map: new Map([["k", Remote.reference("x")]]) }
          )
          expect(echoed).toEqual({ list: [30, 1], record: { deep: 5 }, map: new Map([["k", 30]]) })
          expect(yield* yield* dview.map(F.identity, [Remote.reference("x"), [Remote.reference("a.c")]])).toEqual([10, [2]])
          // A function pushed by reference (module + export) is callable there, and comes back as the same reference.
          yield* yield* dview.push({ f: F.square })
          expect(yield* yield* dview.execute((ns) => (ns.f as (x: number) => number)(9))).toEqual([81, 81, 81])
          const pulled = yield* yield* (yield* client.view(0)).pull("f")
          expect(Remote.isRemoteFunction(pulled)).toBe(true)
          expect(yield* yield* (yield* client.view(1)).apply(pulled as typeof F.square, 4)).toBe(16)
        }))
    })

    it("abort: a task waiting in its engine is aborted; a running one fails typed (TaskRunning); view.abort", async () => {
      await withClient(1, (client) =>
        Effect.gen(function*() {
          const dview = yield* client.view(0)
          const started = flag()
          const release = flag()
          const running = yield* dview.apply(F.gate, started, release, 1)
          const waiting = yield* dview.apply(F.identity, 2) // handed to the engine (depth 2), not started
          yield* until(started)
          const refused = yield* Effect.flip(running.abort)
          expect(refused._tag).toBe("TaskRunning")
          expect(refused.tasks).toEqual([{ task: running.tasks()[0]!.id, engine: 0 }])
          yield* waiting.abort
          expect((yield* Effect.flip(waiting)).on(0)?._tag).toBe("TaskAborted")
          Atomics.store(release, 0, 1)
          expect(yield* running).toBe(1) // refused abort: it ran to the end
          // view.abort(): everything outstanding; the running one is named, the others aborted.
          const started2 = flag()
          const release2 = flag()
          const a = yield* dview.apply(F.gate, started2, release2, 1)
          const b = yield* dview.apply(F.identity, 2)
          const c = yield* dview.apply(F.identity, 3)
          yield* until(started2)
          const viewAbort = yield* Effect.flip(dview.abort)
          expect(viewAbort.tasks.map((t) => t.task)).toEqual([a.tasks()[0]!.id])
          expect((yield* Effect.flip(b)).on(0)?._tag).toBe("TaskAborted")
          expect((yield* Effect.flip(c)).on(0)?._tag).toBe("TaskAborted")
          Atomics.store(release2, 0, 1)
          expect(yield* a).toBe(1)
          // Nothing outstanding: abort is a success.
          yield* dview.abort
        }))
    })

    it("retries go to engines that have not failed the task, then NoEngineLeft; resubmit runs it again", async () => {
      await withClient(3, (client) =>
        Effect.gen(function*() {
          const lview = (yield* client.loadBalanced()).with({ retries: 10 })
          const result = yield* lview.apply(F.alwaysFails, 0)
          const error = yield* Effect.flip(result)
          expect(Errors.isNoEngineLeft(error)).toBe(true)
          const left = error as Errors.NoEngineLeft
          // Each engine tried once, never the same one twice, although 10 retries were allowed.
          expect([...left.tried].sort()).toEqual([0, 1, 2])
          expect(left.last).toMatch(/failed \(asked on 0\)/)
          expect(result.metadata()[0]!.attempts).toBe(3)
          // A narrower view: fewer engines to try.
          const two = (yield* client.loadBalanced({ targets: [0, 2] })).with({ retries: 10 })
          const narrow = (yield* Effect.flip(yield* two.apply(F.alwaysFails, 1))) as Errors.NoEngineLeft
          expect([...narrow.tried].sort()).toEqual([0, 2])
          // client.resubmit(ar): the same tasks again, a new result.
          const first = yield* (yield* client.loadBalanced()).apply(F.square, 6)
          expect(yield* first).toBe(36)
          const again = yield* client.resubmit(first)
          expect(again).not.toBe(first)
          expect(yield* again).toBe(36)
        }))
    })

    it("async iteration over a result, waitAny / asCompleted, and a wait that returns at the first failure", async () => {
      await withClient(2, (client) =>
        Effect.gen(function*() {
          const lview = yield* client.loadBalanced()
          // for await (const x of ar): results as they complete, in order (the default).
          const mapped = yield* lview.map(F.square, range(12), { chunkSize: 3 })
          const seen = yield* Effect.promise(async () => {
            const out: Array<number> = []
            // (typed through AsyncIterable: TypeScript would otherwise read the Effect's own iterator)
            const items: AsyncIterable<number> = mapped
            for await (const x of items) out.push(x)
            return out
          })
          expect(seen).toEqual(range(12).map((x) => x * x))
          // Unordered: the same items, each once.
          const unordered = yield* Stream.runCollect((yield* lview.map(F.square, range(12), { chunkSize: 3 })).stream({ ordered: false }))
          expect([...unordered].sort((a, b) => a - b)).toEqual(range(12).map((x) => x * x))
          // waitAny / asCompleted across results: the quick one first (the slow one waits for the test's word).
          const release = flag()
          const slow = yield* (yield* client.view(0)).apply(F.gate, flag(), release, 1)
          const quick = yield* (yield* client.view(1)).apply(F.identity, 2)
          expect(yield* AsyncResult.waitAny([slow, quick])).toBe(quick)
          const order = yield* Effect.forkChild(Stream.runCollect(AsyncResult.asCompleted([slow, quick])))
          yield* Effect.sleep("20 millis")
          Atomics.store(release, 0, 1)
          expect(yield* Fiber.join(order)).toEqual([quick, slow])
          // wait(..., "firstFailure") returns once a part failed, while another part still runs.
          const dview = yield* client.view()
          const mixed = yield* dview.map(F.failOn3, [3, 4])
          yield* mixed.wait(undefined, "firstFailure")
          const hold = flag()
          const long = yield* (yield* client.view(0)).apply(F.gate, flag(), hold, 5)
          const failing = yield* (yield* client.view(1)).apply(F.failOn3, 13)
          const both = yield* AsyncResult.waitAll([long, failing], { returnWhen: "firstFailure" })
          expect(both.pending).toEqual([long]) // returned on the failure, while `long` still waits
          expect(both.done).toEqual([failing])
          Atomics.store(hold, 0, 1)
          expect(yield* long).toBe(5)
        }))
    })
  })
}

describe("namespace replay after an engine restart (Threads, a real worker death)", () => {
  it("recorded push / syncImports / execute calls are replayed; unrecorded names are gone (NameError)", async () => {
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function*() {
          const client = yield* Client.make({ engines: 2 })
          const e0 = yield* client.view(0)
          yield* yield* e0.push({ a: 5 }, { replay: true })
          yield* yield* e0.syncImports({ m: F }, { replay: true })
          yield* yield* e0.execute((ns) => {
            ns.c = (ns.a as number) * 2
          }, { replay: true })
          yield* yield* e0.push({ b: 6 }) // not recorded
          const before = yield* yield* e0.info()
          // The engine's worker exits mid-session: a real death, seen as EngineDied.
          const died = yield* Effect.flip(yield* e0.apply(F.exitNow))
          expect(died.on(0)?._tag).toBe("EngineDied")
          // The next tasks find the recorded names (on a new thread), in the order they were made.
          expect(yield* yield* e0.pull(["a", "c"])).toEqual([5, 10])
          expect(yield* yield* e0.execute((ns) => (ns.m as typeof fns).square(3))).toBe(9)
          const after = yield* yield* e0.info()
          expect(after.threadId).not.toBe(before.threadId)
          const missing = yield* Effect.flip(yield* e0.pull("b"))
          expect((missing.on(0) as Errors.RemoteError).message).toMatch(/NameError|not defined/)
          // Engine 1 shared nothing with engine 0 and kept its (empty) namespace.
          expect(yield* yield* (yield* client.view(1)).keys()).toEqual([])
        })
      ).pipe(Effect.provide(Threads.layer({ workers: 2 })))
    )
    expect(Threads.liveWorkers()).toBe(0)
  })
})
