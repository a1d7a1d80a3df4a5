/**
 * Collectives for actor groups, as an MPI user would test them: every member contributes a value and gets the
 * reduction, the prefix, everyone's values, the root's value. The sums are compared bit for bit with a reference
 * written here (the pairwise tree, level by level, and prefixes by lowest set bit — not the library's code), for
 * any group size, worker count and placement (fast-check), on Threads and on Local. A member's worker dying
 * mid-group breaks it with a typed error rather than a hang; members that disagree get `CollectiveMismatch`.
 */
import { Effect, Exit, Fiber, Schema } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { Group, Reducer } from "../src/runtime/collectives/index.ts"
import { ActorSystem } from "../src/runtime/index.ts"
import { Echo } from "./fixtures/Echo.ts"
import { concat, Ranked, Results, stats } from "./fixtures/collective.ts"
import { failureOf } from "./support/exit.ts"
import { pairwise } from "./support/pairwise.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

/** The exact bits of a double (so -0 and 0 differ, and any last-bit difference shows). */
const bits = (x: number): string => {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x)
  return view.getBigUint64(0).toString(16)
}

/** Reference prefix: rank s's prefix is (prefix of p) + pairwise(values[p..s)), p = s without its lowest set bit. */
const prefix = (values: ReadonlyArray<number>, s: number): number | undefined => {
  if (s === 0) return undefined
  const p = s & (s - 1)
  const block = pairwise(values.slice(p, s))
  const before = prefix(values, p)
  return before === undefined ? block : before + block
}
const inclusive = (values: ReadonlyArray<number>, r: number): number => {
  const before = prefix(values, r)
  return before === undefined ? values[r]! : before + values[r]!
}

type Results = typeof Results.Type

/** A group of `values.length` members, member r (and its endpoint) on `placement[r]`; each runs `collect`. */
const collect = (values: ReadonlyArray<number>, placement: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const group = yield* Group.make({ size: values.length, worker: (r) => placement[r]!, reducers: [concat, stats] })
    const members = yield* Effect.forEach(group.members, (_, r) => ActorSystem.spawn(Ranked, {}, { worker: group.workers[r]! }))
    return yield* Effect.forEach(members, (member, r) =>
      member.ask("collect", { member: group.members[r]!, epoch: 1, value: values[r]!, text: String.fromCharCode(97 + (r % 26)) }), {
      concurrency: "unbounded"
    }) as Effect.Effect<Array<Results>, unknown>
  })

const expectMPI = (values: ReadonlyArray<number>, results: ReadonlyArray<Results>) => {
  const n = values.length
  const text = Array.from({ length: n }, (_, r) => String.fromCharCode(97 + (r % 26))).join("")
  for (const [r, got] of results.entries()) {
    expect(got.rank).toBe(r)
    expect(bits(got.sum)).toBe(bits(pairwise(values)))
    expect(bits(got.scan)).toBe(bits(inclusive(values, r)))
    expect(got.gathered.map(bits)).toEqual(values.map(bits))
    expect(got.text).toBe(text)
    expect(got.stats.count).toBe(n)
    expect(bits(got.stats.sum)).toBe(bits(pairwise(values)))
    expect(got.stats.max).toBe(Math.max(...values))
    expect(bits(got.broadcast)).toBe(bits(values[n - 1]!))
    expect(got.reduced).toBe(r === 1 % n ? Math.max(...values) : null)
  }
}

/** Doubles whose sums depend on the bracketing: huge and tiny magnitudes, signed zeros. */
const value = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e17, max: 1e17 }),
  fc.integer({ min: -1000, max: 1000 }).map((k) => k * 0.1),
  fc.constantFrom(1e16, -1e16, 1, -0, 0.1, 3e-17)
)

