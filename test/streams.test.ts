/**
 * Stream messages (`Actor.stream`): what the producer makes reaches the consumer exactly, in order, whatever the
 * consumer's pace; the producer runs no further ahead than the message's buffer; a consumer that stops stops
 * the producer inside the worker; a typed failure arrives typed. On the Local tier and on worker threads.
 */
import { Effect, Exit, Fiber, Stream } from "effect"
import * as fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { ActorSystem } from "../src/runtime/index.ts"
import { BUFFER, FINALIZED, PRODUCED, Streamer } from "./fixtures/Streamer.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

const both = [["Local", () => tiers.local()], ["Threads(2)", () => tiers.threads(2)]] as const

/** A consumer's pace: for each element, how many times it yields (0 = as fast as it can) before the next. */
const paced = <A, E>(stream: Stream.Stream<A, E>, pace: ReadonlyArray<number>) =>
  Stream.mapEffect(Stream.zipWithIndex(stream), ([a, i]) =>
    Effect.gen(function*() {
      const yields = pace.length === 0 ? 0 : pace[i % pace.length]!
      for (let k = 0; k < yields; k++) yield* Effect.yieldNow
      // Now and then a real pause, long enough for the producer to run ahead if it were allowed to.
      if (yields === 5) yield* Effect.sleep("1 millis")
      return a
    }))

describe.each(both)("stream messages on %s", (_, tier) => {
  it("deliver exactly the produced elements, in order, for any sequence, chunking and consumer pace", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer(), { maxLength: 60 }),
        fc.integer({ min: 1, max: 9 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 8 }),
        async (items, chunk, fail, pace) => {
          const exit = await Tiers.run(
            tier(),
            Effect.gen(function*() {
              const streamer = yield* ActorSystem.spawn(Streamer, {}, { worker: 1 })
              const seen: Array<number> = []
              const run = yield* Effect.exit(
                Stream.runForEach(paced(streamer.stream("emit", { items, chunk, fail }), pace), (n) => Effect.sync(() => seen.push(n)))
              )
              return { seen, run }
            })
          )
          expect(exit.seen).toEqual(items)
          if (fail) {
            expect(Exit.isFailure(exit.run)).toBe(true)
            if (Exit.isFailure(exit.run)) expect(exit.run.cause.reasons[0]).toMatchObject({ _tag: "Fail", error: { _tag: "Stopped", after: items.length } })
          } else {
            expect(Exit.isSuccess(exit.run)).toBe(true)
          }
        }
      ),
      { numRuns: 25 }
    ))

  it("keep the producer at most its buffer ahead of a slow consumer (counted, not timed)", async () => {
    const ahead = await Tiers.run(
      tier(),
      Effect.gen(function*() {
        const streamer = yield* ActorSystem.spawn(Streamer, {}, { worker: 1 })
        const cell = new SharedArrayBuffer(8)
        const counts = new Int32Array(cell)
        let consumed = 0
        let most = 0
        yield* Stream.runForEach(Stream.take(streamer.stream("endless", { cell }), 60), () =>
          Effect.gen(function*() {
            consumed++
            most = Math.max(most, Atomics.load(counts, PRODUCED) - consumed)
            // A slow consumer: the producer has all the time it wants to run ahead.
            yield* Effect.sleep("1 millis")
          }))
        return most
      })
    )
    // The buffer, the element a producer holds while it waits for credit, and the one being consumed.
    expect(ahead).toBeLessThanOrEqual(BUFFER + 2)
  })

  it("stop the producer when the consumer stops early or is interrupted: its counter stops moving", async () => {
    const [afterTake, afterInterrupt] = await Tiers.run(
      tier(),
      Effect.gen(function*() {
        const streamer = yield* ActorSystem.spawn(Streamer, {}, { worker: 1 })
        const stops = function*(consume: (stream: Stream.Stream<number, unknown>) => Effect.Effect<unknown, unknown>) {
          const cell = new SharedArrayBuffer(8)
          const counts = new Int32Array(cell)
          yield* consume(streamer.stream("endless", { cell }))
          // A stream holds the mailbox until it ends: the ping is answered only once the producer stopped.
          yield* streamer.ask("ping", undefined)
          const stopped = Atomics.load(counts, PRODUCED)
          yield* Effect.sleep("20 millis")
          return { stopped, later: Atomics.load(counts, PRODUCED), finalized: Atomics.load(counts, FINALIZED) }
        }
        const take = yield* stops((stream) => Stream.runDrain(Stream.take(stream, 10)))
        const interrupt = yield* stops((stream) =>
          Effect.gen(function*() {
            let seen = 0
            const fiber = yield* Effect.forkChild(Stream.runForEach(stream, () => Effect.sync(() => seen++)))
            while (seen < 5) yield* Effect.sleep("1 millis")
            yield* Fiber.interrupt(fiber)
          }))
        return [take, interrupt] as const
      })
    )
    for (const run of [afterTake, afterInterrupt]) {
      expect(run.stopped).toBeGreaterThanOrEqual(5)
      expect(run.later).toBe(run.stopped)
      expect(run.finalized).toBe(1)
    }
  })
})
