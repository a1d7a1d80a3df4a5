/**
 * The packed wire format: any batch of frames, once packed and structured-cloned, reads back as the same frames
 * (numbers bit for bit, -0 and NaN included; other values beside them); and a message tag off the wire that
 * names no message of the protocol is a typed `MalformedMessage` for its asker, whatever the tag.
 */
import { Effect, Schema } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { Actor, ActorSystem } from "../src/runtime/index.ts"
import { FRAME, forEachFrame, forPosting, isPacked, Outbox, pack, PLAIN_FRAMES } from "../src/runtime/internal/Wire.ts"
import type { Batching } from "../src/runtime/internal/Wire.ts"
import { Echo } from "./fixtures/Echo.ts"
import { failureOf } from "./support/exit.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

/** The frames a batch reads back as, through a structured clone (what `postMessage` does to it). */
const readBack = (batch: Array<unknown>): Array<unknown> => {
  const out: Array<unknown> = []
  forEachFrame(structuredClone(batch), (kind, a, b, c, d) => out.push(kind, a, b, c, d))
  return out
}

const number = fc.oneof(
  fc.double(),
  fc.constantFrom(-0, 0, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE)
)
const value = fc.oneof(number, fc.string(), fc.constant(undefined), fc.constant(null), fc.array(number, { maxLength: 4 }))
const frame = fc.tuple(fc.integer({ min: 0, max: 10 }), fc.nat(), fc.nat(), value, value)

describe("packed batches", () => {
  it("read back as the frames packed, for any frames and range", () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 40 }), fc.nat(), fc.nat(), (frames, x, y) => {
        const flat = frames.flat()
        const n = frames.length
        const [from, to] = [Math.min(x % (n + 1), y % (n + 1)), Math.max(x % (n + 1), y % (n + 1))]
        const packed = pack(flat, from * FRAME, to * FRAME) as unknown as Array<unknown>
        expect(isPacked(packed)).toBe(true)
        // toEqual tells -0 from 0 and takes NaN as equal to NaN: the bits that matter survive.
        expect(readBack(packed)).toEqual(flat.slice(from * FRAME, to * FRAME))
        // A plain (unpacked) frame array reads the same.
        expect(readBack(flat)).toEqual(flat)
      }),
      { numRuns: 300 }
    )
  })

  it("as posted: plain up to PLAIN_FRAMES frames, packed beyond, the same frames either way", () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 0, maxLength: 3 * PLAIN_FRAMES }), (frames) => {
        const flat = frames.flat()
        const posted = forPosting(flat.slice()) as Array<unknown>
        expect(isPacked(posted)).toBe(frames.length > PLAIN_FRAMES)
        expect(readBack(posted)).toEqual(flat)
      }),
      { numRuns: 300 }
    )
  })

  it("an empty batch has no frames", () => {
    expect(readBack(pack([]) as unknown as Array<unknown>)).toEqual([])
    expect(readBack([])).toEqual([])
  })

  it("-0 stays -0 and NaN stays NaN", () => {
    const [k, a, b, c, d] = readBack(pack([2, 1, 0, -0, NaN]) as unknown as Array<unknown>)
    expect([k, a, b]).toEqual([2, 1, 0])
    expect(Object.is(c, -0)).toBe(true)
    expect(Number.isNaN(d)).toBe(true)
  })
})

/**
 * An outbox fed `turns[t]` frames in turn t of the event loop (a turn: one round of `setImmediate`): what it posted,
 * batch by batch (frame numbers), and whether each batch left at once (inside `push`) or at a turn's end.
 */
