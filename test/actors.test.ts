/**
 * Actors: the same definition on Local and Threads, typed replies and errors,
 * malformed messages, one message at a time, and backpressure.
 */
import { Effect, Fiber } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { WorkerDied } from "../src/runtime/ActorError.ts"
import { ActorSystem, Retry } from "../src/runtime/index.ts"
import { Echo, EchoMismatch, Loose, Relay } from "./fixtures/Echo.ts"
import { Turns } from "./fixtures/Turns.ts"
import { failureOf } from "./support/exit.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

describe.each([
  ["Local", () => tiers.local()],
  ["Threads(2)", () => tiers.threads(2)]
])("actors on %s", (_name, tier) => {
  it("ask replies, tell is one-way, and messages are handled in order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 200 }), fc.string(), async (bumps, text) => {
        const [reply, total] = await Tiers.run(
          tier(),
          Effect.gen(function*() {
            const echo = yield* ActorSystem.spawn(Echo, { prefix: "> " })
            yield* Effect.forEach(bumps, (n) => echo.tell("bump", n), { discard: true })
            return [yield* echo.ask("echo", text), yield* echo.ask("count", undefined)] as const
          })
        )
        expect(reply).toBe(`> ${text}`)
        expect(total).toBe(bumps.reduce((a, b) => a + b, 0))
      }),
      { numRuns: 15 }
    )
  })

  it("one message at a time, also when a reply frees mailbox room for the next ask on the same thread", async () => {
    // A settle sends the ask waiting for room at once; the actor's mailbox loop must not start it while the next
    // queued message's handler is suspended (on Local, two handlers ran together).
    const most = await Tiers.run(tier(), Effect.gen(function*() {
      const turns = yield* ActorSystem.spawn(Turns, {})
      const replies = yield* Effect.forEach(Array.from({ length: 12 }, (_, i) => i), () => turns.ask("hold", 5), { concurrency: "unbounded" })
      return Math.max(...replies)
    }))
    expect(most).toBe(1)
  })

  it("a handler's typed error reaches the caller as that error", async () => {
    const exit = await Tiers.run(tier(), Effect.exit(Effect.flatMap(ActorSystem.spawn(Echo, { prefix: "" }), (e) => e.ask("echo", "no"))))
    expect(failureOf(exit)).toMatchObject({ _tag: "Refused", reason: "no" })
  })

  it("a thrown exception in a handler is an ActorDefect, and the actor keeps working", async () => {
    const [exit, after] = await Tiers.run(
      tier(),
      Effect.gen(function*() {
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "" })
        return [yield* Effect.exit(echo.ask("crash", "defect")), yield* echo.ask("echo", "ok")] as const
      })
    )
    expect(failureOf(exit)).toMatchObject({ _tag: "ActorDefect", actor: "Echo", message: "crash" })
    expect(after).toBe("ok")
  })
})

