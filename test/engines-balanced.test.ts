// The load-balanced view on the Threads tier (2 workers shared by the file): apply and map against Array.map,
// schedulers, lazy input, retries (also after an engine dies mid-run), dependencies (after / follow / timeout) on
// random task graphs, and the typed errors of impossible dependencies. Engine deaths come last in the file.
import { Effect, ManagedRuntime, Stream } from "effect"
import * as fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Threads } from "../src/runtime/index.ts"
import type { ActorError, ActorSystem } from "../src/runtime/index.ts"
import { Client, Dependency, Remote } from "../src/runtime/engines/index.ts"
import type { AsyncResult } from "../src/runtime/engines/index.ts"
import * as fns from "./fixtures/engineFns.ts"

const F = Remote.module(new URL("./fixtures/engineFns.ts", import.meta.url).href, fns)

let runtime: ManagedRuntime.ManagedRuntime<ActorSystem.ActorSystem, ActorError.WorkerLost>

beforeAll(async () => {
  runtime = ManagedRuntime.make(Threads.layer({ workers: 2, backoffMs: 20 }))
  await runtime.runPromise(Effect.void)
})

afterAll(async () => {
  await runtime.dispose()
  expect(Threads.liveWorkers()).toBe(0)
})

const withClient = <A, E>(options: Client.Options, f: (client: Client.Shape) => Effect.Effect<A, E>) =>
  runtime.runPromise(Effect.scoped(Effect.flatMap(Client.make(options), f)))

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("apply and map", () => {
  it("load-balanced apply runs one task and gives one value; direct apply gives one per engine", async () => {
    await withClient({}, (client) =>
      Effect.gen(function*() {
        const dview = yield* client.view()
        const lview = yield* client.loadBalanced()
        expect(yield* yield* dview.apply(F.square, 2)).toEqual([4, 4])
        const one = yield* lview.apply(F.square, 2)
        expect(yield* one).toBe(4)
        expect(one.metadata()).toHaveLength(1)
        expect([0, 1]).toContain(one.metadata()[0]!.engine)
      }))
  })

  it("map equals Array.map for any input, chunk size, order and scheduler", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -1e6, max: 1e6 }), { maxLength: 300 }),
        fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
        fc.boolean(),
        fc.constantFrom("leastload" as const, "roundrobin" as const, "random" as const),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        async (xs, chunkSize, ordered, scheduler, engines, lazy) => {
          const out = await withClient({ engines }, (client) =>
            Effect.gen(function*() {
              const lview = yield* client.loadBalanced({ scheduler })
              const input = lazy ? (function*() { yield* xs })() : xs
              return yield* yield* lview.map((x: number) => 2 * x + 1, input, { chunkSize, ordered })
            }))
          const expected = xs.map((x) => 2 * x + 1)
          expect(ordered ? out : [...out].sort((a, b) => a - b)).toEqual(ordered ? expected : [...expected].sort((a, b) => a - b))
        }
      ),
      { numRuns: 40 }
    )
  })

  it("round-robin spreads tasks in turn; least-load avoids a busy engine", async () => {
    await withClient({ engines: 2 }, (client) =>
      Effect.gen(function*() {
        const rr = yield* client.loadBalanced({ scheduler: "roundrobin" })
        const results = []
        for (let i = 0; i < 4; i++) results.push(yield* rr.apply(F.busy, i, 20))
        yield* Effect.all(results)
        expect(results.map((r) => r.metadata()[0]!.engine)).toEqual([0, 1, 0, 1])
        const least = yield* client.loadBalanced()
        const busy = yield* (yield* client.view(0)).apply(F.busy, 0, 150)
        const quick = []
        for (let i = 0; i < 4; i++) {
          const result = yield* least.apply(F.square, i)
          quick.push([yield* result, result.metadata()[0]!.engine])
        }
        expect(busy.isReady()).toBe(false)
        yield* busy
        expect(quick).toEqual([[0, 1], [1, 1], [4, 1], [9, 1]])
      }))
  })

  it("reads its input lazily, no further ahead than the tasks outstanding", async () => {
    let read = 0
    const naturals = function*() {
      for (let i = 0; ; i++) {
        read++
        yield i
      }
    }
    const taken = await withClient({}, (client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced()
        return yield* Stream.runCollect(Stream.take(lview.imap((x: number) => x * x, naturals(), { chunkSize: 10, maxOutstanding: 3 }), 25))
      }))
    expect(taken).toEqual(range(25).map((x) => x * x))
    expect(read).toBeLessThanOrEqual(25 + 10 * 6)
  })

  it("automatic chunks make tiny tasks cheap; progress counts items", async () => {
    await withClient({}, (client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced()
        const xs = range(100_000)
        const result = yield* lview.map((x: number) => x + 1, xs)
        const out = yield* result
        expect(out[99_999]).toBe(100_000)
        expect(result.progress()).toEqual({ done: 100_000, total: 100_000 })
        expect(result.metadata().length).toBe(8) // about 4 chunks per engine
        // Lazy input of unknown length: chunk sizes adapt to the measured item time.
        const adaptive = yield* lview.map((x: number) => x + 1, (function*() { yield* xs })())
        expect((yield* adaptive).length).toBe(100_000)
        expect(adaptive.metadata().length).toBeLessThan(200)
      }))
  })

  it("abort fails the tasks still waiting with TaskAborted", async () => {
    await withClient({ engines: 1, hwm: 1 }, (client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced()
        const first = yield* lview.apply(F.busy, 1, 100)
        const second = yield* lview.apply(F.busy, 2, 1)
        expect(second.metadata()[0]!.status).toBe("pending")
        yield* second.abort
        expect((yield* Effect.flip(second))._tag).toBe("TaskAborted")
        expect(yield* first).toBe(1)
        const map = yield* lview.map(F.square, range(50), { chunkSize: 1, maxOutstanding: 2 })
        yield* map.abort
        expect((yield* Effect.flip(map)).message).toMatch(/TaskAborted/)
      }))
  })
})

