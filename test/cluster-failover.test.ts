/**
 * Failures on the Cluster tier (2 runner processes × 1 thread): a runner SIGKILLed in the middle of a run.
 * Idempotent work is resent and still equals serial (π on pinned samplers once the runner is back, as the
 * launcher restarts it; a pool map on the survivor at once); actors placed by shard move to the survivor and
 * answer again (their spawner starts them again from their init parameters); an ask pinned to the dead runner
 * fails typed instead of waiting; the runner that comes back rejoins. Recovery times are printed, not asserted.
 */
import { Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { countHits } from "../src/actors/pi/kernel.ts"
import * as Modes from "../src/programs/pi/modes.ts"
import { ActorError, ActorSystem } from "../src/runtime/index.ts"
import { Pool } from "../src/runtime/pool/index.ts"
import { WideCounter } from "../src/runtime/shared/index.ts"
import { Echo } from "./fixtures/Echo.ts"
import { sleepBusy } from "./fixtures/tasks.ts"
import * as TestCluster from "./support/cluster.ts"

const { cluster, run } = TestCluster.use({ runners: 2, threads: 1 })
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(2)

/** SIGKILL slot `slot`'s runner, and wait until this client sees it down. */
const kill = (slot: number) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem.ActorSystem
    const runner = cluster().started.runners()[slot]!
    runner.kill()
    while (!runner.exited() || system.isUp(slot)) yield* Effect.sleep("50 millis")
    return performance.now()
  })

/** Start slot `slot`'s runner again and wait until this client sees it up. */
const restart = (slot: number) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem.ActorSystem
    yield* Effect.orDie(cluster().started.restart(slot))
    yield* system.awaitUp(slot)
  })

describe("a runner SIGKILLed mid-run", () => {
  it("π on pinned samplers still equals serial, once the runner is back", () =>
    run(Effect.gen(function*() {
      // Runners are other processes: progress counts replies (no shared counter across processes).
      const params = { samples: 20_000_000, seed: 11, chunk: 100_000, progress: WideCounter.make(), progressInside: false }
      const computing = yield* Effect.forkChild(Modes.actors(params))
      while (params.progress.get() === 0) yield* Effect.sleep("20 millis")
      const killedAt = yield* kill(1)
      const doneBefore = params.progress.get()
      yield* restart(1)
      console.log(`π: runner 1 back ${seconds(killedAt)} s after SIGKILL`)
      const hits = yield* Fiber.join(computing)
      console.log(`π: done ${seconds(killedAt)} s after SIGKILL (${doneBefore} of 2e7 samples counted before it)`)
      expect(doneBefore).toBeGreaterThan(0)
      expect(doneBefore).toBeLessThan(params.samples)
      expect(hits).toBe(countHits(11, 0, params.samples))
      expect((yield* ActorSystem.ActorSystem).restarts()).toBeGreaterThanOrEqual(1)
    })), 120_000)

  it("a pool map goes on on the survivor and equals Array.map", () =>
    run(Effect.gen(function*() {
      const pool = yield* Pool.make()
      const items = Array.from({ length: 120 }, (_, i) => 10 + (i % 5))
      const mapping = yield* Effect.forkChild(pool.map(sleepBusy, items, { chunkSize: 4 }))
      yield* Effect.sleep("300 millis")
      const killedAt = yield* kill(0)
      const out = yield* Fiber.join(mapping)
      console.log(`pool: map done ${seconds(killedAt)} s after SIGKILL, on the survivor`)
      expect(out).toEqual(items)
      yield* restart(0)
    })), 120_000)

  it("actors placed by shard answer again from the survivor; pinned asks to the dead runner fail typed", () =>
    run(Effect.gen(function*() {
      const placed = yield* Effect.forEach(Array.from({ length: 8 }, (_, i) => i), (i) => ActorSystem.spawn(Echo, { prefix: `p${i}:` }))
      for (const ref of placed) yield* ref.tell("bump", 1)
      const pinned = yield* ActorSystem.spawn(Echo, { prefix: "pinned:" }, { worker: 1 })
      expect(yield* pinned.ask("echo", "up")).toBe("pinned:up")

      const killedAt = yield* kill(1)
      const error = yield* Effect.flip(pinned.ask("echo", "down?"))
      console.log(`pinned ask to the dead runner failed after ${seconds(killedAt)} s: ${error._tag}`)
      expect(ActorError.isWorkerDied(error)).toBe(true)

      const replies = yield* Effect.forEach(placed, (ref, i) => ref.ask("echo", `${i}`), { concurrency: "unbounded" })
      console.log(`shard failover: all 8 actors placed by shard answered ${seconds(killedAt)} s after SIGKILL`)
      expect(replies).toEqual(placed.map((_, i) => `p${i}:${i}`))
      // Those that lived on the dead runner started again from their init parameters; the others kept their state.
      const counts = yield* Effect.forEach(placed, (ref) => ref.ask("count", undefined))
      expect(counts.every((c) => c === 0 || c === 1)).toBe(true)
      expect(counts.some((c) => c === 0)).toBe(true)

      yield* restart(1)
      // Sent as soon as the runner is up, while its spawner is still starting the actor there again: the tell
      // waits for the actor (it used to be dropped), and the fresh actor counts it.
      yield* pinned.tell("bump", 1)
      console.log(`runner 1 rejoined ${seconds(killedAt)} s after SIGKILL`)
      expect(yield* pinned.ask("echo", "back")).toBe("pinned:back")
      expect(yield* pinned.ask("count", undefined)).toBe(1)
    })), 120_000)
})
