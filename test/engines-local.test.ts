// The views on the Local tier: the same operations give the same
// results in one thread as on worker threads, so engines do not depend on where they live.
import { Effect } from "effect"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Local } from "../src/runtime/index.ts"
import { Client, Remote, Selection } from "../src/runtime/engines/index.ts"
import * as fns from "./fixtures/engineFns.ts"

const F = Remote.module(new URL("./fixtures/engineFns.ts", import.meta.url).href, fns)

const withLocal = <A, E>(engines: number, f: (client: Client.Shape) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(Client.make({ engines }), f)).pipe(Effect.provide(Local.layer)))

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("selection", () => {
  it("slices like Python over any engine count", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: -14, max: 14 }), fc.integer({ min: -14, max: 14 }), fc.integer({ min: 1, max: 4 }), (n, start, stop, step) => {
      const ids = range(n)
      const expected: Array<number> = []
      const norm = (i: number) => Math.min(n, Math.max(0, i < 0 ? i + n : i))
      for (let i = norm(start); i < norm(stop); i += step) expected.push(i)
      const got = Selection.resolve(ids, { start, stop, step })
      if (expected.length === 0) expect(Array.isArray(got)).toBe(false)
      else expect(got).toEqual(expected)
    }))
  })
})

describe("views on the Local tier", () => {
  it("scatter / gather, direct and load-balanced map agree with the arrays", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer(), { maxLength: 50 }), fc.integer({ min: 1, max: 5 }), async (xs, engines) => {
        const out = await withLocal(engines, (client) =>
          Effect.gen(function*() {
            const dview = yield* client.view()
            yield* dview.scatter("xs", xs)
            const lview = yield* client.loadBalanced()
            return {
              gathered: yield* yield* dview.gather("xs"),
              direct: yield* yield* dview.map((x: number) => x - 1, xs),
              balanced: yield* yield* lview.map(F.square, xs, { chunkSize: 3 })
            }
          }))
        expect(out.gathered).toEqual(xs)
        expect(out.direct).toEqual(xs.map((x) => x - 1))
        expect(out.balanced).toEqual(xs.map((x) => x * x))
      }),
      { numRuns: 30 }
    )
  })

  it("values are copied across the boundary, as between threads", async () => {
    const pushed = { list: [1, 2] }
    const pulled = await withLocal(1, (client) =>
      Effect.gen(function*() {
        const dview = yield* client.view()
        yield* dview.push({ pushed })
        yield* dview.execute((ns) => ns.pushed.list.push(3))
        return (yield* yield* dview.pull<{ list: Array<number> }>("pushed"))[0]!
      }))
    expect(pushed.list).toEqual([1, 2])
    expect(pulled.list).toEqual([1, 2, 3])
  })

  it("dependencies and errors behave as on threads", async () => {
    await withLocal(2, (client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced()
        const failed = yield* lview.apply(F.boom, "x")
        expect((yield* Effect.flip(yield* lview.with({ after: failed }).apply(F.square, 1)))._tag).toBe("ImpossibleDependency")
        const error = yield* Effect.flip(yield* (yield* client.view()).apply(F.boom, "bad"))
        expect(error.engines).toEqual([0, 1])
      }))
  })
})
