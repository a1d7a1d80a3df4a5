/**
 * Test support: one managed Threads runtime per worker count, built lazily and
 * shared by every case in a file, disposed at the end (so no worker survives).
 */
import { Effect, ManagedRuntime, Scope } from "effect"
import type { WorkerLost } from "../../src/runtime/ActorError.ts"
import type { ActorSystem } from "../../src/runtime/ActorSystem.ts"
import { Local, Threads } from "../../src/runtime/index.ts"

export type Tier = ManagedRuntime.ManagedRuntime<ActorSystem, WorkerLost>

export const make = () => {
  const runtimes = new Map<string, Tier>()
  const threads = (workers: number, options: Threads.Options = {}): Tier => {
    const key = `${workers}:${JSON.stringify(options)}`
    let runtime = runtimes.get(key)
    if (runtime === undefined) {
      runtime = ManagedRuntime.make(Threads.layer({ ...options, workers }))
      runtimes.set(key, runtime)
    }
    return runtime
  }
  const local = (): Tier => {
    let runtime = runtimes.get("local")
    if (runtime === undefined) {
      runtime = ManagedRuntime.make(Local.layer)
      runtimes.set("local", runtime)
    }
    return runtime
  }
  const dispose = async () => {
    for (const runtime of runtimes.values()) await runtime.dispose()
    runtimes.clear()
  }
  return { threads, local, dispose }
}

/** Run a scoped effect on a tier. */
export const run = <A, E>(tier: Tier, effect: Effect.Effect<A, E, ActorSystem | Scope.Scope>): Promise<A> =>
  tier.runPromise(Effect.scoped(effect))
