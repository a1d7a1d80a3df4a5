/**
 * The libraries on the Cluster tier, unchanged (2 runner processes × 1 thread over plain TCP on loopback, an
 * embedded Postgres): pool maps, engines with their direct and load-balanced views, the particle scatter /
 * evolve / gather and halo regions exchanging messages across runners all equal their serial references — the
 * same properties as on threads, with fewer and smaller cases (every message crosses processes). Failures on a
 * runner arrive as on threads: mapped to the `.ts` lines that threw, with their causes and where they ran.
 */
import { Effect, Fiber, Stream } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { initialState, runDecomposed, simulateSerial } from "../src/actors/halo/index.ts"
import { checksum } from "../src/actors/particles/index.ts"
import { randomParticles } from "../src/actors/particles/ParticleState.ts"
import * as HaloModes from "../src/programs/halo/modes.ts"
import * as ParticleModes from "../src/programs/particles/modes.ts"
import { isActorDefect } from "../src/runtime/ActorError.ts"
import { Client, Remote } from "../src/runtime/engines/index.ts"
import { isRemoteError } from "../src/runtime/engines/Errors.ts"
import { ActorSystem, Progress } from "../src/runtime/index.ts"
import { Pool } from "../src/runtime/pool/index.ts"
import * as fns from "./fixtures/engineFns.ts"
import * as throwing from "./fixtures/throwing.ts"
import { square } from "./fixtures/tasks.ts"
import { failureOf } from "./support/exit.ts"
import { gridArb, paramsArb, sameBits } from "./support/halo.ts"
import { at, outer, root, split } from "./support/stacks.ts"
import * as TestCluster from "./support/cluster.ts"

const F = Remote.module(new URL("./fixtures/engineFns.ts", import.meta.url).href, fns)
const T = Remote.module(new URL("./fixtures/throwing.ts", import.meta.url).href, throwing)

const { run } = TestCluster.use({ runners: 2, threads: 1 })

