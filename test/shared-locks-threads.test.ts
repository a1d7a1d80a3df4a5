/**
 * Shared locks on the Threads tier's own workers (actors, not hand-made workers): a timed acquire fails with
 * `LockTimeout`, in a worker (blocking and Effect forms) and on the main thread (without blocking it); a worker
 * that dies holding the lock makes every waiter fail with `LockOwnerDied` promptly — no deadlock — and the
 * tier restarts the worker; main and workers share one lock exactly.
 */
import { Cause, Effect, Exit, Fiber } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { ActorSystem, Retry } from "../src/runtime/index.ts"
import { AtomicCounter, Mutex, SharedArray } from "../src/runtime/shared/index.ts"
import { LockHolder } from "./fixtures/LockHolder.ts"
import * as Tiers from "./support/tiers.ts"
import { RaceCounter } from "../src/actors/race/RaceCounter.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

const failure = <A, E>(exit: Exit.Exit<A, E>): unknown => (Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined)

/** Holders pinned to workers 0, 1, 2. */
const holders = Effect.forEach([0, 1, 2], (worker) => ActorSystem.spawn(LockHolder, {}, { worker }))

/** Resolves once a worker raised the flag, without blocking the event loop. */
const raised = (flag: Int32Array<SharedArrayBuffer>) =>
  Effect.promise(async () => {
    while (Atomics.load(flag, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 1))
  })

describe("LockTimeout on Threads workers", () => {
  it("while one worker holds the lock: the other's Effect and blocking forms, and main's withLock, time out typed", async () => {
    const m = Mutex.make({ name: "busy" })
    const flag = SharedArray.make("Int32", 1)
    const result = await Tiers.run(
      tiers.threads(3),
      Effect.gen(function*() {
        const [a, b] = yield* holders
        const held = yield* Effect.forkChild(a!.ask("hold", { mutex: m.handle, flag: SharedArray.handle(flag), ms: 400 }))
        yield* raised(flag)
        let ticks = 0
        const timer = setInterval(() => ticks++, 5)
        const onMain = yield* Effect.exit(Mutex.withLock(m, Effect.void, { timeout: "60 millis" }))
        clearInterval(timer)
        const inWorker = yield* Effect.exit(b!.ask("withLock", { mutex: m.handle, timeoutMs: 50 }))
        const blocking = yield* b!.ask("lockTimeout", { mutex: m.handle, timeoutMs: 50 })
        yield* Fiber.join(held).pipe(Effect.orDie)
        const after = yield* b!.ask("withLock", { mutex: m.handle, timeoutMs: 1000 })
        return { onMain, inWorker, blocking, after, ticks }
      })
    )
    expect(failure(result.onMain)).toBeInstanceOf(Mutex.LockTimeout)
    expect(failure(result.onMain)).toMatchObject({ lock: "busy", timeoutMillis: 60 })
    // The main thread waited with waitAsync: its event loop kept ticking meanwhile.
    expect(result.ticks).toBeGreaterThan(3)
    expect(failure(result.inWorker)).toBeInstanceOf(Mutex.LockTimeout)
    expect(failure(result.inWorker)).toMatchObject({ _tag: "LockTimeout", lock: "busy", timeoutMillis: 50 })
    expect(result.blocking).toBe("timed-out")
    expect(result.after).toBe("ran")
    expect(m.owner()).toBeUndefined()
  })
})

