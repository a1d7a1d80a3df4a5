/**
 * parallelFor: every schedule, chunk size and worker count gives the serial reference's bits (reductions in a
 * fixed tree over logical chunks); every index runs exactly once; bad kernels and arguments get clear typed
 * errors; a failing kernel or a dying worker fails the loop, typed; interruption reaches the workers.
 */
import { Cause, Effect, Exit, Fiber } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { Kernel, ParallelFor, Reduction, Schedule } from "../src/runtime/parallel/index.ts"
import { SharedArray } from "../src/runtime/shared/index.ts"
import { dyingDisjoint, dyingUndeclared, exitAt, mapData, noPartial, opIndex, reduceData, slow, throwAt, visit } from "./fixtures/kernels.ts"
import { ActorSystem, Threads } from "../src/runtime/index.ts"
import { pairwise } from "./support/pairwise.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

const shared = (values: ReadonlyArray<number>) => {
  const data = SharedArray.make("Float64", values.length)
  data.set(values)
  return data
}

const failure = <A, E>(exit: Exit.Exit<A, E>): unknown => (Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined)

// Doubles across many magnitudes, so that the bracketing of a sum changes its bits.
const value = fc.tuple(fc.double({ min: -1, max: 1, noNaN: true }), fc.integer({ min: -8, max: 8 })).map(([m, e]) => m * 10 ** e)

/**
 * The documented result, written out independently of the code under test: chunk c holds indices
 * [c·chunk, min(n, (c+1)·chunk)) and is summed in index order; the chunk sums are added pairwise, (0,1), (2,3), …,
 * level by level, an odd last one carried up. The default chunk is ceil(n / 64).
 */
const documentedSum = (values: ReadonlyArray<number>, chunk = Math.max(1, Math.ceil(values.length / 64))): number => {
  const level: Array<number> = []
  for (let lo = 0; lo < values.length; lo += chunk) {
    let acc = 0
    for (let i = lo; i < Math.min(values.length, lo + chunk); i++) acc += values[i]!
    level.push(acc)
  }
  return pairwise(level)
}

describe("reduction tree", () => {
  it("pairs partials by chunk index, level by level", () => {
    // Values whose sum depends on the bracketing: the tree gives 9, a left-to-right sum gives 8.
    expect(Reduction.tree("sum", [3, 1e16, -1e16, 3, 1])).toBe(((3 + 1e16) + (-1e16 + 3)) + 1)
    expect(Reduction.tree("sum", [3, 1e16, -1e16, 3, 1])).toBe(9)
    expect([3, 1e16, -1e16, 3, 1].reduce((a, b) => a + b, 0)).toBe(8)
    expect(Reduction.tree("sum", [])).toBe(0)
    expect(Reduction.tree("min", [])).toBe(Infinity)
    expect(Reduction.tree("max", [3, -1, 7])).toBe(7)
  })

  it("static blocks cover every chunk once, in worker order", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 16 }), (chunks, workers) => {
        let next = 0
        for (let w = 0; w < workers; w++) {
          const [first, last] = Schedule.staticBlock(chunks, w, workers)
          expect(first).toBe(next)
          expect(last - first).toBeLessThanOrEqual(Math.ceil(chunks / workers))
          next = last
        }
        expect(next).toBe(chunks)
      })
    )
  })
})

