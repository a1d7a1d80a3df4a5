/**
 * `imap` / `mapUnordered` stream each chunk's results as the worker computes them: a result reaches the consumer
 * while the rest of its chunk is still blocked, every result arrives exactly once (in order for `imap`) whatever
 * the chunking and the consumer's pace, a worker dying mid-chunk costs a resend without duplicates, a slow
 * consumer holds the workers up (bounded results ahead), and a consumer that stops stops the tasks.
 */
import { Effect, Stream } from "effect"
import fc from "fast-check"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { ActorSystem } from "../src/runtime/index.ts"
import { Pool } from "../src/runtime/pool/index.ts"
import { STREAM_BATCH, STREAM_BUFFER } from "../src/runtime/pool/TaskRunner.ts"
import { counted, gated, slowDieOnce } from "./fixtures/streamTasks.ts"
import { square } from "./fixtures/tasks.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

const modes = [["imap", false], ["mapUnordered", true]] as const

const sorted = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)

describe("Pool.imap and mapUnordered stream results", () => {
  it.each(modes)("%s: a chunk's first result arrives while the chunk's other items wait for it", async (_, unordered) => {
    const out = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        expect((yield* ActorSystem.ActorSystem).streams).not.toBe(false)
        const gate = new SharedArrayBuffer(4)
        const cell = new Int32Array(gate)
        const items = Array.from({ length: 6 }, (_, i) => ({ i, gate }))
        const stream = (unordered ? pool.mapUnordered : pool.imap)(gated, items, { chunkSize: 6 })
        return yield* Stream.runCollect(Stream.tap(stream, () =>
          Effect.sync(() => {
            // The first result opens the gate for the items still running in the same chunk; whole-chunk
            // replies would leave them waiting out their 5 s and return 0.
            Atomics.store(cell, 0, 1)
            Atomics.notify(cell, 0)
          })))
      })
    )
    expect(out).toEqual([1, 1, 1, 1, 1, 1])
  })

  it("every result exactly once, in order (imap) or as a multiset (mapUnordered), for any chunking and consumer pace", async () => {
    await fc.assert(
      fc.asyncProperty(
        // Up to 400 items in chunks of up to 48: from one chunk to many, most ending with a shorter last chunk.
        fc.array(fc.integer({ min: -1e6, max: 1e6 }), { maxLength: 400 }),
        fc.option(fc.integer({ min: 1, max: 48 }), { nil: undefined }),
        fc.integer({ min: 1, max: 6 }),
        // The consumer yields after every `pace`th result (1: after each), letting producers run ahead.
        fc.integer({ min: 1, max: 50 }),
        fc.boolean(),
        async (xs, chunkSize, inFlight, pace, local) => {
          const [ordered, unordered] = await Tiers.run(
            local ? tiers.local() : tiers.threads(2),
            Effect.gen(function*() {
              const pool = yield* Pool.make()
              const options = chunkSize === undefined ? { inFlight } : { chunkSize, inFlight }
              const consume = (stream: Stream.Stream<number, unknown>) => {
                let seen = 0
                return Stream.runCollect(Stream.tap(stream, () => (++seen % pace === 0 ? Effect.yieldNow : Effect.void)))
              }
              return [yield* consume(pool.imap(square, xs, options)), yield* consume(pool.mapUnordered(square, xs, options))] as const
            })
          )
          const want = xs.map((x) => x * x)
          expect(ordered).toEqual(want)
          expect(sorted(unordered)).toEqual(sorted(want))
        }
      ),
      { numRuns: 25 }
    )
  })

  it.each(modes)("%s: a worker dying mid-chunk, after some of its results arrived, costs a resend; each result arrives once", async (name, unordered) => {
    const marker = Path.join(Os.tmpdir(), `actorflow-slow-die-once-${name}-${process.pid}`)
    Fs.rmSync(marker, { force: true })
    const xs = [...Array.from({ length: 12 }, (_, i) => i), -1, ...Array.from({ length: 12 }, (_, i) => i + 12)]
    const { beforeDeath, out } = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        let beforeDeath = 0
        const items = xs.map((x) => ({ x, ms: 3, marker }))
        const stream = (unordered ? pool.mapUnordered : pool.imap)(slowDieOnce, items, { chunkSize: 25 })
        const out = yield* Stream.runCollect(Stream.tap(stream, () =>
          Effect.sync(() => {
            if (!Fs.existsSync(marker)) beforeDeath++
          })))
        return { out, beforeDeath }
      })
    )
    const died = Fs.existsSync(marker)
    Fs.rmSync(marker, { force: true })
    expect(died).toBe(true)
    // Results of the chunk reached the consumer before its worker died: the resend had to skip them.
    expect(beforeDeath).toBeGreaterThan(0)
    const want = xs.map((x) => (x === -1 ? 0 : x + 1))
    expect(unordered ? sorted(out) : out).toEqual(unordered ? sorted(want) : want)
  })

  it.each(modes)("%s: a slow consumer holds the workers up: results computed ahead of it stay bounded", async (_, unordered) => {
    const total = 60_000
    // Unordered, one chunk of everything, so that only the stream's credit can hold its worker up; in order, four
    // chunks one at a time (`inFlight: 1`), the head's results waiting for the consumer in a buffer of one chunk.
    const chunkSize = unordered ? total : 10_000
    const { ahead, out } = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        const counter = new SharedArrayBuffer(4)
        const produced = new Int32Array(counter)
        const items = Array.from({ length: total }, (_, x) => ({ x, ms: 0, counter }))
        let consumed = 0
        let ahead = 0
        const stream = (unordered ? pool.mapUnordered : pool.imap)(counted, items, { chunkSize, inFlight: 1 })
        const out = yield* Stream.runCollect(Stream.tap(stream, () =>
          Effect.gen(function*() {
            consumed++
            // A pause after the first result: unbounded producers would finish all 60k items meanwhile.
            if (consumed === 1) yield* Effect.sleep("40 millis")
            ahead = Math.max(ahead, Atomics.load(produced, 0) - consumed)
          })))
        return { ahead, out }
      })
    )
    expect(out.length).toBe(total)
    // The credit in transit, a batch computed while the worker waits for more, and one batch at the merge (at
    // most the credit); in order, a chunk's buffer on top.
    const bound = (unordered ? 0 : chunkSize) + 2 * STREAM_BUFFER + STREAM_BATCH
    expect(bound).toBeLessThan(total)
    expect(ahead).toBeLessThanOrEqual(bound)
  })

  it.each(modes)("%s: a consumer that stops early stops the tasks in the workers: the shared counter stops moving", async (_, unordered) => {
    const total = 3_000
    const { later, stopped } = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        const counter = new SharedArrayBuffer(4)
        const produced = new Int32Array(counter)
        // 1 ms per item: 1.5 s of work on 2 workers if nothing stopped it.
        const items = Array.from({ length: total }, (_, x) => ({ x, ms: 1, counter }))
        const stream = (unordered ? pool.mapUnordered : pool.imap)(counted, items, { chunkSize: 500 })
        yield* Stream.runDrain(Stream.take(stream, 5))
        // Wait until it stands still (a cancel reaches each worker after its current item) ...
        let stopped = Atomics.load(produced, 0)
        for (let i = 0; i < 100; i++) {
          yield* Effect.sleep("200 millis")
          const now = Atomics.load(produced, 0)
          if (now === stopped) break
          stopped = now
        }
        // ... and stays there.
        yield* Effect.sleep("100 millis")
        return { stopped, later: Atomics.load(produced, 0) }
      })
    )
    expect(stopped).toBeGreaterThanOrEqual(5)
    // Far short of the 3000: each worker stops after the item it was running when the cancel came.
    expect(stopped).toBeLessThan(total / 4)
    expect(later).toBe(stopped)
  })
})