describe("a worker dying while holding the lock", () => {
  const HOLD_MS = 250

  it("does not deadlock the others: blocked workers, waiting fibers and main fail with LockOwnerDied, promptly", async () => {
    const tier = tiers.threads(3, { backoffMs: 10 })
    const m = Mutex.make({ name: "orphaned" })
    const flag = SharedArray.make("Int32", 1)
    const out = await Tiers.run(
      tier,
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const restartsBefore = system.restarts()
        const [victim, b, c] = yield* holders
        const victimSlot = yield* victim!.ask("slot", undefined)
        const died = yield* Effect.forkChild(Effect.exit(victim!.ask("holdAndDie", { mutex: m.handle, flag: SharedArray.handle(flag), ms: HOLD_MS })))
        yield* raised(flag)
        const ownerWhileHeld = m.owner()
        // Every waiter is waiting (or about to) when the owner dies; none has a timeout that could end it.
        const started = performance.now()
        const waiters = yield* Effect.all([
          Effect.exit(b!.ask("lock", m.handle)),
          Effect.exit(c!.ask("withLock", { mutex: m.handle, timeoutMs: 30_000 })),
          Effect.exit(Mutex.withLock(m, Effect.void, { timeout: "30 seconds" }))
        ], { concurrency: "unbounded" })
        const waited = performance.now() - started
        const victimExit = yield* Fiber.join(died)
        // Not stolen: it stays the dead owner's until someone recovers it.
        const ownerAfter = m.owner()
        const recovered = m.recover()
        m.unlock()
        const afterRecovery = yield* b!.ask("withLock", { mutex: m.handle, timeoutMs: 1000 })
        // The tier restarted the dead worker; its actor is back under the same address and can lock.
        const restartedSlot = yield* Retry.onWorkerDeath(victim!.ask("slot", undefined), { times: 10 })
        const restartedLocks = yield* victim!.ask("withLock", { mutex: m.handle, timeoutMs: 1000 })
        return {
          victimSlot, ownerWhileHeld, waiters, waited, victimExit, ownerAfter, recovered, afterRecovery,
          restarts: system.restarts() - restartsBefore, restartedSlot, restartedLocks
        }
      })
    )
    console.info(`LockOwnerDied on Threads workers: the owner died ~${HOLD_MS} ms in; all 3 waiters failed after ${out.waited.toFixed(0)} ms`)
    expect(out.ownerWhileHeld).toBe(out.victimSlot)
    expect(failure(out.victimExit)).toMatchObject({ _tag: "WorkerDied" })
    for (const exit of out.waiters as ReadonlyArray<Exit.Exit<unknown, unknown>>) {
      expect(failure(exit)).toBeInstanceOf(Mutex.LockOwnerDied)
      expect(failure(exit)).toMatchObject({ lock: "orphaned", ownerSlot: out.victimSlot })
    }
    // They really waited for the owner (asleep, not failing at once), and failed soon after its death.
    expect(out.waited).toBeGreaterThan(HOLD_MS / 2)
    expect(out.waited).toBeLessThan(HOLD_MS + 5_000) // generous: rules out a hang on a loaded machine
    expect(out.ownerAfter).toBe(out.victimSlot)
    expect(out.recovered).toBe(true)
    expect(out.afterRecovery).toBe("ran")
    expect(out.restarts).toBe(1)
    expect(out.restartedSlot).not.toBe(out.victimSlot)
    expect(out.restartedLocks).toBe("ran")
  })
})

describe("one lock shared by main and workers", () => {
  it("main's withLock increments and the workers' locked increments add up exactly", async () => {
    const counter = AtomicCounter.make()
    const m = Mutex.make({ name: "mixed" })
    const k = 200_000
    const onMain = 2_000
    await Tiers.run(
      tiers.threads(3),
      Effect.gen(function*() {
        const racers = yield* ActorSystem.spawnMany(RaceCounter, 2, () => ({}))
        yield* Effect.all([
          Effect.forEach(racers, (racer) =>
            racer.ask("run", { guard: "locked", counter: counter.handle, mutex: m.handle, start: null, increments: k }), {
            concurrency: "unbounded"
          }),
          Effect.repeat(
            Mutex.withLock(m, Effect.sync(() => counter.cell[0]!++)),
            { times: onMain - 1 }
          )
        ], { concurrency: "unbounded" })
      })
    )
    expect(counter.get()).toBe(2 * k + onMain)
    expect(m.owner()).toBeUndefined()
  })
})