describe("parallelFor equals the serial reference, bit for bit", () => {
  it("sum, min and max, for any data, chunk, schedule and workers 1-4", async () => {
    let bracketingMattered = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(value, { maxLength: 5000, size: "max" }),
        fc.option(fc.integer({ min: 1, max: 700 }), { nil: undefined }),
        fc.constantFrom(...Schedule.SCHEDULES),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(...Reduction.REDUCTIONS),
        async (values, chunk, schedule, workers, reduce) => {
          const data = shared(values)
          const args = { data, op: opIndex(reduce) }
          const reference = await Effect.runPromise(ParallelFor.serial(reduceData, values.length, args, { reduce, chunk }))
          const parallel = await Tiers.run(
            tiers.threads(workers),
            ParallelFor.parallelFor(reduceData, values.length, args, { reduce, chunk, schedule })
          )
          expect(Object.is(parallel, reference)).toBe(true)
          if (reduce === "sum") {
            expect(Object.is(parallel, documentedSum(values, chunk))).toBe(true)
            // The data is such that the bracketing shows in the bits (counted below: a property over sums
            // that any bracketing gets right would pin nothing).
            if (!Object.is(documentedSum(values, chunk), values.reduce((a, b) => a + b, 0))) bracketingMattered++
          } else {
            expect(parallel).toBe(values.reduce((a, b) => (reduce === "min" ? Math.min(a, b) : Math.max(a, b)), Reduction.identity(reduce)))
          }
        }
      ),
      { numRuns: 40 }
    )
    expect(bracketingMattered).toBeGreaterThan(0)
  })

  it("a long range cut into the default ~64 chunks, the last one short, sums as documented", async () => {
    // 1e6 + 7 indices: default chunk 15626, 64 chunks, the last holding 15569; sizes the programs use.
    const n = 1_000_007
    const values = Array.from({ length: n }, (_, i) => Math.sin(i) * 10 ** ((i % 13) - 6))
    const data = shared(values)
    const expected = documentedSum(values)
    expect(Object.is(expected, values.reduce((a, b) => a + b, 0))).toBe(false)
    for (const schedule of Schedule.SCHEDULES) {
      const sum = await Tiers.run(tiers.threads(2), ParallelFor.parallelFor(reduceData, n, { data, op: 0 }, { reduce: "sum", schedule }))
      expect(Object.is(sum, expected)).toBe(true)
    }
  })

  it("every schedule on one pool of runners gives the same sum (many loops on one ParallelFor)", async () => {
    const values = Array.from({ length: 100_003 }, (_, i) => Math.sin(i) * 10 ** ((i % 17) - 8))
    const data = shared(values)
    const reference = await Effect.runPromise(ParallelFor.serial(reduceData, values.length, { data, op: 0 }, { reduce: "sum", chunk: 1000 }))
    const sums = await Tiers.run(
      tiers.threads(3),
      Effect.gen(function*() {
        const loops = yield* ParallelFor.make()
        return yield* Effect.forEach(Schedule.SCHEDULES, (schedule) =>
          loops.run(reduceData, values.length, { data, op: 0 }, { reduce: "sum", chunk: 1000, schedule }))
      })
    )
    for (const sum of sums) expect(Object.is(sum, reference)).toBe(true)
  })

  it("every index runs exactly once and a map loop writes the serial values, for any range, chunk, schedule, workers", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.option(fc.integer({ min: 1, max: 500 }), { nil: undefined }),
        fc.constantFrom(...Schedule.SCHEDULES),
        fc.integer({ min: 1, max: 4 }),
        async (start, length, chunk, schedule, workers) => {
          const end = start + length
          const hits = SharedArray.make("Int32", end)
          const src = shared(Array.from({ length: end }, (_, i) => Math.cos(i) * 1e3))
          const dst = SharedArray.make("Float64", end)
          const expected = SharedArray.make("Float64", end)
          await Effect.runPromise(ParallelFor.serial(mapData, { start, end }, { src, dst: expected }, { chunk }))
          await Tiers.run(
            tiers.threads(workers),
            Effect.gen(function*() {
              const loops = yield* ParallelFor.make()
              yield* loops.run(visit, { start, end }, { hits }, { chunk, schedule })
              yield* loops.run(mapData, { start, end }, { src, dst }, { chunk, schedule })
            })
          )
          for (let i = 0; i < end; i++) expect(hits[i]).toBe(i < start ? 0 : 1)
          expect(Array.from(dst)).toEqual(Array.from(expected))
        }
      ),
      { numRuns: 30 }
    )
  })

  it("the Local tier gives the serial bits too", async () => {
    const data = shared(Array.from({ length: 9999 }, (_, i) => 1 / (i + 1) - 0.001 * i))
    const reference = await Effect.runPromise(ParallelFor.serial(reduceData, 9999, { data, op: 0 }, { reduce: "sum", chunk: 64 }))
    const local = await Tiers.run(tiers.local(), ParallelFor.parallelFor(reduceData, 9999, { data, op: 0 }, { reduce: "sum", chunk: 64, schedule: "guided" }))
    expect(Object.is(local, reference)).toBe(true)
  })
})

