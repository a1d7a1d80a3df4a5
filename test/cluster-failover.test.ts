/**
 * Failures on the Cluster tier (2 runner processes × 1 thread): a runner SIGKILLed in the middle of a run.
 * Idempotent work is resent and still equals serial (π on pinned samplers once the runner is back, as the
 * launcher restarts it; a pool map on the survivor at once); actors placed by shard move to the survivor and
 * answer again (their spawner starts them again from their init parameters); an ask pinned to the dead runner
 * fails typed instead of waiting; the runner that comes back rejoins, and is shipped again the code its actors
 * use (from an empty bundle cache, as on a fresh machine); a stream cut by the SIGKILL fails typed without
 * repeating elements. Recovery times are printed, not asserted.
 *
 * Persisted messages (`Actor.Persisted`) run once per key on Effect Cluster's storage: a key is remembered past
 * the actor's own memory, by another client, and across the SIGKILL of the runner running its handler (the
 * message is redelivered to the survivor, the asker gets the reply, a retry does not run it again). Runs are
 * counted in a log file the handler appends to (`fixtures/Ledger.ts`).
 *
 * Runners that lose their shard locks (their Postgres session ended, as under load or a database restart): the
 * asks out on every path settle typed (Effect Cluster answers them with an interrupt, which must not become an
 * interrupt of the asker nor silence), spawns meanwhile are never interrupted, and every actor answers again.
 */
import { Duration, Effect, Exit, Fiber, ManagedRuntime, Stream } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "vitest"
import { countHits } from "../src/actors/pi/kernel.ts"
import * as Modes from "../src/programs/pi/modes.ts"
import { ActorError, ActorSystem } from "../src/runtime/index.ts"
import { Pool } from "../src/runtime/pool/index.ts"
import { WideCounter } from "../src/runtime/shared/index.ts"
import { Echo, Relay } from "./fixtures/Echo.ts"
import { Gate } from "./fixtures/Gate.ts"
import { sleepBusy } from "./fixtures/tasks.ts"
import { Clerk, Ledger, count, starters } from "./fixtures/Ledger.ts"
import { Streamer } from "./fixtures/Streamer.ts"
import * as fns from "./fixtures/engineFns.ts"
import { Client, Remote } from "../src/runtime/engines/index.ts"
import { failureOf } from "./support/exit.ts"
import * as TestCluster from "./support/cluster.ts"
import { countFile } from "./support/countFile.ts"
import * as Cluster from "../src/runtime/Cluster.ts"
import * as Layout from "../src/runtime/internal/Layout.ts"
import * as Retention from "../src/runtime/internal/cluster/Retention.ts"
import * as Transport from "../src/runtime/internal/cluster/Transport.ts"
import { SqlClient } from "effect/sql/SqlClient"

const { cluster, run } = TestCluster.use({ runners: 2, threads: 1 })
const F = Remote.module(new URL("./fixtures/engineFns.ts", import.meta.url).href, fns)
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

describe("a runner that comes back with an empty bundle cache (as on a fresh machine)", () => {
  it("is shipped the code its actors were using again: an engine there applies a shipped function as before", () =>
    run(Effect.gen(function*() {
      const client = yield* Client.make({ engines: 2 })
      const view = yield* client.view()
      expect(yield* yield* view.apply(F.square, 3)).toEqual([9, 9])
      const killedAt = yield* kill(1)
      // The restarted runner (and its threads) keep their bundles in a folder of their own, empty.
      const cache = Fs.mkdtempSync(Path.join(cluster().dir, "fresh-cache-"))
      const before = process.env.ACTORFLOW_CACHE_DIR
      process.env.ACTORFLOW_CACHE_DIR = cache
      yield* Effect.ensuring(restart(1), Effect.sync(() => {
        if (before === undefined) delete process.env.ACTORFLOW_CACHE_DIR
        else process.env.ACTORFLOW_CACHE_DIR = before
      }))
      // The engine there starts again from its init parameters, and the function's module is built there again.
      expect(yield* yield* view.apply(F.square, 4)).toEqual([16, 16])
      console.log(`engines: both answered again ${seconds(killedAt)} s after SIGKILL, one from an empty cache`)
      expect(Fs.readdirSync(Layout.projectCacheIn(cache)).some((name) => name.startsWith("module-engineFns"))).toBe(true)
    })), 120_000)
})

