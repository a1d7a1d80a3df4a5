/**
 * The table of requests waiting for their reply (`Requests`): for any interleaving of new requests (ids in order,
 * as `Sender` hands them out), lookups and answers in any order, it holds exactly what a `Map` holds, also when
 * requests outlive a lap of its ring and wait beside it.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Requests } from "../src/runtime/internal/Requests.ts"

/** A new request, or the answer to / a lookup of the k-th oldest waiting one (k taken modulo how many wait). */
const op = fc.oneof(
  fc.constant({ _tag: "new" as const }),
  fc.record({ _tag: fc.constant("answer" as const), k: fc.nat() }),
  fc.record({ _tag: fc.constant("lookup" as const), k: fc.nat() }),
  fc.record({ _tag: fc.constant("stranger" as const), k: fc.nat() })
)

describe("Requests", () => {
  it("holds what a Map holds, for any order of answers, with a ring small enough to overflow", () => {
    let overflowed = 0
    fc.assert(
      fc.property(fc.array(op, { minLength: 50, maxLength: 300 }), fc.constantFrom(1, 2, 8), (ops, slots) => {
        const table = new Requests<string>(slots)
        const model = new Map<number, string>()
        let next = 1
        for (const o of ops) {
          const waiting = [...model.keys()]
          switch (o._tag) {
            case "new": {
              const id = next++
              // Its slot still holds an older request: this one waits beside the ring.
              if (waiting.some((w) => (w & (slots - 1)) === (id & (slots - 1)))) overflowed++
              table.set(id, `r${id}`)
              model.set(id, `r${id}`)
              break
            }
            case "answer": {
              const id = waiting.length === 0 ? next : waiting[o.k % waiting.length]!
              expect(table.delete(id)).toBe(model.delete(id))
              // Answered twice (a late reply after a cancel): nothing left to forget.
              expect(table.delete(id)).toBe(false)
              break
            }
            case "lookup": {
              const id = waiting.length === 0 ? next : waiting[o.k % waiting.length]!
              expect(table.get(id)).toBe(model.get(id))
              break
            }
            case "stranger": {
              // An id never handed out, or one answered long ago: nothing, whatever its slot holds.
              const id = o.k % 2 === 0 ? next + 1 + o.k : 1 + (o.k % next)
              expect(table.get(id)).toBe(model.get(id))
              break
            }
          }
          expect(table.size).toBe(model.size)
        }
        expect(new Map(table.entries())).toEqual(model)
      }),
      { numRuns: 200 }
    )
    // The overflow path ran, not only the ring.
    expect(overflowed).toBeGreaterThan(100)
  })

  it("ids beyond 2^32 land in their slot by their low bits", () => {
    const table = new Requests<number>(4)
    const ids = [2 ** 32 + 1, 2 ** 33 + 1, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]
    ids.forEach((id, i) => table.set(id, i))
    ids.forEach((id, i) => expect(table.get(id)).toBe(i))
    expect(table.delete(2 ** 33 + 1)).toBe(true)
    expect(table.get(2 ** 33 + 1)).toBeUndefined()
    expect(table.get(2 ** 32 + 1)).toBe(0)
    expect(table.size).toBe(3)
  })
})
