/**
 * Pools and processes: `map` equals `Array.map` with order kept for any input
 * and chunking, streams deliver every result exactly once, typed task errors
 * arrive typed, handles can be joined or interrupted, and a pool survives a
 * worker dying mid-map.
 */
import { Chunk, Effect, Exit, Stream } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { Pool, Process } from "../src/runtime/pool/index.ts"
import { ActorSystem } from "../src/runtime/index.ts"
import * as Fs from "node:fs"
import { checkedSqrt, dieOnce, dieOnceMarker, sleepBusy, square } from "./fixtures/tasks.ts"
import { failureOf } from "./support/exit.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

describe("Pool.map", () => {
  it("equals Array.map, in order, for any input, worker count and chunk size", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -1e6, max: 1e6 }), { maxLength: 500 }),
        fc.integer({ min: 1, max: 4 }),
        fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
        async (xs, workers, chunkSize) => {
          const out = await Tiers.run(
            tiers.threads(workers),
            Effect.flatMap(Pool.make(), (pool) => pool.map(square, xs, chunkSize === undefined ? {} : { chunkSize }))
          )
          expect(out).toEqual(xs.map((x) => x * x))
        }
      ),
      { numRuns: 30 }
    )
  })

  it("streams every result exactly once, ordered (imap) or not (mapUnordered)", async () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i)
    const [ordered, unordered] = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        const ordered = yield* Stream.runCollect(pool.imap(square, xs, { chunkSize: 13 }))
        const unordered = yield* Stream.runCollect(pool.mapUnordered(square, xs, { chunkSize: 13 }))
        return [Chunk.toArray(Chunk.fromIterable(ordered)), Chunk.toArray(Chunk.fromIterable(unordered))] as const
      })
    )
    expect(ordered).toEqual(xs.map((x) => x * x))
    expect([...unordered].sort((a, b) => a - b)).toEqual(xs.map((x) => x * x))
  })

  it("is the same on the Local tier", async () => {
    const xs = Array.from({ length: 100 }, (_, i) => i - 50)
    const out = await Tiers.run(tiers.local(), Effect.flatMap(Pool.make(), (pool) => pool.map(square, xs)))
    expect(out).toEqual(xs.map((x) => x * x))
  })

  it("a task's typed error arrives as that error", async () => {
    const exit = await Tiers.run(tiers.threads(2), Effect.exit(Effect.flatMap(Pool.make(), (pool) => pool.map(checkedSqrt, [4, 9, -3, 16]))))
    expect(failureOf(exit)).toMatchObject({ _tag: "Negative", value: -3 })
  })

  it("an item that does not fit the task's input Schema is rejected", async () => {
    const exit = await Tiers.run(tiers.threads(2), Effect.exit(Effect.flatMap(Pool.make(), (pool) => pool.apply(square, "x" as unknown as number))))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(failureOf(exit)).toMatchObject({ _tag: "TaskUnavailable", task: "square" })
  })

  it("a worker dying mid-map costs nothing but a retry: the result is still right", async () => {
    Fs.rmSync(dieOnceMarker(), { force: true })
    const xs = [...Array.from({ length: 200 }, (_, i) => i), -1, ...Array.from({ length: 200 }, (_, i) => i + 200)]
    const { out, restarts } = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const before = system.restarts()
        const pool = yield* Pool.make()
        const out = yield* pool.map(dieOnce, xs, { chunkSize: 10 })
        return { out, restarts: system.restarts() - before }
      })
    )
    Fs.rmSync(dieOnceMarker(), { force: true })
    expect(restarts).toBe(1)
    expect(out).toEqual(xs.map((x) => x + 1))
  })
})

describe("handles and processes", () => {
  it("apply_async and map_async handles can be joined and report progress", async () => {
    const [one, many, progress] = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        const a = yield* pool.applyAsync(square, 7)
        const m = yield* pool.mapAsync(square, [1, 2, 3, 4, 5], { chunkSize: 2 })
        const one = yield* a.join
        const many = yield* m.join
        return [one, many, m.progress()] as const
      })
    )
    expect(one).toBe(49)
    expect(many).toEqual([1, 4, 9, 16, 25])
    expect(progress).toEqual({ done: 3, total: 3 })
  })

  it("an interrupted handle stops, and the pool stays usable", async () => {
    const after = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        const slow = yield* pool.mapAsync(sleepBusy, [200, 200, 200, 200, 200, 200], { chunkSize: 1 })
        yield* Effect.sleep("50 millis")
        yield* slow.interrupt
        expect(yield* slow.ready).toBe(true)
        return yield* pool.map(square, [3])
      })
    )
    expect(after).toEqual([9])
  })

  it("spawn / join runs a task as a process of its own", async () => {
    const results = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const handles = yield* Effect.forEach([2, 3, 4], (x, i) => Process.spawn(square, x, { worker: i }))
        return yield* Effect.forEach(handles, Process.join)
      })
    )
    expect(results).toEqual([4, 9, 16])
  })

  it("reads its input as it goes: imap over an endless generator takes a bounded number of items ahead", async () => {
    let read = 0
    function* naturals() {
      for (let i = 0; ; i++) {
        read++
        yield i
      }
    }
    const first = await Tiers.run(
      tiers.threads(2),
      Effect.flatMap(Pool.make(), (pool) => Stream.runCollect(Stream.take(pool.imap(square, naturals()), 50)))
    )
    expect(first).toEqual(Array.from({ length: 50 }, (_, i) => i * i))
    // Adaptive chunks (1, then growing at most 4x) with 4 in flight: a few chunks past what was taken (~110 here),
    // never the whole input (an eager map would never return).
    expect(read).toBeGreaterThanOrEqual(50)
    expect(read).toBeLessThan(5_000)
  })

  it("a map over a generator equals Array.map over its items, for sizes that make several adaptive chunks", async () => {
    const n = 3_000
    const out = await Tiers.run(
      tiers.threads(2),
      Effect.flatMap(Pool.make(), (pool) => pool.map(square, (function*() {
        for (let i = 0; i < n; i++) yield i - 1500
      })()))
    )
    expect(out).toEqual(Array.from({ length: n }, (_, i) => (i - 1500) ** 2))
  })
})
