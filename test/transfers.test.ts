/**
 * Moved typed arrays (`Transfer`): the receiver sees the same bytes, the sender's buffer is detached, and the
 * buffer of a message that fails moves nowhere (it is not carried along with another message of its batch).
 */
import { Effect, Exit } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { ActorSystem } from "../src/runtime/index.ts"
import { Mover } from "./fixtures/Mover.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

const filled = (n: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 1e3)

describe("moved typed arrays between threads", () => {
  it("arrive with the same bytes, both ways, and leave the sender's buffer detached", async () => {
    const out = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const mover = yield* ActorSystem.spawn(Mover, {}, { worker: 1 })
        const data = filled(100_000)
        const expected = Float64Array.from(data)
        const back = yield* mover.ask("echo", data)
        const copied = filled(1000)
        const copyBack = yield* mover.ask("copy", copied)
        return { data, expected, back, copied, copyBack }
      })
    )
    expect(out.data.byteLength).toBe(0)
    expect(out.back).toEqual(out.expected)
    // Copied, not moved: the sender keeps its array.
    expect(out.copied.length).toBe(1000)
    expect(out.copyBack).toEqual(out.copied)
  })

  it("only the fields a struct marks as moved move; the others are copied", async () => {
    const out = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const mover = yield* ActorSystem.spawn(Mover, {}, { worker: 1 })
        const moved = filled(500)
        const copied = filled(300)
        const lengths = yield* mover.ask("pair", { moved, copied })
        return { lengths, moved, copied }
      })
    )
    expect(out.lengths).toEqual({ moved: 500, copied: 300 })
    expect(out.moved.byteLength).toBe(0)
    expect(out.copied.length).toBe(300)
  })

  it("a payload that fails its schema moves nothing, and its batch's other message moves only its own buffer", async () => {
    const out = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const a = yield* ActorSystem.spawn(Mover, {}, { worker: 0 })
        const b = yield* ActorSystem.spawn(Mover, {}, { worker: 0 })
        const bad = filled(64)
        const good = filled(64)
        // Both asks leave in one batch to worker 0: the bad one fails at encoding (n is not an integer).
        const [failed, summed] = yield* Effect.all([
          Effect.exit(a.ask("sum", { data: bad, n: 1.5 })),
          b.ask("sum", { data: good, n: 64 })
        ], { concurrency: "unbounded" })
        return { failed, summed, bad, good, expected: filled(64).reduce((x, y) => x + y, 0) }
      })
    )
    expect(Exit.isFailure(out.failed)).toBe(true)
    expect(out.bad.length).toBe(64)
    expect(out.good.byteLength).toBe(0)
    expect(out.summed).toEqual({ sum: out.expected, length: 64 })
  })

  it("a message that cannot be posted moves nothing; the other messages of its batch arrive", async () => {
    const out = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const mover = yield* ActorSystem.spawn(Mover, {}, { worker: 1 })
        const good = filled(32)
        const reused = filled(32)
        // The same buffer moved by two messages of one batch: the first takes it, the second cannot be posted.
        const [first, second, third] = yield* Effect.all([
          Effect.exit(mover.ask("sum", { data: reused, n: 32 })),
          Effect.exit(mover.ask("sum", { data: reused.subarray(0, 16), n: 16 })),
          mover.ask("sum", { data: good, n: 32 })
        ], { concurrency: "unbounded" })
        return { first, second, third, good }
      })
    )
    expect(Exit.isSuccess(out.first)).toBe(true)
    expect(Exit.isFailure(out.second) && out.second.cause.reasons[0]).toMatchObject({ _tag: "Fail", error: { _tag: "MalformedMessage" } })
    expect(out.third.length).toBe(32)
    expect(out.good.byteLength).toBe(0)
  })

  it("a reply that fails its schema keeps its buffer in the worker", async () => {
    const out = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const mover = yield* ActorSystem.spawn(Mover, {}, { worker: 1 })
        const failed = yield* Effect.exit(mover.ask("make", { n: 10, label: 42 }))
        const kept = yield* mover.ask("kept", undefined)
        const made = yield* mover.ask("make", { n: 10, label: "ok" })
        const keptAfter = yield* mover.ask("kept", undefined)
        return { failed, kept, made, keptAfter }
      })
    )
    expect(Exit.isFailure(out.failed) && out.failed.cause.reasons[0]).toMatchObject({ _tag: "Fail", error: { _tag: "MalformedMessage" } })
    expect(out.kept).toBe(80)
    expect(Array.from(out.made.data)).toEqual(Array.from({ length: 10 }, (_, i) => i))
    expect(out.keptAfter).toBe(0)
  })

  it("on the Local tier pass by reference, like every payload there", async () => {
    const out = await Tiers.run(
      tiers.local(),
      Effect.gen(function*() {
        const mover = yield* ActorSystem.spawn(Mover, {}, {})
        const data = filled(10)
        return { data, back: yield* mover.ask("echo", data) }
      })
    )
    expect(out.back).toBe(out.data)
  })
})