describe("a stream message cut by its runner's SIGKILL", () => {
  it("fails typed once the actor placed by shard has moved, having delivered each element once, in order", () =>
    run(Effect.gen(function*() {
      const { counted, path } = countFile()
      const streamer = yield* ActorSystem.spawn(Streamer, {})
      const got: Array<number> = []
      const consuming = yield* Effect.forkChild(Effect.exit(Stream.runForEach(
        streamer.stream("countingInto", path),
        (n) => Effect.andThen(Effect.sleep("10 millis"), Effect.sync(() => got.push(n)))
      )))
      while (got.length < 5) yield* Effect.sleep("20 millis")
      const slot = cluster().started.runners().findIndex((runner) => runner.pid === counted().pid)
      expect(slot).toBeGreaterThanOrEqual(0)
      const killedAt = yield* kill(slot)
      const exit = yield* Fiber.join(consuming)
      console.log(`stream cut by SIGKILL: failed ${seconds(killedAt)} s after it, ${got.length} elements delivered`)
      const error = failureOf(exit)
      expect(ActorError.isWorkerDied(error)).toBe(true)
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i))
      // The actor answers again from the survivor (started again by its spawner); the runner comes back.
      expect(yield* streamer.ask("ping", undefined)).toBe(1)
      yield* restart(slot)
    })), 120_000)
})

