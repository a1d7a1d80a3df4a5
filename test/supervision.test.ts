/**
 * Failure and interruption with real crashes: a dying worker fails only the
 * messages it held, is restarted, and retried idempotent work still equals
 * serial; interruption stops the work inside the worker; no thread survives.
 */
import { Effect, Fiber } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { countHits } from "../src/actors/pi/kernel.ts"
import * as Modes from "../src/programs/pi/modes.ts"
import { ActorSystem, Retry, Threads } from "../src/runtime/index.ts"
import { WideCounter } from "../src/runtime/shared/index.ts"
import { Echo } from "./fixtures/Echo.ts"
import { failureOf } from "./support/exit.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

describe("a worker that dies", () => {
  it.each(["exit", "oom"] as const)("by %s fails only its own asks with WorkerDied, and is restarted", async (how) => {
    const tier = tiers.threads(2, { resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } })
    const result = await Tiers.run(
      tier,
      Effect.gen(function*() {
        const victim = yield* ActorSystem.spawn(Echo, { prefix: "v:" }, { worker: 0 })
        const bystander = yield* ActorSystem.spawn(Echo, { prefix: "b:" }, { worker: 1 })
        const crash = yield* Effect.exit(victim.ask("crash", how))
        const other = yield* bystander.ask("echo", "still here")
        // The victim's actor comes back under the same address once the worker restarts.
        const again = yield* Retry.onWorkerDeath(victim.ask("echo", "back"), { times: 8 })
        return { crash, other, again }
      }).pipe(Effect.timeout("20 seconds"))
    )
    expect(failureOf(result.crash)).toMatchObject({ _tag: "WorkerDied", worker: 0 })
    expect(result.other).toBe("b:still here")
    expect(result.again).toBe("v:back")
  })

  it("by an uncaught exception is restarted too", async () => {
    const result = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const victim = yield* ActorSystem.spawn(Echo, { prefix: "v:" }, { worker: 1 })
        yield* victim.ask("throwLater", undefined)
        yield* Effect.sleep("100 millis")
        return yield* victim.ask("echo", "back").pipe(
          Effect.catchTag("WorkerDied", () => Effect.flatMap(Effect.sleep("300 millis"), () => victim.ask("echo", "back")))
        )
      })
    )
    expect(result).toBe("v:back")
  })

  it("mid-run does not change the π result: lost chunks are retried", async () => {
    const samples = 100_000_000
    const chunk = 2_000_000
    // Samplers add to it from inside their workers, as they go.
    const progress = WideCounter.make()
    const { atKill, hits, restarts } = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const before = system.restarts()
        const killer = yield* ActorSystem.spawn(Echo, { prefix: "" }, { worker: 0 })
        const run = yield* Effect.forkChild(Modes.actors({ samples, seed: 11, chunk, progress }))
        // Kill once the run is well under way and far from its end: every worker then holds chunks in flight
        // (2 per worker), so the death really loses work that must be retried.
        yield* Effect.repeat(Effect.sleep("5 millis"), { until: () => progress.get() >= 10 * chunk })
        const atKill = progress.get()
        yield* Effect.exit(killer.ask("crash", "exit"))
        const hits = yield* Fiber.join(run)
        return { atKill, hits, restarts: system.restarts() - before }
      })
    )
    expect(restarts).toBe(1)
    expect(samples - atKill).toBeGreaterThan(8 * chunk) // chunks were in flight on both workers at the kill
    // Every chunk was drawn: progress counts samples drawn, so a retried chunk the dead worker had finished but
    // not replied for counts twice there (never in the hits, checked next).
    expect(progress.get()).toBeGreaterThanOrEqual(samples)
    expect(hits).toBe(countHits(11, 0, samples))
  }, 60_000)
})

