/**
 * Micro-benchmarks of the shared-memory primitives, run on a framework worker: uncontended Mutex
 * lock()/unlock() pairs and Atomics.add per second from kernel code, and what the Effect `withLock` costs per use.
 */
import { Effect, Schema } from "effect"
import { Actor } from "../../runtime/index.ts"
import { AtomicCounter, Mutex } from "../../runtime/shared/index.ts"

const Count = Schema.Number.check(Schema.isInt(), Schema.isGreaterThan(0))

/** Uncontended lock()/unlock() pairs per second (after a JIT warm-up). */
export const lockPairsPerSecond = (n: number): number => {
  const m = Mutex.make({ name: "bench" })
  for (let i = 0; i < 1e6; i++) {
    m.lock()
    m.unlock()
  }
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    m.lock()
    m.unlock()
  }
  return n / ((performance.now() - t0) / 1000)
}

/** Uncontended `Atomics.add` (AtomicCounter.add) per second. */
export const atomicAddsPerSecond = (n: number): number => {
  const c = AtomicCounter.make()
  for (let i = 0; i < 1e6; i++) c.add(1)
  const t0 = performance.now()
  for (let i = 0; i < n; i++) c.add(1)
  return n / ((performance.now() - t0) / 1000)
}

/** Microseconds per uncontended `Mutex.withLock(m, effect)`, on this thread. */
export const withLockMicros = (n: number): Effect.Effect<number> =>
  Effect.gen(function*() {
    const m = Mutex.make({ name: "bench" })
    const once = Mutex.withLock(m, Effect.void)
    const loop = (count: number) =>
      Effect.gen(function*() {
        for (let i = 0; i < count; i++) yield* Effect.orDie(once)
      })
    yield* loop(Math.min(n, 20_000))
    const t0 = performance.now()
    yield* loop(n)
    return ((performance.now() - t0) * 1000) / n
  })

export const SharedBench = Actor.make("SharedBench", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    lockPairs: Actor.message({ payload: Count, success: Schema.Number }),
    atomicAdds: Actor.message({ payload: Count, success: Schema.Number }),
    withLock: Actor.message({ payload: Count, success: Schema.Number })
  },
  behaviour: () =>
    Effect.succeed({
      lockPairs: (n) => Effect.sync(() => lockPairsPerSecond(n)),
      atomicAdds: (n) => Effect.sync(() => atomicAddsPerSecond(n)),
      withLock: (n) => withLockMicros(n)
    })
})
