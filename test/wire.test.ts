/**
 * The packed wire format: any batch of frames, once packed and structured-cloned, reads back as the same frames
 * (numbers bit for bit, -0 and NaN included; other values beside them); and a message tag off the wire that
 * names no message of the protocol is a typed `MalformedMessage` for its asker, whatever the tag.
 */
import { Effect, Schema } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { Actor, ActorSystem } from "../src/runtime/index.ts"
import { FRAME, forEachFrame, forPosting, isPacked, pack, PLAIN_FRAMES } from "../src/runtime/internal/Wire.ts"
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