describe("interruption", () => {
  it("reaches the work inside the worker", async () => {
    const cell = new SharedArrayBuffer(4)
    const counter = new Int32Array(cell)
    const [atInterrupt, later, reply] = await Tiers.run(
      tiers.threads(1),
      Effect.gen(function*() {
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "" })
        const spinning = yield* Effect.forkChild(echo.ask("spinShared", { ms: 60_000, cell }))
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(spinning)
        yield* Effect.sleep("50 millis")
        const atInterrupt = Atomics.load(counter, 0)
        yield* Effect.sleep("300 millis")
        // The mailbox is free again: the next message is handled at once.
        const reply = yield* echo.ask("echo", "free").pipe(Effect.timeout("1 second"))
        return [atInterrupt, Atomics.load(counter, 0), reply] as const
      })
    )
    expect(atInterrupt).toBeGreaterThan(10)
    expect(later).toBe(atInterrupt)
    expect(reply).toBe("free")
  })

  it("of a π run stops its samplers and leaves the pool usable", async () => {
    const hits = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const huge = yield* Effect.forkChild(Modes.actors({ samples: 1e12, seed: 1 }))
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(huge)
        return yield* Modes.actors({ samples: 1_000_000, seed: 2 }).pipe(Effect.timeout("5 seconds"))
      })
    )
    expect(hits).toBe(countHits(2, 0, 1_000_000))
  })

  it("interrupting a whole program mid-computation leaves no worker running", async () => {
    const before = Threads.liveWorkers()
    const fiber = Effect.runFork(
      Effect.scoped(Modes.actors({ samples: 1e12, seed: 4 })).pipe(Effect.provide(Threads.layer({ workers: 2 })))
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(Threads.liveWorkers()).toBe(before + 2)
    const started = performance.now()
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(Threads.liveWorkers()).toBe(before)
    // Generous bound: a cooperative stop takes milliseconds; a hang would take minutes.
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it("closing the scope terminates every worker", async () => {
    const before = Threads.liveWorkers()
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function*() {
          const system = yield* ActorSystem.ActorSystem
          const echo = yield* ActorSystem.spawn(Echo, { prefix: "" })
          yield* echo.ask("echo", "x")
          expect(system.workers).toBe(3)
        }).pipe(Effect.provide(Threads.layer({ workers: 3 })))
      )
    )
    expect(Threads.liveWorkers()).toBe(before)
  })
})

afterAll(async () => {
  await tiers.dispose()
  expect(Threads.liveWorkers()).toBe(0)
})

describe("spawning", () => {
  it("survives the worker dying while the spawn is under way", async () => {
    const replies = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const victim = yield* ActorSystem.spawn(Echo, { prefix: "" }, { worker: 0 })
        // The crash and the spawns go out in the same batch: the spawns meet a dying worker.
        const [, spawned] = yield* Effect.all([
          Effect.exit(victim.ask("crash", "exit")),
          Effect.forEach([0, 0, 0], (w) => ActorSystem.spawn(Echo, { prefix: "s:" }, { worker: w }), { concurrency: "unbounded" })
        ], { concurrency: "unbounded" })
        return yield* Effect.forEach(spawned, (echo) => echo.ask("echo", "ok"))
      })
    )
    expect(replies).toEqual(["s:ok", "s:ok", "s:ok"])
  })
})

describe("recycling a worker", () => {
  it("on Threads replaces its thread: its actors start again from their init parameters, and it is no death", async () => {
    const result = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const before = system.restarts()
        const recycled = yield* ActorSystem.spawn(Echo, { prefix: "r:" }, { worker: 0 })
        const kept = yield* ActorSystem.spawn(Echo, { prefix: "k:" }, { worker: 1 })
        yield* recycled.tell("bump", 5)
        yield* kept.tell("bump", 7)
        const counted = yield* recycled.ask("count", undefined)
        const replaced = yield* system.recycle(0)
        return {
          counted,
          replaced,
          after: yield* recycled.ask("count", undefined),
          echo: yield* recycled.ask("echo", "back"),
          other: yield* kept.ask("count", undefined),
          restarts: system.restarts() - before,
          up: system.isUp(0)
        }
      })
    )
    expect(result.counted).toBe(5)
    expect(result.replaced).toBe(true)
    expect(result.after).toBe(0) // a fresh actor on a fresh thread, same address
    expect(result.echo).toBe("r:back")
    expect(result.other).toBe(7) // the other worker's actors are untouched
    expect(result.restarts).toBe(0)
    expect(result.up).toBe(true)
  })

  it("on Local is a no-op that says so", async () => {
    const result = await Tiers.run(
      tiers.local(),
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "" })
        yield* echo.tell("bump", 3)
        const replaced = yield* system.recycle(0)
        return { replaced, count: yield* echo.ask("count", undefined) }
      })
    )
    expect(result).toEqual({ replaced: false, count: 3 })
  })
})
