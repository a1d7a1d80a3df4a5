/**
 * Persisted messages on the tiers without storage (Local, Threads): one run per key for the life of the actor,
 * within its memory's bound. Runs are counted in a log file the handler appends to (see `fixtures/Ledger.ts`),
 * not through the runtime. The Cluster tier's cases (Postgres-backed, across a runner's SIGKILL) are in
 * `cluster-failover.test.ts`.
 */
import { Effect, Exit } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { ActorError, ActorSystem } from "../src/runtime/index.ts"
import { Ledger, SmallLedger, count } from "./fixtures/Ledger.ts"
import { failureOf } from "./support/exit.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-persisted-"))
afterAll(async () => {
  await tiers.dispose()
  Fs.rmSync(dir, { recursive: true, force: true })
})
let logs = 0
const newLog = () => Path.join(dir, `ledger-${logs++}.log`)

describe.each([
  ["Local", () => tiers.local()],
  ["Threads(2)", () => tiers.threads(2)]
])("persisted messages on %s", (_name, tier) => {
  it("the same key runs once and both asks get its reply; other keys run on their own", async () => {
    const log = newLog()
    const replies = await Tiers.run(tier(), Effect.gen(function*() {
      const ledger = yield* ActorSystem.spawn(Ledger, { log }, { worker: 1 })
      const first = yield* ledger.ask("charge", { id: "a", amount: 5, ms: 0 })
      // A retry carries the same key; what it asks for otherwise does not matter: the work is done.
      const retry = yield* ledger.ask("charge", { id: "a", amount: 999, ms: 0 })
      const other = yield* ledger.ask("charge", { id: "b", amount: 7, ms: 0 })
      // Two at once, the second arriving while the first runs.
      const both = yield* Effect.all([
        ledger.ask("charge", { id: "c", amount: 1, ms: 150 }),
        ledger.ask("charge", { id: "c", amount: 1, ms: 150 })
      ], { concurrency: "unbounded" })
      // The reference: the same work, not persisted, runs each time.
      yield* ledger.ask("chargePlain", { id: "p", amount: 1, ms: 0 })
      yield* ledger.ask("chargePlain", { id: "p", amount: 1, ms: 0 })
      return { first, retry, other, both }
    }))
    expect(replies.first).toEqual({ id: "a", charged: 16 })
    expect(replies.retry).toEqual(replies.first)
    expect(replies.other).toEqual({ id: "b", charged: 22 })
    expect(replies.both).toEqual([{ id: "c", charged: 4 }, { id: "c", charged: 4 }])
    expect([count(log, "start", "a"), count(log, "start", "b"), count(log, "start", "c"), count(log, "start", "p")]).toEqual([1, 1, 1, 2])
  })

  it("a typed error is the key's reply too; a bad key fails typed and runs nothing", async () => {
    const log = newLog()
    const [declined, again, bad] = await Tiers.run(tier(), Effect.gen(function*() {
      const ledger = yield* ActorSystem.spawn(Ledger, { log })
      return [
        yield* Effect.exit(ledger.ask("charge", { id: "neg", amount: -1, ms: 0 })),
        yield* Effect.exit(ledger.ask("charge", { id: "neg", amount: -1, ms: 0 })),
        yield* Effect.exit(ledger.ask("badKey", { id: "k", amount: 3, ms: 0 }))
      ] as const
    }))
    expect(failureOf(declined)).toMatchObject({ _tag: "Declined", id: "neg" })
    expect(failureOf(again)).toMatchObject({ _tag: "Declined", id: "neg" })
    expect(count(log, "start", "neg")).toBe(1)
    const error = failureOf(bad)
    expect(ActorError.isMalformedMessage(error)).toBe(true)
    expect(String((error as ActorError.MalformedMessage).detail)).toContain("persisted key: a string was expected, got number")
    expect(count(log, "start", "k")).toBe(0)
  })

  it("an asker that gives up does not cancel the work; asking again gets its reply", async () => {
    const log = newLog()
    const [timedOut, reply] = await Tiers.run(tier(), Effect.gen(function*() {
      const ledger = yield* ActorSystem.spawn(Ledger, { log })
      const timedOut = yield* Effect.exit(Effect.timeout(ledger.ask("charge", { id: "t", amount: 2, ms: 300 }), 50))
      return [timedOut, yield* ledger.ask("charge", { id: "t", amount: 2, ms: 300 })] as const
    }))
    expect(Exit.isFailure(timedOut)).toBe(true)
    expect(reply).toEqual({ id: "t", charged: 7 })
    expect([count(log, "start", "t"), count(log, "done", "t")]).toEqual([1, 1])
  })

  it("abandoned asks hold the mailbox until their work is done: distinct keys cannot pile up past it", async () => {
    const log = newLog()
    await Tiers.run(tier(), Effect.gen(function*() {
      const ledger = yield* ActorSystem.spawn(SmallLedger, { log }, { worker: 1 })
      // 30 asks with distinct keys, each given up after 50 ms; a charge takes 1 s. The mailbox (2) lets two
      // out; the others wait for room and are given up while waiting, so they never reach the actor. (Before,
      // a given-up persisted ask returned its room at once although its work went on: the next one went out,
      // and so on, 30 works queued at an actor whose mailbox holds 2.)
      const given = yield* Effect.forEach(Array.from({ length: 30 }, (_, k) => k), (k) =>
        Effect.exit(Effect.timeout(ledger.ask("charge", { id: `g${k}`, amount: k, ms: 1000 }), 50)), { concurrency: "unbounded" })
      expect(given.every(Exit.isFailure)).toBe(true)
      // Room comes back as each work ends: this ask waits behind both, then runs.
      expect(yield* ledger.ask("chargePlain", { id: "end", amount: 1, ms: 0 })).toEqual({ id: "end", charged: 4 })
    }))
    const started = Array.from({ length: 30 }, (_, k) => count(log, "start", `g${k}`))
    expect(started.reduce((a, b) => a + b, 0)).toBe(2)
    expect(started.slice(0, 2)).toEqual([1, 1])
  })

  it("the memory is bounded: past `remember` newer keys, an old key runs again", async () => {
    const log = newLog()
    await Tiers.run(tier(), Effect.gen(function*() {
      const ledger = yield* ActorSystem.spawn(Ledger, { log })
      // `remember: 8`: k0 .. k8 are nine keys, so k0 is forgotten and k8 is not.
      for (let k = 0; k <= 8; k++) yield* ledger.ask("charge", { id: `k${k}`, amount: k, ms: 0 })
      yield* ledger.ask("charge", { id: "k8", amount: 8, ms: 0 })
      yield* ledger.ask("charge", { id: "k0", amount: 0, ms: 0 })
      // Tells of a persisted message run once per key as well.
      yield* ledger.tell("charge", { id: "told", amount: 1, ms: 0 })
      yield* ledger.tell("charge", { id: "told", amount: 1, ms: 0 })
      yield* ledger.ask("charge", { id: "told", amount: 1, ms: 0 })
    }))
    expect([count(log, "start", "k0"), count(log, "start", "k8"), count(log, "start", "told")]).toEqual([2, 1, 1])
  })
})

describe("declaring a persisted message", () => {
  it("refuses a memory bound that is not a positive integer", async () => {
    const { Actor } = await import("../src/runtime/index.ts")
    const { Schema } = await import("effect")
    expect(() => Actor.message({ payload: Schema.String, persisted: { key: (s) => s, remember: 0 } })).toThrow(
      "persisted.remember must be a positive integer, got 0"
    )
  })
})
