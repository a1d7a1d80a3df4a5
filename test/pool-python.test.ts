/**
 * `multiprocessing.Pool`, as its users test it, translated: the input, the expected output, the failure. Lazy
 * input of any iterable (async ones too) with bounded read-ahead, an input that raises part-way, starmap, an
 * initializer with initargs, maxtasksperchild and a heap watermark, terminate, per-call timeouts, an elastic
 * size, and exceptions that carry the remote stack and the failing item — on Threads and on Local.
 */
import * as Fs from "node:fs"
import { Effect, Exit, Fiber, Stream } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { ActorSystem } from "../src/runtime/index.ts"
import { Pool } from "../src/runtime/pool/index.ts"
import { add, explode, greet, leak, nap, setUp, square } from "./fixtures/tasks.ts"
import { failureOf } from "./support/exit.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

// Tasks here keep per-thread state (as a Python worker's globals): these threads serve no other test file's pools.
const onBoth = [["Threads", () => tiers.threads(2)], ["Local", () => tiers.local()]] as const
/** Fresh threads for a test that counts initializer runs per thread (earlier pools' runs would count). */
const freshThreads = (key: number) => tiers.threads(2, { restartWindowMs: 30_000 + key })

/** Collects a stream's elements and how it ended. */
const drain = <A, E>(stream: Stream.Stream<A, E>) =>
  Effect.gen(function*() {
    const seen: Array<A> = []
    const exit = yield* Effect.exit(Stream.runForEach(stream, (a) => Effect.sync(() => void seen.push(a))))
    return { seen, exit }
  })