describe("bad input gets a clear, typed error", () => {
  const runOn2 = <A, E>(effect: Effect.Effect<A, E, any>) => Tiers.run(tiers.threads(2), Effect.exit(effect))

  it("a function instead of a kernel", async () => {
    const closure = (_: unknown, lo: number, hi: number) => hi - lo
    const exit = await runOn2(ParallelFor.parallelFor(closure as never, 10, {}))
    const error = failure(exit)
    expect(error).toBeInstanceOf(Kernel.KernelInvalid)
    expect((error as Kernel.KernelInvalid).detail).toMatch(/expected a Kernel made with Kernel\.make.*got a function.*cannot be sent to workers/)
  })

  it("arguments that cannot be shared: a plain typed array, a closure, an object", async () => {
    const dst = SharedArray.make("Float64", 10)
    const cases: Array<[unknown, RegExp]> = [
      [{ src: new Float64Array(10), dst }, /"src" is a Float64Array over a plain ArrayBuffer.*writes would be lost.*SharedArray\.make/],
      [{ src: () => 1, dst }, /"src" is a function/],
      [{ src: { a: 1 }, dst }, /"src" is a Object: kernels take shared typed arrays/],
      [[1, 2], /record of shared typed arrays/]
    ]
    for (const [args, pattern] of cases) {
      const error = failure(await runOn2(ParallelFor.parallelFor(mapData, 10, args as never)))
      expect(error).toBeInstanceOf(Kernel.KernelInvalid)
      expect((error as Kernel.KernelInvalid).detail).toMatch(pattern)
    }
  })

  it("a bad range, chunk or schedule", async () => {
    const hits = SharedArray.make("Int32", 10)
    for (
      const [range, options, pattern] of [
        [{ start: 5, end: 2 }, {}, /start <= end/],
        [10, { chunk: 0 }, /chunk must be a positive integer/],
        [10, { chunk: 1.5 }, /chunk must be a positive integer/],
        [10, { schedule: "auto" }, /schedule must be one of static, dynamic, guided/]
      ] as const
    ) {
      const error = failure(await runOn2(ParallelFor.parallelFor(visit, range, { hits }, options as never)))
      expect(error).toBeInstanceOf(Kernel.KernelInvalid)
      expect((error as Kernel.KernelInvalid).detail).toMatch(pattern)
    }
  })

  it("Kernel.make refuses a module that is not a file URL", () => {
    expect(() => Kernel.make("k", { module: "here", run: () => 0 })).toThrow(/module must be import\.meta\.url/)
  })
})

describe("failures", () => {
  it("a kernel that throws fails the loop with KernelFailed (its range and message), for every schedule", async () => {
    for (const schedule of Schedule.SCHEDULES) {
      const exit = await Tiers.run(tiers.threads(2), Effect.exit(ParallelFor.parallelFor(throwAt, 10_000, { at: 4321 }, { schedule, chunk: 100 })))
      const error = failure(exit) as Kernel.KernelFailed
      expect(error).toBeInstanceOf(Kernel.KernelFailed)
      expect(error.detail).toContain("bad index 4321")
      expect(error.lo).toBeLessThanOrEqual(4321)
      expect(error.hi).toBeGreaterThan(4321)
    }
  })

  it("a reduction whose kernel returns nothing fails with KernelFailed saying so", async () => {
    const exit = await Tiers.run(tiers.threads(2), Effect.exit(ParallelFor.parallelFor(noPartial, 100, {}, { reduce: "sum" })))
    expect((failure(exit) as Kernel.KernelFailed).detail).toMatch(/returned nothing: a loop with a reduction needs/)
  })

  it("a worker dying inside a kernel fails the loop with WorkerDied, and the pool works again after", async () => {
    const tier = tiers.threads(2, { backoffMs: 10 })
    const exit = await Tiers.run(tier, Effect.exit(ParallelFor.parallelFor(exitAt, 1000, { at: 900 }, { chunk: 100 })))
    expect(failure(exit)).toMatchObject({ _tag: "WorkerDied" })
    const hits = SharedArray.make("Int32", 1000)
    await Tiers.run(tier, ParallelFor.parallelFor(visit, 1000, { hits }, { schedule: "dynamic", chunk: 10 }))
    expect(hits.every((h) => h === 1)).toBe(true)
  })

  it("interrupting a loop stops the workers at their next call boundary", async () => {
    const calls = SharedArray.make("Int32", 1)
    const chunks = 400
    const started = performance.now()
    await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(ParallelFor.parallelFor(slow, chunks, { calls, ms: 5 }, { schedule: "dynamic", chunk: 1 }))
        yield* Effect.sleep("150 millis")
        yield* Fiber.interrupt(fiber)
      })
    )
    const elapsed = performance.now() - started
    const afterInterrupt = Atomics.load(calls, 0)
    await new Promise((resolve) => setTimeout(resolve, 100))
    // 400 calls of 5 ms on 2 workers take a second; interrupted, the loop ran a fraction and then stopped.
    expect(afterInterrupt).toBeLessThan(chunks / 2)
    expect(Atomics.load(calls, 0)).toBe(afterInterrupt)
    expect(elapsed).toBeLessThan(5_000) // generous: the call counts above pin it; this rules out waiting for all 400
  })
})