describe("persisted messages", () => {
  /** Asks for 8 other keys: past the `remember: 8` of the actor's own memory, only storage still knows older keys. */
  const overflow = (ledger: { readonly ask: (tag: "charge", order: { id: string; amount: number; ms: number }) => Effect.Effect<unknown, unknown> }, prefix: string) =>
    Effect.forEach(Array.from({ length: 8 }, (_, k) => k), (k) => ledger.ask("charge", { id: `${prefix}${k}`, amount: k, ms: 0 }), { discard: true })

  it("a key runs once, past the actor's memory and from another client; other keys run on their own", () =>
    run(Effect.gen(function*() {
      const log = Path.join(cluster().dir, "ledger-once.log")
      for (const options of [{}, { worker: 1 }]) {
        Fs.rmSync(log, { force: true })
        const ledger = yield* ActorSystem.spawn(Ledger, { log }, options)
        const first = yield* ledger.ask("charge", { id: "a", amount: 5, ms: 0 })
        const both = yield* Effect.all([
          ledger.ask("charge", { id: "b", amount: 1, ms: 300 }),
          ledger.ask("charge", { id: "b", amount: 1, ms: 300 })
        ], { concurrency: "unbounded" })
        const declined = yield* Effect.exit(ledger.ask("charge", { id: "neg", amount: -1, ms: 0 }))
        yield* overflow(ledger, "fill")
        const retry = yield* ledger.ask("charge", { id: "a", amount: 5, ms: 0 })
        const declinedAgain = yield* Effect.exit(ledger.ask("charge", { id: "neg", amount: -1, ms: 0 }))
        // Another client of the cluster, with the address only: Postgres answers it.
        const other = ManagedRuntime.make(Cluster.layer({ file: cluster().started.file }))
        const fromOther = yield* Effect.promise(() =>
          other.runPromise(ActorSystem.ActorSystem.use((system) => system.connect(Ledger, ledger.address).ask("charge", { id: "a", amount: 5, ms: 0 })))
            .finally(() => other.dispose())
        )
        const bad = yield* Effect.exit(ledger.ask("badKey", { id: "k", amount: 3, ms: 0 }))
        // Tells of a persisted message are persisted requests too.
        yield* ledger.tell("charge", { id: "told", amount: 1, ms: 0 })
        yield* ledger.tell("charge", { id: "told", amount: 1, ms: 0 })
        const told = yield* ledger.ask("charge", { id: "told", amount: 1, ms: 0 })

        expect(first).toEqual({ id: "a", charged: 16 })
        expect(retry).toEqual(first)
        expect(fromOther).toEqual(first)
        expect(both).toEqual([{ id: "b", charged: 4 }, { id: "b", charged: 4 }])
        expect(failureOf(declined)).toMatchObject({ _tag: "Declined", id: "neg" })
        expect(failureOf(declinedAgain)).toMatchObject({ _tag: "Declined", id: "neg" })
        expect(ActorError.isMalformedMessage(failureOf(bad))).toBe(true)
        expect(told).toEqual({ id: "told", charged: 4 })
        expect([count(log, "start", "a"), count(log, "start", "b"), count(log, "start", "neg"), count(log, "start", "k"), count(log, "start", "told")])
          .toEqual([1, 1, 1, 0, 1])
        expect(count(log, "start", "fill0")).toBe(1)
      }
    })), 120_000)

  it("from an actor, a key runs once past the ledger's memory, and once with the client's asks", () =>
    run(Effect.gen(function*() {
      const log = Path.join(cluster().dir, "ledger-clerk.log")
      // The clerk on runner 0; the ledger on runner 1, on the clerk's own thread, or placed by shard (either runner).
      const clerk = yield* ActorSystem.spawn(Clerk, {}, { worker: 0 })
      for (const options of [{ worker: 1 }, { worker: 0 }, {}]) {
        Fs.rmSync(log, { force: true })
        const ledger = yield* ActorSystem.spawn(Ledger, { log }, options)
        const first = yield* clerk.ask("charge", { to: ledger.address, order: { id: "c", amount: 2, ms: 0 } })
        expect(first).toEqual({ id: "c", charged: 7 })
        yield* overflow(ledger, "past")
        expect(yield* clerk.ask("charge", { to: ledger.address, order: { id: "c", amount: 2, ms: 0 } })).toEqual(first)
        expect(yield* ledger.ask("charge", { id: "c", amount: 2, ms: 0 })).toEqual(first)
        // And a key the client asked first, which the clerk then asks past the ledger's memory.
        yield* ledger.ask("charge", { id: "d", amount: 1, ms: 0 })
        yield* overflow(ledger, "again")
        expect(yield* clerk.ask("charge", { to: ledger.address, order: { id: "d", amount: 1, ms: 0 } })).toEqual({ id: "d", charged: 4 })
        expect([count(log, "start", "c"), count(log, "start", "d")]).toEqual([1, 1])
      }
    })), 120_000)

  it("a runner SIGKILLed in the handler: the survivor runs it, the asker gets the reply, a retry runs nothing", () =>
    run(Effect.gen(function*() {
      const log = Path.join(cluster().dir, "ledger-kill.log")
      Fs.rmSync(log, { force: true })
      // Placed by shard, so that its shard (and the persisted message) moves to the survivor.
      const ledger = yield* ActorSystem.spawn(Ledger, { log })
      const asking = yield* Effect.forkChild(ledger.ask("charge", { id: "order-1", amount: 4, ms: 1500 }))
      while (count(log, "start", "order-1") === 0) yield* Effect.sleep("20 millis")
      const [pid] = starters(log, "order-1")
      const slot = cluster().started.runners().findIndex((runner) => runner.pid === pid)
      expect(slot).toBeGreaterThanOrEqual(0)
      const killedAt = yield* kill(slot)
      expect(cluster().started.runners()[slot]!.exited()).toBe(true)
      expect(count(log, "done", "order-1")).toBe(0)

      const reply = yield* Fiber.join(asking)
      console.log(`persisted ask answered ${seconds(killedAt)} s after the SIGKILL of the runner running it`)
      expect(reply).toEqual({ id: "order-1", charged: 13 })
      const runs = starters(log, "order-1")
      expect(runs).toHaveLength(2)
      expect(runs[1]).not.toBe(pid)
      expect(count(log, "done", "order-1")).toBe(1)

      // Retries: at once, and once the actor's own memory has forgotten the key; then with the runner back.
      expect(yield* ledger.ask("charge", { id: "order-1", amount: 4, ms: 1500 })).toEqual(reply)
      yield* overflow(ledger, "after")
      yield* restart(slot)
      const exit = yield* Effect.exit(ledger.ask("charge", { id: "order-1", amount: 4, ms: 1500 }))
      expect(exit).toEqual(Exit.succeed(reply))
      expect(starters(log, "order-1")).toHaveLength(2)
    })), 120_000)

  it("a pinned actor's runner SIGKILLed in the handler: the ask fails typed, the restarted runner runs it unasked, a retry gets its reply", () =>
    run(Effect.gen(function*() {
      const log = Path.join(cluster().dir, "ledger-pinned.log")
      Fs.rmSync(log, { force: true })
      const ledger = yield* ActorSystem.spawn(Ledger, { log }, { worker: 1 })
      const asking = yield* Effect.forkChild(Effect.exit(ledger.ask("charge", { id: "order-2", amount: 5, ms: 1500 })))
      while (count(log, "start", "order-2") === 0) yield* Effect.sleep("20 millis")
      const [pid] = starters(log, "order-2")
      expect(pid).toBe(cluster().started.runners()[1]!.pid)
      const killedAt = yield* kill(1)
      const failed = yield* Fiber.join(asking)
      expect(ActorError.isWorkerDied(failureOf(failed))).toBe(true)
      expect(count(log, "done", "order-2")).toBe(0)
      yield* restart(1)
      // Nobody asks again: the restarted runner finds the message in Postgres and runs it.
      const deadline = Date.now() + 20_000
      while (count(log, "done", "order-2") === 0 && Date.now() < deadline) yield* Effect.sleep("50 millis")
      console.log(`pinned persisted message redelivered and done ${seconds(killedAt)} s after the SIGKILL`)
      expect(count(log, "done", "order-2")).toBe(1)
      const reply = yield* ledger.ask("charge", { id: "order-2", amount: 5, ms: 1500 })
      expect(reply).toEqual({ id: "order-2", charged: 16 })
      const runs = starters(log, "order-2")
      expect(runs).toHaveLength(2)
      expect(runs[1]).toBe(cluster().started.runners()[1]!.pid)
      expect(count(log, "done", "order-2")).toBe(1)
    })), 120_000)

  it("past their retention, done requests are forgotten (a key runs again); one still running is kept", () =>
    run(Effect.gen(function*() {
      const log = Path.join(cluster().dir, "ledger-retention.log")
      const ledger = yield* ActorSystem.spawn(Ledger, { log })
      const first = yield* ledger.ask("charge", { id: "done-early", amount: 2, ms: 0 })
      const running = yield* Effect.forkChild(ledger.ask("charge", { id: "running", amount: 3, ms: 3000 }))
      while (count(log, "start", "running") === 0) yield* Effect.sleep("50 millis")
      const sweep = (keep: Duration.Duration) =>
        Retention.sweep(keep).pipe(Effect.provide(Transport.postgres(cluster().started.connection().postgres.url)), Effect.orDie)
      // A week's retention forgets nothing made a moment ago; a millisecond's forgets every done request of actors.
      expect(yield* sweep(Retention.DEFAULT_KEEP)).toBe(0)
      expect(yield* sweep(Duration.millis(1))).toBeGreaterThanOrEqual(1)
      expect(yield* Fiber.join(running)).toEqual({ id: "running", charged: 10 })
      // Past the actor's own memory of its last 8 keys, only storage could still know a key.
      yield* overflow(ledger, "retention-fill")
      expect(yield* ledger.ask("charge", { id: "done-early", amount: 2, ms: 0 })).toEqual(first)
      expect(yield* ledger.ask("charge", { id: "running", amount: 3, ms: 0 })).toEqual({ id: "running", charged: 10 })
      expect([count(log, "start", "done-early"), count(log, "start", "running")]).toEqual([2, 1])
    })), 60_000)
})