describe.each(onBoth)("Pool on %s, as multiprocessing users test it", (_name, tier) => {
  it("imap / imap_unordered / map over a generator, and over an async generator", async () => {
    async function* slowly(n: number) {
      for (let i = 0; i < n; i++) {
        if (i % 7 === 0) await new Promise((resolve) => setTimeout(resolve, 1))
        yield i
      }
    }
    const out = await Tiers.run(
      tier(),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        return {
          imap: Array.from(yield* Stream.runCollect(pool.imap(square, (function*() {
            for (let i = 0; i < 50; i++) yield i
          })()))),
          unordered: Array.from(yield* Stream.runCollect(pool.mapUnordered(square, slowly(50), { chunkSize: 3 }))),
          map: yield* pool.map(square, slowly(200))
        }
      })
    )
    const squares = (n: number) => Array.from({ length: n }, (_, i) => i * i)
    expect(out.imap).toEqual(squares(50))
    expect([...out.unordered].sort((a, b) => a - b)).toEqual(squares(50))
    expect(out.map).toEqual(squares(200))
  })

  it("reads an endless async generator only a bounded way ahead (CPython's buffersize)", async () => {
    let read = 0
    async function* naturals() {
      for (let i = 0;; i++) {
        read++
        yield i
      }
    }
    const first = await Tiers.run(
      tier(),
      Effect.flatMap(Pool.make(), (pool) => Stream.runCollect(Stream.take(pool.imap(square, naturals(), { chunkSize: 5, inFlight: 2 }), 20)))
    )
    expect(Array.from(first)).toEqual(Array.from({ length: 20 }, (_, i) => i * i))
    // 20 taken, 2 chunks of 5 in flight, one being filled, a stream buffer: tens, never the endless rest.
    expect(read).toBeGreaterThanOrEqual(20)
    expect(read).toBeLessThanOrEqual(60)
  })

  it("an input that raises part-way: every result before it, then the error", async () => {
    function* faulty() {
      for (let i = 0; i < 23; i++) yield i
      throw new TypeError("the input broke")
    }
    const out = await Tiers.run(
      tier(),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        return {
          ordered: yield* drain(pool.imap(square, faulty(), { chunkSize: 4 })),
          unordered: yield* drain(pool.mapUnordered(square, faulty(), { chunkSize: 4 })),
          map: yield* Effect.exit(pool.map(square, faulty(), { chunkSize: 5 }))
        }
      })
    )
    const want = Array.from({ length: 23 }, (_, i) => i * i)
    expect(out.ordered.seen).toEqual(want)
    expect(failureOf(out.ordered.exit)).toMatchObject({ _tag: "InputFailed", read: 23, detail: "TypeError: the input broke" })
    expect([...out.unordered.seen].sort((a, b) => a - b)).toEqual(want)
    expect(failureOf(out.unordered.exit)).toMatchObject({ _tag: "InputFailed", read: 23 })
    expect(failureOf(out.map)).toMatchObject({ _tag: "InputFailed", read: 23, results: want })
  })

  it("starmap and starmap_async call a task of several arguments with each tuple", async () => {
    const out = await Tiers.run(
      tier(),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        const handle = yield* pool.starmapAsync(add, [[10, 1], [20, 2]])
        return { sync: yield* pool.starmap(add, [[1, 2], [3, 4], [5, 6]]), async: yield* handle.join }
      })
    )
    expect(out).toEqual({ sync: [3, 7, 11], async: [11, 22] })
  })

  it("initializer(*initargs) runs once per worker, before its first task", async () => {
    const out = await Tiers.run(
      _name === "Threads" ? freshThreads(1) : tier(),
      Effect.flatMap(Pool.make({ initializer: setUp, initargs: { greeting: "hello" } }), (pool) =>
        pool.map(greet, Array.from({ length: 40 }, (_, i) => i), { chunkSize: 1 }))
    )
    expect(out.map((g) => g.text)).toEqual(Array.from({ length: 40 }, (_, i) => `hello ${i}`))
    // Each thread ran the initializer exactly once (a worker thread is fresh; Local has one runner).
    for (const g of out) expect(g.initialised).toBe(_name === "Threads" ? 1 : g.initialised)
    expect(new Set(out.map((g) => g.initialised)).size).toBe(1)
  })

  it("a task that raises: the error carries its name, message, the remote stack and the failing item", async () => {
    const exit = await Tiers.run(tier(), Effect.exit(Effect.flatMap(Pool.make(), (pool) => pool.map(explode, Array.from({ length: 30 }, (_, i) => i), { chunkSize: 4 }))))
    const failure = failureOf(exit) as Pool.TaskThrew
    expect(failure).toMatchObject({ _tag: "TaskThrew", task: "explode", index: 13, input: 13, error: "RangeError", detail: "13 is unlucky" })
    expect(failure.stack).toMatch(/explodeOn13/)
    // Mapped to the source: the fixture's file and the line of the throw (not a worker bundle's).
    const line = Fs.readFileSync(new URL("./fixtures/tasks.ts", import.meta.url), "utf8").split("\n").findIndex((l) => l.includes("13 is unlucky")) + 1
    expect(failure.stack).toContain(`fixtures/tasks.ts:${line}:`)
    expect(failure.message).toMatch(/threw on item 13 \(13\): RangeError: 13 is unlucky/)
  })

  it("a per-call timeout fails the call with PoolTimeout and stops its work; the pool goes on", async () => {
    const out = await Tiers.run(
      tier(),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        const timedOut = yield* Effect.exit(pool.map(nap, [10, 60_000, 10], { chunkSize: 1, timeout: "300 millis" }))
        const applied = yield* Effect.exit(pool.apply(nap, 60_000, { timeout: "200 millis" }))
        const stream = yield* drain(pool.imap(nap, [5, 60_000], { chunkSize: 1, timeout: "200 millis" }))
        return { timedOut, applied, stream, after: yield* pool.map(square, [1, 2, 3]) }
      })
    )
    expect(failureOf(out.timedOut)).toMatchObject({ _tag: "PoolTimeout", operation: "map", ms: 300 })
    expect(failureOf(out.applied)).toMatchObject({ _tag: "PoolTimeout", ms: 200 })
    expect(out.stream.seen).toEqual([5])
    expect(failureOf(out.stream.exit)).toMatchObject({ _tag: "PoolTimeout" })
    expect(out.after).toEqual([1, 4, 9])
  })

  it("terminate() stops now: outstanding work and later calls fail with PoolTerminated", async () => {
    const out = await Tiers.run(
      tier(),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        const running = yield* pool.mapAsync(nap, Array.from({ length: 8 }, () => 5_000), { chunkSize: 1 })
        const streaming = yield* Effect.forkChild(Effect.exit(Stream.runDrain(pool.imap(nap, [5_000, 5_000]))))
        yield* Effect.sleep("100 millis")
        yield* pool.terminate
        return {
          joined: yield* Effect.exit(running.join),
          streamed: yield* Fiber.join(streaming),
          later: yield* Effect.exit(pool.map(square, [1])),
          stats: pool.stats()
        }
      }).pipe(Effect.timeout("20 seconds"))
    )
    expect(failureOf(out.joined)).toMatchObject({ _tag: "PoolTerminated" })
    expect(failureOf(out.streamed)).toMatchObject({ _tag: "PoolTerminated" })
    expect(failureOf(out.later)).toMatchObject({ _tag: "PoolTerminated" })
    expect(out.stats.runners).toBe(0)
  })

  it("maxtasksperchild: a worker takes at most N tasks, then a fresh one (initializer again) takes over", async () => {
    const out = await Tiers.run(
      _name === "Threads" ? freshThreads(2) : tier(),
      Effect.gen(function*() {
        const pool = yield* Pool.make({ initializer: setUp, initargs: { greeting: "hi" }, maxTasksPerWorker: 3 })
        const results = yield* pool.map(greet, Array.from({ length: 24 }, (_, i) => i), { chunkSize: 1 })
        return { results, stats: pool.stats() }
      })
    )
    expect(out.results.map((g) => g.text)).toEqual(Array.from({ length: 24 }, (_, i) => `hi ${i}`))
    // No worker (thread, or runner on Local) served more than 3 tasks since its initializer ran.
    expect(Math.max(...out.results.map((g) => g.served))).toBeLessThanOrEqual(3)
    expect(out.stats.recycled).toBeGreaterThanOrEqual(24 / 3 - 2)
    if (_name === "Threads") {
      // A fresh thread each time: more threads served than the pool ever had at once, each initialised once.
      expect(new Set(out.results.map((g) => g.thread)).size).toBeGreaterThanOrEqual(24 / 3)
      expect(out.results.every((g) => g.initialised === 1)).toBe(true)
    } else {
      // Local cannot replace its thread: the runner is replaced, and the initializer runs again.
      expect(Math.max(...out.results.map((g) => g.initialised))).toBeGreaterThanOrEqual(24 / 3)
    }
  })

  it("an elastic pool starts small, grows while busy up to maxWorkers, and shrinks back when idle", async () => {
    const out = await Tiers.run(
      tier(),
      Effect.gen(function*() {
        const pool = yield* Pool.make({ minWorkers: 1, maxWorkers: 3, idleTimeout: "150 millis" })
        const atStart = pool.stats().runners
        const results = yield* pool.map(nap, [100, 100, 100, 100, 100, 100], { chunkSize: 1 })
        const busy = pool.stats()
        // Idle now: back to one runner (bounded wait; the reaper looks every 75 ms).
        yield* Effect.repeat(Effect.sleep("50 millis"), { until: () => pool.stats().runners === 1 }).pipe(Effect.timeout("10 seconds"))
        return { atStart, results, busy, after: pool.stats() }
      })
    )
    expect(out.atStart).toBe(1)
    expect(out.results).toEqual([100, 100, 100, 100, 100, 100])
    expect(out.busy.peak).toBe(3)
    expect(out.after.runners).toBe(1)
  })
})