describe("retries", () => {
  it("a failed task is resubmitted on another engine", async () => {
    await withClient({}, (client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced({ retries: 1 })
        const flag = new Int32Array(new SharedArrayBuffer(4))
        // Fails on its first attempt only (the flag is shared memory, seen by every engine).
        const flaky = Remote.fn((x: number, f: Int32Array) => {
          if (Atomics.compareExchange(f, 0, 0, 1) === 0) throw new Error("first attempt fails")
          return x
        })
        const result = yield* lview.apply(flaky, 5, flag)
        expect(yield* result).toBe(5)
        expect(result.metadata()[0]!.attempts).toBe(2)
        const [first, second] = result.metadata()[0]!.tried
        expect(second).not.toBe(first)
        // Without retries the failure is the task's own typed error.
        flag[0] = 0
        const noRetry = yield* client.loadBalanced()
        const failed = yield* Effect.flip(yield* noRetry.apply(flaky, 5, flag))
        expect(failed).toMatchObject({ _tag: "RemoteError", error: "Error", message: "first attempt fails" })
      }))
  })
})

describe("dependencies", () => {
  it("for random task graphs, every task runs after its `after` set and on the engine of what it follows", async () => {
    // Each task i: after = some earlier tasks, follow = at most one earlier task (following several on different
    // engines is impossible; that case is tested below).
    const graph = fc.integer({ min: 2, max: 10 }).chain((n) =>
      fc.tuple(...range(n).map((i) =>
        fc.record({
          after: fc.subarray(range(i)),
          follow: i === 0 ? fc.constant(undefined) : fc.option(fc.integer({ min: 0, max: i - 1 }), { nil: undefined }),
          ms: fc.integer({ min: 0, max: 5 })
        })
      ))
    )
    await fc.assert(
      fc.asyncProperty(graph, fc.constantFrom("leastload" as const, "random" as const), fc.integer({ min: 2, max: 4 }), async (tasks, scheduler, engines) => {
        const counter = new Int32Array(new SharedArrayBuffer(4))
        const outcome = await withClient({ engines }, (client) =>
          Effect.gen(function*() {
            const lview = yield* client.loadBalanced({ scheduler })
            const results: Array<AsyncResult.AsyncResult<[number, number], unknown>> = []
            for (const spec of tasks) {
              const view = lview.with({
                after: spec.after.map((j) => results[j]!),
                follow: spec.follow === undefined ? undefined : results[spec.follow]!,
                timeout: "10 seconds"
              })
              results.push(yield* view.apply(F.stamp, counter, spec.ms))
            }
            const stamps = yield* Effect.all(results)
            return { stamps, engines: results.map((r) => r.metadata()[0]!.engine) }
          }))
        tasks.forEach((spec, i) => {
          const [start] = outcome.stamps[i]!
          for (const j of spec.after) expect(start).toBeGreaterThan(outcome.stamps[j]![1])
          if (spec.follow !== undefined) {
            expect(start).toBeGreaterThan(outcome.stamps[spec.follow]![1])
            expect(outcome.engines[i]).toBe(outcome.engines[spec.follow])
          }
        })
      }),
      { numRuns: 30 }
    )
  })

  it("for random task graphs with failures, a task whose dependency failed fails with ImpossibleDependency", async () => {
    const graph = fc.integer({ min: 2, max: 10 }).chain((n) =>
      fc.tuple(...range(n).map((i) =>
        fc.record({
          after: fc.subarray(range(i)),
          follow: i === 0 ? fc.constant(undefined) : fc.option(fc.integer({ min: 0, max: i - 1 }), { nil: undefined }),
          fails: fc.boolean()
        })
      ))
    )
    await fc.assert(
      fc.asyncProperty(graph, async (tasks) => {
        const outcomes = await withClient({ engines: 3 }, (client) =>
          Effect.gen(function*() {
            const lview = yield* client.loadBalanced({ scheduler: "random" })
            const results: Array<AsyncResult.AsyncResult<number, unknown>> = []
            for (const spec of tasks) {
              const view = lview.with({ after: spec.after.map((j) => results[j]!), follow: spec.follow === undefined ? undefined : results[spec.follow]! })
              results.push(yield* view.apply((fail: boolean) => {
                if (fail) throw new Error("planned")
                return 1
              }, spec.fails))
            }
            return yield* Effect.forEach(results, (r) => Effect.map(Effect.exit(r), (exit) => exit._tag === "Success" ? "ok" : (exit.cause as any).reasons[0].error._tag))
          }))
        const expected: Array<string> = []
        tasks.forEach((spec, i) => {
          const deps = [...spec.after, ...(spec.follow === undefined ? [] : [spec.follow])]
          expected[i] = deps.some((j) => expected[j] !== "ok") ? "ImpossibleDependency" : spec.fails ? "RemoteError" : "ok"
        })
        expect(outcomes).toEqual(expected)
      }),
      { numRuns: 30 }
    )
  })

  it("impossible and unmet dependencies fail with their typed errors, never hang", async () => {
    await withClient({ engines: 2 }, (client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced()
        const failed = yield* lview.apply(F.boom, "no")
        const ok = yield* lview.apply(F.square, 3)
        yield* Effect.exit(failed)
        // After a failure, when success is needed.
        const after = yield* Effect.flip(yield* lview.with({ after: failed }).apply(F.square, 1))
        expect(after).toMatchObject({ _tag: "ImpossibleDependency" })
        expect(after.message).toMatch(/apply failed, and the dependency needs it to succeed/)
        // A failure-only dependency is met by the failure, and impossible after a success.
        expect(yield* yield* lview.with({ after: Dependency.make(failed, { success: false, failure: true }) }).apply(F.square, 2)).toBe(4)
        const onSuccess = yield* Effect.flip(yield* lview.with({ after: Dependency.make(ok, { success: false, failure: true }) }).apply(F.square, 2))
        expect(onSuccess._tag).toBe("ImpossibleDependency")
        // `any`: one success is enough.
        expect(yield* yield* lview.with({ after: Dependency.make([failed, ok], { all: false }) }).apply(F.square, 5)).toBe(25)
        // Following tasks that ran on different engines.
        const on0 = yield* (yield* client.loadBalanced({ targets: 0 })).apply(F.square, 1)
        const on1 = yield* (yield* client.loadBalanced({ targets: 1 })).apply(F.square, 1)
        yield* Effect.all([on0, on1])
        const split = yield* Effect.flip(yield* lview.with({ follow: [on0, on1] }).apply(F.square, 1))
        expect(split).toMatchObject({ _tag: "ImpossibleDependency" })
        expect(split.message).toMatch(/ran on engines 0, 1/)
        // Following a direct-view operation that ran on every engine.
        const everywhere = yield* (yield* client.view()).apply(F.square, 1)
        expect((yield* Effect.flip(yield* lview.with({ follow: everywhere }).apply(F.square, 1)))._tag).toBe("ImpossibleDependency")
        // Dependencies not met in time.
        const slow = yield* lview.apply(F.busy, 1, 300)
        const late = yield* Effect.flip(yield* lview.with({ after: slow, timeout: "50 millis" }).apply(F.square, 1))
        expect(late).toMatchObject({ _tag: "DependencyTimeout", timeout: 50 })
        yield* slow
        // A chain after an impossible task is impossible too.
        const doomed = yield* lview.with({ after: failed }).apply(F.square, 1)
        const chained = yield* Effect.flip(yield* lview.with({ after: doomed }).apply(F.square, 1))
        expect(chained._tag).toBe("ImpossibleDependency")
      }))
  })
})