describe("collectives (MPI's test, translated)", () => {
  it("a sum depends on the bracketing: the reference is not the left fold", () => {
    const values = [1e16, 1, -1e16, 1]
    expect(bits(pairwise(values))).not.toBe(bits(values.reduce((a, b) => a + b)))
    expect(bits(Reducer.serial(Reducer.sum, values))).toBe(bits(pairwise(values)))
  })

  it("the library's serial reference equals the reference here, for any values", () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 40 }), (values) => {
        expect(bits(Reducer.serial(Reducer.sum, values))).toBe(bits(pairwise(values)))
        expect(Reducer.serialScan(Reducer.sum, values).map(bits)).toEqual(values.map((_, r) => bits(inclusive(values, r))))
      }),
      { numRuns: 300 }
    )
  })

  it("on Threads: the same bits at any group size, worker count and placement", async () => {
    for (const workers of [1, 2, 3]) {
      await fc.assert(
        fc.asyncProperty(
          fc.array(value, { minLength: 1, maxLength: 11 }).chain((values) =>
            fc.tuple(fc.constant(values), fc.array(fc.nat(workers - 1), { minLength: values.length, maxLength: values.length }))),
          async ([values, placement]) => {
            const results = await Tiers.run(tiers.threads(workers), collect(values, placement))
            expect(results.map((r) => r.worker)).toEqual(placement)
            expectMPI(values, results)
          }
        ),
        { numRuns: workers === 2 ? 15 : 8 }
      )
    }
  }, 120_000)

  it("on Local: the same bits", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(value, { minLength: 1, maxLength: 16 }), async (values) => {
        const results = await Tiers.run(tiers.local(), collect(values, values.map(() => 0)))
        expectMPI(values, results)
      }),
      { numRuns: 40 }
    )
  })

  it("a group of 37 members on 3 workers, placed round-robin backwards, gives the pairwise sum", async () => {
    const values = Array.from({ length: 37 }, (_, r) => (r % 3 === 0 ? 1e16 : r % 3 === 1 ? 1.5 : -1e16 + r))
    const results = await Tiers.run(tiers.threads(3), collect(values, values.map((_, r) => 2 - (r % 3))))
    expectMPI(values, results)
  })

  it("members that call different collectives get CollectiveMismatch, not a wrong answer", async () => {
    const exits = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const group = yield* Group.make({ size: 2 })
        const members = yield* Effect.forEach(group.members, (_, r) => ActorSystem.spawn(Ranked, {}, { worker: r }))
        return yield* Effect.forEach(members, (member, r) =>
          Effect.exit(member.ask("allreduce", { member: group.members[r]!, epoch: 1, value: r, op: r === 0 ? "sum" : "max" })), {
          concurrency: "unbounded"
        })
      })
    )
    expect(failureOf(exits[0]!)).toMatchObject({ _tag: "CollectiveMismatch", rank: 0 })
    expect(Exit.isFailure(exits[1]!)).toBe(true) // told the group broke, or still waiting for nobody
  })

  it("a member's worker dying mid-group fails the others with CollectiveBroken instead of leaving them waiting", async () => {
    const result = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const before = system.restarts()
        const group = yield* Group.make({ size: 3, worker: (r) => (r === 1 ? 1 : 0) })
        const members = yield* Effect.forEach(group.members, (_, r) => ActorSystem.spawn(Ranked, {}, { worker: group.workers[r]! }))
        // Ranks 0 and 2 enter an allreduce; rank 1's worker dies before it does.
        const waiting = yield* Effect.forEach([0, 2], (r) =>
          Effect.forkChild(Effect.exit(members[r]!.ask("allreduce", { member: group.members[r]!, epoch: 1, value: r, op: "sum" }))))
        const killer = yield* ActorSystem.spawn(Echo, { prefix: "" }, { worker: 1 })
        const crash = yield* Effect.exit(killer.ask("crash", "exit"))
        yield* system.awaitUp(1)
        const died = system.restarts() - before
        const exits = yield* Effect.forEach(waiting, Fiber.join).pipe(Effect.timeout("20 seconds"))
        return { crash, died, exits }
      })
    )
    expect(failureOf(result.crash)).toMatchObject({ _tag: "WorkerDied", worker: 1 })
    expect(result.died).toBe(1)
    for (const exit of result.exits) expect(failureOf(exit)).toMatchObject({ _tag: "CollectiveBroken" })
  }, 60_000)

  it("rejects a root outside the group and a value that does not fit the reducer's Schema", async () => {
    const exits = await Tiers.run(
      tiers.local(),
      Effect.gen(function*() {
        const group = yield* Group.make({ size: 1 })
        const system = yield* ActorSystem.ActorSystem
        const { Comm } = yield* Effect.promise(() => import("../src/runtime/collectives/index.ts"))
        const comm = Comm.join(system, group.members[0]!, 1)
        const badRoot = yield* Effect.exit(comm.broadcast(Schema.Number, 1, 3))
        const badValue = yield* Effect.exit(comm.allreduce(Reducer.sum, "x" as unknown as number))
        const alone = yield* comm.allreduce(Reducer.sum, 4)
        return { badRoot, badValue, alone }
      })
    )
    expect(Exit.isFailure(exits.badRoot)).toBe(true)
    expect(failureOf(exits.badValue)).toMatchObject({ _tag: "MalformedMessage" })
    expect(exits.alone).toBe(4)
  })
})