describe("Pool on Threads: recycling by heap", () => {
  it("a worker whose heap passed the watermark is replaced between tasks", async () => {
    const out = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const before = system.restarts()
        const pool = yield* Pool.make({ maxHeapMb: 40 })
        // Each task keeps 16 MB alive on its thread: a thread passes 40 MB after a few, and is replaced.
        const threads = yield* pool.map(leak, Array.from({ length: 16 }, () => 16), { chunkSize: 1, inFlight: 2 })
        return { threads, stats: pool.stats(), restarts: system.restarts() - before }
      })
    )
    expect(out.stats.recycled).toBeGreaterThanOrEqual(2)
    expect(new Set(out.threads).size).toBeGreaterThan(2)
    expect(out.restarts).toBe(0) // recycled, not crashed
  })
})

describe("Pool on Local: recycling a worker that cannot be replaced", () => {
  it("replaces the runner instead, and says so", async () => {
    const exit = await Tiers.run(tiers.local(), Effect.exit(Effect.flatMap(Pool.make({ maxTasksPerWorker: 2 }), (pool) =>
      Effect.map(pool.map(square, [1, 2, 3, 4, 5], { chunkSize: 1 }), (out) => ({ out, stats: pool.stats() })))))
    expect(Exit.isSuccess(exit)).toBe(true)
    if (Exit.isSuccess(exit)) {
      expect(exit.value.out).toEqual([1, 4, 9, 16, 25])
      expect(exit.value.stats.recycled).toBeGreaterThanOrEqual(1)
    }
  })
})