describe("fault-tolerant prange: a kernel with disjoint writes survives a worker's death", () => {
  const n = 100_000
  const chunk = 1_000
  const at = 37_123
  const setup = (dieAt: number) => {
    const src = SharedArray.make("Float64", n)
    for (let i = 0; i < n; i++) src[i] = Math.sin(i) * 10 ** ((i % 17) - 8)
    return {
      src,
      dst: SharedArray.make("Float64", n),
      at: dieAt,
      dead: SharedArray.make("Int32", 1),
      hits: SharedArray.make("Int32", n)
    }
  }
  const reference = () => {
    const args = setup(-1)
    const sum = Effect.runSync(ParallelFor.serial(dyingDisjoint, n, args, { reduce: "sum", chunk }))
    return { dst: Float64Array.from(args.dst), sum }
  }
  const sameBits = (a: Float64Array, b: Float64Array) =>
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

  // Each schedule once, with and without a reduction in turn (a fresh tier per case costs ~0.3 s of boot).
  it.each(Schedule.SCHEDULES.map((schedule, i) => [schedule, i % 2 === 0] as const))(
    "%s schedule (reduction: %s): the dead worker's unfinished chunks run again, and only they; the result is serial's bits",
    async (schedule, withSum) => {
      const want = reference()
      const args = setup(at)
      // A tier of its own: a restart left over from another case (a worker replaced after that case's scope
      // closed) would otherwise be counted here.
      const outcome = await Effect.runPromise(Effect.scoped(
        Effect.gen(function*() {
          const system = yield* ActorSystem.ActorSystem
          const before = system.restarts()
          const loops = yield* ParallelFor.make()
          const sum = withSum
            ? yield* loops.run(dyingDisjoint, n, args, { reduce: "sum", chunk, schedule })
            : yield* Effect.as(loops.run(dyingDisjoint, n, args, { chunk, schedule }), undefined)
          yield* Effect.forEach([0, 1], (k) => system.awaitUp(k))
          return { sum, restarts: system.restarts() - before }
        })
      ).pipe(Effect.provide(Threads.layer({ workers: 2 }))))
      // The death happened, mid-chunk ...
      expect(args.dead[0]).toBe(1)
      expect(outcome.restarts).toBe(1)
      // ... and only what the dying call had started was computed twice: one run of indices just before `at`.
      const twice: Array<number> = []
      let outside = 0
      for (let i = 0; i < n; i++) {
        if (args.hits[i] === 2) twice.push(i)
        else if (args.hits[i] !== 1) outside++
      }
      expect(outside).toBe(0)
      if (twice.length > 0) {
        expect(twice.at(-1)).toBe(at - 1)
        expect(twice.length).toBe(at - twice[0]!)
      }
      expect(sameBits(args.dst, want.dst)).toBe(true)
      if (withSum) expect(Object.is(outcome.sum, want.sum)).toBe(true)
    }
  )

  it("a kernel that does not declare disjoint writes still fails typed with WorkerDied", async () => {
    const args = setup(at)
    const exit = await Tiers.run(
      tiers.threads(2),
      Effect.exit(Effect.flatMap(ParallelFor.make(), (loops) => loops.run(dyingUndeclared, n, args, { reduce: "sum", chunk })))
    )
    expect(args.dead[0]).toBe(1)
    expect(failure(exit)).toMatchObject({ _tag: "WorkerDied" })
  })

  it("on Local, with no death, a disjoint kernel gives serial's bits", async () => {
    const want = reference()
    const args = setup(-1)
    const sum = await Tiers.run(
      tiers.local(),
      Effect.flatMap(ParallelFor.make(), (loops) => loops.run(dyingDisjoint, n, args, { reduce: "sum", chunk, schedule: "dynamic" }))
    )
    expect(sameBits(args.dst, want.dst)).toBe(true)
    expect(Object.is(sum, want.sum)).toBe(true)
    expect(args.hits.every((h) => h === 1)).toBe(true)
  })
})