describe("thread boundaries", () => {
  it("a payload that does not fit the protocol is a MalformedMessage for the asker (checked where it arrives)", async () => {
    const exit = await Tiers.run(
      tiers.threads(2),
      Effect.exit(Effect.flatMap(ActorSystem.spawn(Echo, { prefix: "" }), (e) => e.ask("noop", "seven" as unknown as number)))
    )
    expect(failureOf(exit)).toMatchObject({ _tag: "MalformedMessage", message: "noop" })
  })

  it("a message that fails decoding in the worker is a MalformedMessage, and the worker lives on", async () => {
    const [exit, after] = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "" }, { worker: 1 })
        const stale = system.connect(EchoMismatch, echo.address)
        return [yield* Effect.exit(stale.ask("echo", 42)), yield* echo.ask("echo", "alive")] as const
      })
    )
    expect(failureOf(exit)).toMatchObject({ _tag: "MalformedMessage", actor: "Echo", message: "echo" })
    expect(after).toBe("alive")
  })

  it("actors on different workers talk directly, also after a worker restart", async () => {
    const replies = await Tiers.run(
      tiers.threads(3),
      Effect.gen(function*() {
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "e:" }, { worker: 2 })
        const relays = yield* Effect.forEach([0, 1, 2], (w) => ActorSystem.spawn(Relay, {}, { worker: w }))
        const before = yield* Effect.forEach(relays, (r) => r.ask("forward", { to: echo.address, text: "hi" }))
        // Kill the echo's worker; once it is back, the relays reach the respawned echo over new channels.
        yield* Effect.exit(echo.ask("crash", "exit"))
        const after = yield* Effect.forEach(relays, (r) =>
          Retry.onWorkerDeath(
            r.ask("forward", { to: echo.address, text: "again" }).pipe(
              // The relay's worker is up, but the echo may not be re-spawned yet: try again a little later.
              Effect.catchTag("ActorDefect", () =>
                Effect.andThen(Effect.sleep("25 millis"), Effect.fail(new WorkerDied({ worker: 2, reason: "echo not back yet" }))))
            ),
            { times: 10 }
          ))
        return [...before, ...after]
      })
    )
    expect(replies.map((r) => r.reply)).toEqual(["e:hi", "e:hi", "e:hi", "e:again", "e:again", "e:again"])
    expect(replies.map((r) => r.from)).toEqual([0, 1, 2, 0, 1, 2])
  })

  it("a value threads cannot carry fails only its own message, not the batch around it", async () => {
    const [ask, reply, neighbours] = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const loose = yield* ActorSystem.spawn(Loose, {}, { worker: 1 })
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "" }, { worker: 1 })
        // Sent in the same turn, so in the same batch as the bad one.
        return yield* Effect.all([
          Effect.exit(loose.ask("take", { f: () => 1 })),
          Effect.exit(loose.ask("give", undefined)),
          Effect.forEach(["a", "b"], (text) => echo.ask("echo", text))
        ], { concurrency: "unbounded" })
      })
    )
    // The asker hears which actor and message could not be sent (it was "#<id>" before).
    expect(failureOf(ask)).toMatchObject({ _tag: "MalformedMessage", actor: "Loose", message: "take" })
    expect(failureOf(reply)).toMatchObject({ _tag: "MalformedMessage", message: "reply" })
    expect(neighbours).toEqual(["a", "b"])
  })

  it("bad init parameters fail the spawn with SpawnFailed", async () => {
    const exit = await Tiers.run(tiers.threads(2), Effect.exit(ActorSystem.spawn(Echo, { prefix: 3 as unknown as string })))
    expect(failureOf(exit)).toMatchObject({ _tag: "SpawnFailed", actor: "Echo" })
  })

  it("explicit placement puts actors on the named worker", async () => {
    const workers = await Tiers.run(
      tiers.threads(3),
      Effect.forEach([0, 1, 2, 4], (w) => Effect.map(ActorSystem.spawn(Echo, { prefix: "" }, { worker: w }), (r) => r.address.worker))
    )
    expect(workers).toEqual([0, 1, 2, 1])
  })

  it("a full mailbox makes tell wait (backpressure) instead of growing without bound", async () => {
    const observed = await Tiers.run(
      tiers.threads(1),
      Effect.gen(function*() {
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "" })
        // Keep the actor busy, then fill its mailbox (1024) and one more.
        const busy = yield* Effect.forkChild(echo.ask("spin", 300))
        yield* Effect.sleep("20 millis")
        for (let i = 0; i < 1023; i++) yield* echo.tell("bump", 1)
        const blocked = yield* Effect.forkChild(echo.tell("bump", 1))
        yield* Effect.sleep("50 millis")
        const waitingWhileBusy = blocked.pollUnsafe() === undefined
        yield* Fiber.join(busy)
        yield* Fiber.join(blocked)
        return { waitingWhileBusy, total: yield* echo.ask("count", undefined) }
      })
    )
    expect(observed.waitingWhileBusy).toBe(true)
    expect(observed.total).toBe(1024)
  })
})
