/**
 * Progress of pool maps, read while they run (`Progress.meter`): it moves during the run — between chunks and
 * inside a chunk that is still running, with no messages — never goes back, and ends exactly at the total; a
 * task's own reports reach the meter's work counter; where workers share no memory it counts replies only.
 * Results stay those of the serial map. No timing is asserted: polls are only more or fewer.
 */
import { Effect, Fiber, Stream } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { ActorSystem, Progress } from "../src/runtime/index.ts"
import { Pool } from "../src/runtime/pool/index.ts"
import { add, reportingSleeps, reportingSteps, sleepySquare, slowSquare } from "./fixtures/tasks.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

interface Seen {
  readonly done: number
  readonly total: number | undefined
  readonly work: number
}

/** Run `effect`, reading `meter` every 2 ms meanwhile; the last reading is taken after it ended. */
const watched = <A, E, R>(meter: Progress.Meter, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const seen: Array<Seen> = []
    const read = Effect.sync(() => void seen.push({ ...meter.snapshot(), work: meter.work() }))
    const poller = yield* Effect.forkChild(Effect.forever(Effect.andThen(read, Effect.sleep(2))))
    const out = yield* effect
    yield* Fiber.interrupt(poller)
    yield* read
    return { out, seen }
  })

/** Never decreasing, ends at `total`, and was strictly between 0 and `total` at least once during the run. */
const expectMoved = (seen: ReadonlyArray<Seen>, total: number) => {
  for (let i = 1; i < seen.length; i++) expect(seen[i]!.done).toBeGreaterThanOrEqual(seen[i - 1]!.done)
  expect(seen.at(-1)).toMatchObject({ done: total, total })
  expect(seen.some((s) => s.done > 0 && s.done < total)).toBe(true)
  expect(seen.every((s) => s.done <= total)).toBe(true)
}

describe("pool map progress", () => {
  it("moves during a multi-chunk map on Threads(2), never back, ending at the total; results as serial", async () => {
    // 200 items of ~2 ms in chunks of 10: 20 chunks, 4 in flight, ~0.2 s on 2 workers.
    const xs = Array.from({ length: 200 }, (_, i) => i - 100)
    const meter = Progress.meter()
    const { out, seen } = await Tiers.run(tiers.threads(2), Effect.flatMap(Pool.make(), (pool) => watched(meter, pool.map(slowSquare, xs, { chunkSize: 10, progress: meter }))))
    expect(out).toEqual(xs.map((x) => x * x))
    expectMoved(seen, 200)
    expect(seen.every((s) => s.total === 200)).toBe(true)
  })

  it("moves inside a chunk still running on Threads(2): one chunk, one reply, yet readings in between", async () => {
    // One chunk of 60 items of ~2 ms: the reply brings all 60 at once, so any reading in between came from the
    // worker's slot.
    const xs = Array.from({ length: 60 }, (_, i) => i)
    const meter = Progress.meter()
    const { out, seen } = await Tiers.run(tiers.threads(2), Effect.flatMap(Pool.make(), (pool) => watched(meter, pool.map(slowSquare, xs, { chunkSize: 60, progress: meter }))))
    expect(out).toEqual(xs.map((x) => x * x))
    expectMoved(seen, 60)
  })

  it("a task's own reports reach the work counter before its reply (Threads(2))", async () => {
    const meter = Progress.meter()
    const { out, seen } = await Tiers.run(tiers.threads(2), Effect.flatMap(Pool.make(), (pool) => watched(meter, pool.map(reportingSteps, [40], { progress: meter }))))
    expect(out).toEqual([40])
    expect(seen.some((s) => s.done === 0 && s.work > 0 && s.work < 40)).toBe(true)
    expect(seen.at(-1)).toMatchObject({ done: 1, total: 1, work: 40 })
  })

  it("starmap and an unsized input: the total is unknown until the input ends, then exact", async () => {
    // A generator has no length: the meter says so (total undefined) while it is read.
    const pairs = function*() {
      for (let i = 0; i < 120; i++) yield [i, 1] as [number, number]
    }
    const meter = Progress.meter()
    const { out, seen } = await Tiers.run(tiers.threads(2), Effect.flatMap(Pool.make(), (pool) => watched(meter, pool.starmap(add, pairs(), { chunkSize: 7, progress: meter }))))
    expect(out).toEqual(Array.from({ length: 120 }, (_, i) => i + 1))
    expect(seen.some((s) => s.total === undefined)).toBe(true)
    expect(seen.at(-1)).toMatchObject({ done: 120, total: 120 })
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.done).toBeGreaterThanOrEqual(seen[i - 1]!.done)
  })

  it.each([["imap", false], ["mapUnordered", true]] as const)("streamed chunks (%s) count the same way, inside a running chunk too", async (_, unordered) => {
    const xs = Array.from({ length: 150 }, (_, i) => i)
    for (const chunkSize of [10, 150]) {
      const meter = Progress.meter()
      const { out, seen } = await Tiers.run(
        tiers.threads(2),
        Effect.flatMap(Pool.make(), (pool) =>
          watched(meter, Stream.runCollect((unordered ? pool.mapUnordered : pool.imap)(slowSquare, xs, { chunkSize, progress: meter }))))
      )
      expect(unordered ? [...out].sort((a, b) => a - b) : out).toEqual(xs.map((x) => x * x))
      // With one chunk of 150, a reading strictly between 0 and 150 came from inside the streamed chunk.
      expectMoved(seen, 150)
    }
  })

  it("moves inside a running chunk on Local too, and the work counter with it", async () => {
    const xs = Array.from({ length: 40 }, (_, i) => i)
    const meter = Progress.meter()
    const { out, seen } = await Tiers.run(tiers.local(), Effect.flatMap(Pool.make(), (pool) => watched(meter, pool.map(sleepySquare, xs, { chunkSize: 40, progress: meter }))))
    expect(out).toEqual(xs.map((x) => x * x))
    expectMoved(seen, 40)
    const work = Progress.meter()
    const reported = await Tiers.run(tiers.local(), Effect.flatMap(Pool.make(), (pool) => watched(work, pool.map(reportingSleeps, [30], { progress: work }))))
    expect(reported.out).toEqual([30])
    expect(reported.seen.some((s) => s.done === 0 && s.work > 0 && s.work < 30)).toBe(true)
  })

  it("counts replies only where workers share no memory (as on Cluster)", async () => {
    // The Local tier, told it shares no memory: no slot is sent, so readings are whole chunks.
    const xs = Array.from({ length: 60 }, (_, i) => i)
    const meter = Progress.meter()
    const { out, seen } = await Tiers.run(
      tiers.local(),
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        return yield* Effect.flatMap(Pool.make(), (pool) => watched(meter, pool.map(sleepySquare, xs, { chunkSize: 10, progress: meter }))).pipe(
          Effect.provideService(ActorSystem.ActorSystem, { ...system, sharedMemory: false })
        )
      })
    )
    expect(out).toEqual(xs.map((x) => x * x))
    expectMoved(seen, 60)
    expect(seen.every((s) => s.done % 10 === 0)).toBe(true)
  })
})