describe("engine deaths", () => {
  it("a task whose engine is killed mid-run is resubmitted, and the map's result is still right", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 20, max: 200 }), fc.integer({ min: 1, max: 16 }), fc.boolean(), async (n, chunkSize, ordered) => {
        const flag = new Int32Array(new SharedArrayBuffer(4))
        const out = await withClient({}, (client) =>
          Effect.gen(function*() {
            const lview = yield* client.loadBalanced({ retries: 2 })
            // Halfway through its chunk, the first engine to get here exits its thread (the flag is shared memory).
            const result = yield* lview.map(([x, f]: [number, Int32Array]) => {
              if (x === 10 && Atomics.compareExchange(f, 0, 0, 1) === 0) process.exit(9)
              return x * 2
            }, range(n).map((x) => [x, flag] as [number, Int32Array]), { chunkSize, ordered })
            const values = yield* result
            return { values, attempts: result.metadata().map((m) => m.attempts), status: client.queueStatus() }
          }))
        expect(flag[0]).toBe(1)
        expect(ordered ? out.values : [...out.values].sort((a, b) => a - b)).toEqual(range(n).map((x) => x * 2))
        expect(Math.max(...out.attempts)).toBe(2)
      }),
      { numRuns: 4 }
    )
  })

  it("without retries the task fails with EngineDied, and the engine comes back empty", async () => {
    await withClient({ engines: 2 }, (client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced({ targets: 1 })
        const died = yield* Effect.flip(yield* lview.apply(() => process.exit(3)))
        expect(died).toMatchObject({ _tag: "EngineDied", engine: 1 })
        // The tier restarts it; the scheduler waits for it rather than failing new tasks.
        expect(yield* yield* lview.apply(F.square, 6)).toBe(36)
        expect(client.queueStatus()[1]!.down).toBe(false)
      }))
  })

  it("an engine's death names the engines that shared its worker and went with it", async () => {
    // 4 engines on 2 workers: engines 1 and 3 share worker 1.
    await withClient({ engines: 4 }, (client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced({ targets: 1 })
        const died = yield* Effect.flip(yield* lview.apply(() => process.exit(3)))
        expect(died).toMatchObject({ _tag: "EngineDied", engine: 1 })
        expect(died.message).toMatch(/engines 1, 3 share worker 1/)
        expect(yield* yield* lview.apply(F.square, 7)).toBe(49)
      }))
  })
})
