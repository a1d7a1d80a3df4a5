/**
 * Progress of engine maps (`AsyncResult.progress()`): it moves while the map runs — also inside a chunk (a
 * load-balanced chunk, a direct view's part) whose reply has not come back, through the slot its engine stores
 * into — never goes back and ends exactly at the total, on Threads(2) and on Local; `waitInteractive` draws the bar
 * on a terminal while it waits and nothing elsewhere. Results stay those of the serial map. No timing is asserted.
 */
import { Effect, Fiber } from "effect"
import { afterAll, describe, expect, it, vi } from "vitest"
import { ActorSystem, Local } from "../src/runtime/index.ts"
import { Client } from "../src/runtime/engines/index.ts"
import type { AsyncResult } from "../src/runtime/engines/index.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

const onThreads = <A, E>(f: (client: Client.Shape) => Effect.Effect<A, E>) =>
  Tiers.run(tiers.threads(2), Effect.flatMap(Client.make({}), f))

const onLocal = <A, E>(f: (client: Client.Shape) => Effect.Effect<A, E>) =>
  Tiers.run(tiers.local(), Effect.flatMap(Client.make({ engines: 2 }), f))

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Squares after ~2 ms of work (shipped by source: it captures nothing). */
const slowSquare = (x: number) => {
  const end = performance.now() + 2
  while (performance.now() < end) { /* busy */ }
  return x * x
}

/** Squares after a 1 ms timer: it gives the thread back, so a Local caller can watch. */
const sleepySquare = (x: number) => new Promise<number>((resolve) => setTimeout(() => resolve(x * x), 1))

/** Wait for `result`, reading its progress every 2 ms meanwhile; the last reading is taken after it ended. */
const watched = <A, E>(result: AsyncResult.AsyncResult<A, E, any>) =>
  Effect.gen(function*() {
    const seen: Array<{ done: number; total: number }> = []
    const read = Effect.sync(() => void seen.push(result.progress()))
    const poller = yield* Effect.forkChild(Effect.forever(Effect.andThen(read, Effect.sleep(2))))
    const out = yield* result.get
    yield* Fiber.interrupt(poller)
    yield* read
    return { out, seen }
  })

const expectMoved = (seen: ReadonlyArray<{ done: number; total: number }>, total: number) => {
  for (let i = 1; i < seen.length; i++) expect(seen[i]!.done).toBeGreaterThanOrEqual(seen[i - 1]!.done)
  expect(seen.at(-1)).toEqual({ done: total, total })
  expect(seen.some((s) => s.done > 0 && s.done < total)).toBe(true)
  expect(seen.every((s) => s.done <= total)).toBe(true)
}

describe("engine map progress", () => {
  it("load-balanced, many chunks on Threads(2): moves, never back, ends at the total; results as serial", async () => {
    // 200 items of ~2 ms in chunks of 10: 20 chunks over 2 engines, ~0.2 s.
    const { out, seen } = await onThreads((client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced()
        return yield* watched(yield* lview.map(slowSquare, range(200), { chunkSize: 10 }))
      }))
    expect(out).toEqual(range(200).map((x) => x * x))
    expectMoved(seen, 200)
  })

  it("inside a chunk on Threads(2): one chunk, one reply, yet readings in between", async () => {
    const { out, seen } = await onThreads((client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced()
        return yield* watched(yield* lview.map(slowSquare, range(60), { chunkSize: 60 }))
      }))
    expect(out).toEqual(range(60).map((x) => x * x))
    expectMoved(seen, 60)
  })

  it("a direct view's map moves inside its parts (one message per engine) on Threads(2)", async () => {
    const { out, seen } = await onThreads((client) =>
      Effect.gen(function*() {
        const dview = yield* client.view()
        return yield* watched(yield* dview.map(slowSquare, range(80)))
      }))
    expect(out).toEqual(range(80).map((x) => x * x))
    expectMoved(seen, 80)
    // Replies come in parts of 40: anything else was read from the engines' slots.
    expect(seen.some((s) => s.done % 40 !== 0)).toBe(true)
  })

  it("moves inside a chunk on Local too (load-balanced and direct)", async () => {
    const { balanced, direct } = await onLocal((client) =>
      Effect.gen(function*() {
        const lview = yield* client.loadBalanced()
        const dview = yield* client.view()
        const balanced = yield* watched(yield* lview.map(sleepySquare, range(40), { chunkSize: 40 }))
        const direct = yield* watched(yield* dview.map(sleepySquare, range(40)))
        return { balanced, direct }
      }))
    expect(balanced.out).toEqual(range(40).map((x) => x * x))
    expect(direct.out).toEqual(range(40).map((x) => x * x))
    expectMoved(balanced.seen, 40)
    expectMoved(direct.seen, 40)
    expect(direct.seen.some((s) => s.done % 20 !== 0)).toBe(true)
  })

  it("counts replies only where engines share no memory (as on Cluster)", async () => {
    // The Local tier, told it shares no memory: no slot travels, so readings are whole chunks.
    const { out, seen } = await Effect.runPromise(
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        return yield* Effect.gen(function*() {
          const client = yield* Client.make({ engines: 2 })
          const lview = yield* client.loadBalanced()
          return yield* watched(yield* lview.map(sleepySquare, range(40), { chunkSize: 10 }))
        }).pipe(Effect.provideService(ActorSystem.ActorSystem, { ...system, sharedMemory: false }))
      }).pipe(Effect.scoped, Effect.provide(Local.layer))
    )
    expect(out).toEqual(range(40).map((x) => x * x))
    expectMoved(seen, 40)
    expect(seen.every((s) => s.done % 10 === 0)).toBe(true)
  })

  it("waitInteractive draws the bar on a terminal while it waits, and nothing elsewhere", async () => {
    const writes: Array<string> = []
    const write = vi.spyOn(process.stderr, "write").mockImplementation((chunk: unknown) => {
      writes.push(String(chunk))
      return true
    })
    const tty = process.stderr.isTTY
    try {
      // Not a terminal: it waits and draws nothing.
      process.stderr.isTTY = false
      const quiet = await onThreads((client) =>
        Effect.gen(function*() {
          const lview = yield* client.loadBalanced()
          const result = yield* lview.map(sleepySquare, range(10))
          return [yield* result.waitInteractive(), yield* result.get] as const
        }))
      expect(quiet).toEqual([true, range(10).map((x) => x * x)])
      expect(writes.filter((w) => w.includes("["))).toEqual([])
      // A terminal: 24 items of 120 ms over 2 engines take ~1.4 s, past the bar's first second.
      process.stderr.isTTY = true
      const slow = (x: number) => new Promise<number>((resolve) => setTimeout(() => resolve(x * x), 120))
      const shown = await onThreads((client) =>
        Effect.gen(function*() {
          const lview = yield* client.loadBalanced()
          const result = yield* lview.map(slow, range(24), { chunkSize: 1 })
          return [yield* result.waitInteractive({ label: "squares" }), yield* result.get] as const
        }))
      expect(shown).toEqual([true, range(24).map((x) => x * x)])
      expect(writes.some((w) => w.startsWith("\rsquares [") && w.includes("/ 24.0,"))).toBe(true)
      expect(writes.at(-1)).toBe("\r\x1b[K") // the line is cleared at the end
    } finally {
      process.stderr.isTTY = tty
      write.mockRestore()
    }
  })
})