const feed = async (batching: Batching, turns: ReadonlyArray<number>) => {
  const posted: Array<{ readonly turn: number; readonly atOnce: boolean; readonly frames: Array<number> }> = []
  let turn = 0
  let pushing = false
  const outbox = new Outbox((batch) => {
    const frames: Array<number> = []
    forEachFrame(batch, (_kind, a) => frames.push(a))
    posted.push({ turn, atOnce: pushing, frames })
  }, batching)
  let next = 0
  for (; turn < turns.length; turn++) {
    for (let i = 0; i < turns[turn]!; i++) {
      pushing = true
      outbox.push(0, next++, 0, 0, 0)
      pushing = false
    }
    // The outbox's end-of-turn callback was queued before this one (or re-queued in the round before): it runs first.
    await new Promise((resolve) => setImmediate(resolve))
  }
  return { posted, total: next }
}

describe("outbox batching", () => {
  const schedules = fc.array(fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 2, max: 40 })), { minLength: 1, maxLength: 30 })

  it("adaptive: a turn's first frame leaves at once unless a batch left at the end of the turn before; the rest leave together at its end", async () => {
    await fc.assert(
      fc.asyncProperty(schedules, async (turns) => {
        const { posted, total } = await feed("adaptive", turns)
        expect(posted.flatMap((batch) => batch.frames)).toEqual(Array.from({ length: total }, (_, i) => i))
        const expected: Array<{ turn: number; atOnce: boolean; size: number }> = []
        let batchAtEnd = false
        turns.forEach((frames, turn) => {
          const atOnce = frames > 0 && !batchAtEnd ? 1 : 0
          if (atOnce === 1) expected.push({ turn, atOnce: true, size: 1 })
          if (frames - atOnce > 0) expected.push({ turn, atOnce: false, size: frames - atOnce })
          batchAtEnd = frames - atOnce > 0
        })
        expect(posted.map(({ atOnce, frames, turn }) => ({ turn, atOnce, size: frames.length }))).toEqual(expected)
      }),
      { numRuns: 60 }
    )
  })

  it("turn: one batch at the end of each turn that had frames; off: every frame at once", async () => {
    await fc.assert(
      fc.asyncProperty(schedules, async (turns) => {
        const byTurn = await feed("turn", turns)
        expect(byTurn.posted.map(({ atOnce, frames, turn }) => ({ turn, atOnce, size: frames.length }))).toEqual(
          turns.flatMap((frames, turn) => (frames > 0 ? [{ turn, atOnce: false, size: frames }] : []))
        )
        const off = await feed("off", turns)
        expect(off.posted.every(({ atOnce, frames }) => atOnce && frames.length === 1)).toBe(true)
        expect(off.posted.flatMap((batch) => batch.frames)).toEqual(Array.from({ length: off.total }, (_, i) => i))
      }),
      { numRuns: 40 }
    )
  })
})

/** Echo's name with more messages than Echo has: a sender whose definition is newer than the actor's. */
const Wider = Actor.make("Echo", {
  module: new URL("#wider", import.meta.url).href,
  init: Schema.Struct({ prefix: Schema.String }),
  protocol: {
    ...Echo.protocol,
    beyond: Actor.message({ payload: Schema.Number, success: Schema.Number })
  },
  behaviour: () => Effect.die("never spawned")
})

describe("tags off the wire", () => {
  it("a message index beyond the protocol, or a tag naming no message, is a MalformedMessage; the actor lives on", async () => {
    const [beyond, inherited, after] = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const echo = yield* ActorSystem.spawn(Echo, { prefix: "" }, { worker: 1 })
        const wider = system.connect(Wider, echo.address)
        const ask = echo.ask as unknown as (tag: string, payload: unknown) => Effect.Effect<unknown, unknown>
        return [
          yield* Effect.exit(wider.ask("beyond", 1)),
          yield* Effect.exit(ask("toString", 1)),
          yield* echo.ask("echo", "alive")
        ] as const
      })
    )
    expect(failureOf(beyond)).toMatchObject({ _tag: "MalformedMessage", actor: "Echo", detail: "unknown message tag" })
    expect(failureOf(inherited)).toMatchObject({ _tag: "MalformedMessage", actor: "Echo", detail: "unknown message tag" })
    expect(after).toBe("alive")
  })
})
