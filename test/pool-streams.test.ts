/**
 * `imap` / `mapUnordered` stream each chunk's results as the worker computes them: a result reaches the
 * consumer before its chunk is done, and a worker dying mid-chunk costs a resend without any result twice.
 */
import { Effect, Stream } from "effect"
import * as Fs from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import { Pool } from "../src/runtime/pool/index.ts"
import * as Os from "node:os"
import * as Path from "node:path"
import { gated, slowDieOnce } from "./fixtures/streamTasks.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

describe("Pool.imap and mapUnordered stream results", () => {
  it.each([["imap", false], ["mapUnordered", true]] as const)(
    "%s: a chunk's first result arrives before the chunk is done",
    async (_, unordered) => {
      const out = await Tiers.run(
        tiers.threads(2),
        Effect.gen(function*() {
          const pool = yield* Pool.make()
          const gate = new SharedArrayBuffer(4)
          const cell = new Int32Array(gate)
          const items = Array.from({ length: 6 }, (_, i) => ({ i, gate }))
          const stream = (unordered ? pool.mapUnordered : pool.imap)(gated, items, { chunkSize: 6 })
          return yield* Stream.runCollect(Stream.tap(stream, () =>
            Effect.sync(() => {
              // The first result opens the gate for the items still running in the same chunk.
              Atomics.store(cell, 0, 1)
              Atomics.notify(cell, 0)
            })))
        })
      )
      expect(out).toEqual([1, 1, 1, 1, 1, 1])
    }
  )

  it("imap: a worker dying mid-chunk, after some of its results arrived, costs a resend; every result arrives once, in order", async () => {
    const marker = Path.join(Os.tmpdir(), `actorflow-slow-die-once-${process.pid}`)
    Fs.rmSync(marker, { force: true })
    const xs = [...Array.from({ length: 12 }, (_, i) => i), -1, ...Array.from({ length: 12 }, (_, i) => i + 12)]
    const { out, beforeDeath } = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const pool = yield* Pool.make()
        let beforeDeath = 0
        const items = xs.map((x) => ({ x, ms: 3, marker }))
        const out = yield* Stream.runCollect(Stream.tap(pool.imap(slowDieOnce, items, { chunkSize: 25 }), () =>
          Effect.sync(() => {
            if (!Fs.existsSync(marker)) beforeDeath++
          })))
        return { out, beforeDeath }
      })
    )
    const died = Fs.existsSync(marker)
    Fs.rmSync(marker, { force: true })
    expect(died).toBe(true)
    // Results of the chunk reached the consumer before its worker died: the resend had to skip them.
    expect(beforeDeath).toBeGreaterThan(0)
    expect(out).toEqual(xs.map((x) => (x === -1 ? 0 : x + 1)))
  })
})