/** Ends the Postgres sessions holding shard locks (advisory locks): every runner loses its shards at once. */
const dropShardLocks = (url: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const rows = yield* sql<{ ended: boolean }>`SELECT pg_terminate_backend(pid) AS ended FROM (SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND granted) held`
    return rows.filter((row) => row.ended).length
  }).pipe(Effect.provide(Transport.postgres(url)), Effect.orDie)

describe("runners that lose their shard locks (their Postgres session ends)", () => {
  it("asks out on every path fail typed instead of waiting or interrupting the asker; the actors answer again", () =>
    run(Effect.gen(function*() {
      const gate = yield* ActorSystem.spawn(Gate, {}, { worker: 0 })
      const placed = yield* ActorSystem.spawn(Gate, {})
      const relay = yield* ActorSystem.spawn(Relay, {}, { worker: 1 })
      expect(yield* gate.ask("count", undefined)).toBe(0)
      // Out while the locks go, never to be answered otherwise: a pinned ask (batched path), one to an actor
      // placed by shard, and one from an actor on one runner to an actor on the other.
      const outstanding = yield* Effect.forkChild(Effect.all([
        Effect.exit(gate.ask("await", 1_000_000)),
        Effect.exit(placed.ask("await", 1_000_000)),
        Effect.exit(relay.ask("forwardAwait", { to: gate.address, count: 1_000_000 }))
      ], { concurrency: "unbounded" }))
      yield* Effect.sleep("300 millis")
      const url = JSON.parse(Fs.readFileSync(cluster().started.file, "utf8")).postgres.url as string
      const lostAt = performance.now()
      // The fault happened: both runners' lock sessions were ended.
      expect(yield* dropShardLocks(url)).toBeGreaterThanOrEqual(2)
      // Spawns while the shards go away and come back (one every 200 ms for 3 s): each starts its actor or fails
      // typed, never interrupted.
      const spawns = yield* Effect.forEach(Array.from({ length: 15 }, (_, i) => i), (i) =>
        Effect.andThen(Effect.sleep("200 millis"), Effect.exit(ActorSystem.spawn(Gate, {}, { worker: i % 2 }))))
      for (const exit of spawns) {
        expect(Exit.isFailure(exit) && Exit.hasInterrupts(exit)).toBe(false)
        if (Exit.isFailure(exit)) expect(ActorError.isSpawnFailed(failureOf(exit))).toBe(true)
      }
      const startedCount = spawns.filter(Exit.isSuccess).length
      console.log(`shard locks lost: of 15 spawns in the next 3 s, ${startedCount} started their actor and ${15 - startedCount} failed typed`)
      const exits = yield* Fiber.join(outstanding)
      console.log(`shard locks lost: the asks out settled ${seconds(lostAt)} s later: ${exits.map((exit) => (failureOf(exit) as { _tag?: string })?._tag).join(", ")}`)
      // Typed, each of them (before, the one placed by shard failed its asker with an interrupt of its own fiber).
      for (const exit of exits) {
        expect(Exit.isFailure(exit) && Exit.hasInterrupts(exit)).toBe(false)
        expect(ActorError.isActorError(failureOf(exit))).toBe(true)
      }
      // Once the runners hold their shards again, every actor answers (started again from its init parameters).
      const again = () => Effect.all([gate.ask("count", undefined), placed.ask("count", undefined), relay.ask("forwardAwait", { to: gate.address, count: 0 })])
      let answered = yield* Effect.exit(again())
      while (Exit.isFailure(answered) && performance.now() - lostAt < 60_000) {
        yield* Effect.sleep("250 millis")
        answered = yield* Effect.exit(again())
      }
      console.log(`shard locks lost: every actor answered again ${seconds(lostAt)} s later`)
      expect(answered).toEqual(Exit.succeed([0, 0, 0]))
    })), 90_000)
})