describe("libraries on the Cluster tier", () => {
  it("Pool.map equals Array.map, in order, for any input and chunk size", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -1e6, max: 1e6 }), { maxLength: 300 }),
        fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
        async (xs, chunkSize) => {
          const out = await run(Effect.flatMap(Pool.make(), (pool) => pool.map(square, xs, chunkSize === undefined ? {} : { chunkSize })))
          expect(out).toEqual(xs.map((x) => x * x))
        }
      ),
      { numRuns: 6 }
    )
  })

  it("Pool.imap / mapUnordered stream each chunk's results from the runners and equal Array.map", async () => {
    const xs = Array.from({ length: 60 }, (_, i) => i - 20)
    const { ordered, streams, unordered } = await run(
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        return {
          streams: (yield* ActorSystem.ActorSystem).streams,
          ordered: yield* Stream.runCollect(pool.imap(square, xs, { chunkSize: 7 })),
          unordered: yield* Stream.runCollect(pool.mapUnordered(square, xs, { chunkSize: 7 }))
        }
      })
    )
    expect(streams).toBe(true)
    expect(ordered).toEqual(xs.map((x) => x * x))
    expect([...unordered].sort((a, b) => a - b)).toEqual(xs.map((x) => x * x).sort((a, b) => a - b))
  })

  it("progress of pool and engine maps counts replies (no shared memory across processes), ending at the total", async () => {
    const xs = Array.from({ length: 100 }, (_, i) => i)
    const { out, readings, balanced, done } = await run(
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        const meter = Progress.meter()
        const readings: Array<number> = []
        const read = Effect.sync(() => void readings.push(meter.snapshot().done))
        const poller = yield* Effect.forkChild(Effect.forever(Effect.andThen(read, Effect.sleep(1))))
        const out = yield* pool.map(square, xs, { chunkSize: 10, progress: meter })
        yield* Fiber.interrupt(poller)
        yield* read
        const client = yield* Client.make({ engines: 2 })
        const lview = yield* client.loadBalanced()
        const result = yield* lview.map((x: number) => x + 1, xs, { chunkSize: 10 })
        const balanced = yield* result.waitInteractive({ enabled: false })
        return { out, readings, balanced: [balanced, yield* result.get] as const, done: result.progress() }
      })
    )
    expect(out).toEqual(xs.map((x) => x * x))
    expect(readings.at(-1)).toBe(100)
    expect(readings.every((r) => r % 10 === 0)).toBe(true)
    expect(balanced).toEqual([true, xs.map((x) => x + 1)])
    expect(done).toEqual({ done: 100, total: 100 })
  })

  it("engines: the direct view scatters, applies and gathers; the load-balanced view maps like Array.map", async () => {
    const xs = Array.from({ length: 40 }, (_, i) => i - 7)
    const [applied, gathered, mapped, balanced] = await run(
      Effect.gen(function*() {
        const client = yield* Client.make({ engines: 3 })
        const dview = yield* client.view()
        const lview = yield* client.loadBalanced()
        const applied = yield* yield* dview.apply(F.square, 3)
        yield* dview.scatter("part", xs)
        const gathered = yield* yield* dview.gather("part")
        const mapped = yield* yield* dview.map((x: number) => x * 2, xs)
        const balanced = yield* yield* lview.map((x: number) => 2 * x + 1, xs, { chunkSize: 5 })
        return [applied, gathered, mapped, balanced] as const
      })
    )
    expect(applied).toEqual([9, 9, 9])
    expect(gathered).toEqual(xs)
    expect(mapped).toEqual(xs.map((x) => x * 2))
    expect(balanced).toEqual(xs.map((x) => 2 * x + 1))
  })

  it("particles: scatter / evolve / gather over actors gives the serial bits", async () => {
    for (const [n, steps, seed] of [[1500, 20, 3], [777, 7, 9]] as const) {
      const initial = randomParticles(n, seed)
      const reference = await Effect.runPromise(Effect.map(Effect.flatMap(ParticleModes.serial, (runner) => runner.evolve(initial, steps)), (s) => checksum(s.x, s.y)))
      const out = await run(ParticleModes.run("distributed", initial, steps))
      expect(checksum(out.x, out.y)).toBe(reference)
    }
  })

  it("halo regions exchanging messages across runners equal the serial reference bit for bit", async () => {
    await fc.assert(
      fc.asyncProperty(paramsArb(200, 8, 0.05), gridArb, async (p, grid) => {
        const initial = initialState(p)
        const reference = runDecomposed(p, grid)
        const result = await run(
          Effect.gen(function*() {
            const runner = yield* HaloModes.prepare("messages", { params: p, grid })
            return yield* runner.run(initial)
          }).pipe(Effect.result)
        )
        if (reference._tag === "Invalid") {
          expect(result._tag).toBe("Failure")
          return
        }
        expect(result._tag).toBe("Success")
        if (result._tag === "Success") expect(sameBits(result.success.state, simulateSerial(p, initial))).toBe(true)
      }),
      { numRuns: 4 }
    )
  })

  it("a failure on a runner carries its stack mapped to the .ts lines that threw, its cause and where it ran", async () => {
    expect(outer).toBeGreaterThan(0)
    const { defect, failed } = await run(Effect.gen(function*() {
      // On the second runner's thread (worker 1): the failure crosses the runner's main thread and the cluster.
      const reader = yield* ActorSystem.spawn(throwing.Reader, undefined, { worker: 1 })
      const defect = failureOf(yield* Effect.exit(reader.ask("read", "x")))
      const client = yield* Client.make({ engines: 2 })
      const view = yield* client.view()
      const failed = yield* Effect.flip(yield* view.apply(T.readNumber, "x"))
      return { defect, failed }
    }))
    if (!isActorDefect(defect)) throw new Error(`expected an ActorDefect, got ${String(defect)}`)
    expect(defect).toMatchObject({ actor: "Reader", message: "read", worker: 1, detail: 'RangeError: bad input "x"' })
    const actor = split(defect.stack ?? "")
    expect(actor.own).toMatch(at(outer))
    expect(actor.own).not.toMatch(/\.mjs:\d+/)
    expect(actor.cause).toMatch(/^SyntaxError: not a number: x/)
    expect(actor.cause).toMatch(at(root))
    expect(failed._tag).toBe("CompositeError")
    if (failed._tag !== "CompositeError") return
    for (const engine of failed.engines) {
      const error = failed.on(engine)
      if (!isRemoteError(error)) throw new Error(`expected a RemoteError on engine ${engine}, got ${String(error)}`)
      expect(error).toMatchObject({ engine, error: "RangeError", function: "readNumber" })
      const { cause, own } = split(error.stack)
      expect(own).toMatch(at(outer))
      expect(cause).toMatch(at(root))
    }
    expect(failed.engines).toEqual([0, 1])
  })
})
