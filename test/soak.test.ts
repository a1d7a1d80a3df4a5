/**
 * The fault-injection soak, short: about 40 seconds of every kind of work under seeded faults, as CI runs it.
 * Faults must really have struck (and workers restarted) before the outcome counts: no hangs, no wrong results,
 * no untyped failures. The schedule itself must be a pure function of the seed.
 */
import { describe, expect, it } from "vitest"
import { plan } from "../src/programs/soak/Schedule.ts"
import * as Program from "./support/program.ts"

describe("soak", () => {
  it("a seed replays the same schedule, and different seeds differ", () => {
    const schedule = (seed: number) => Array.from({ length: 50 }, (_, run) => plan(seed, run, 2, 0.7).plan)
    expect(schedule(7)).toEqual(schedule(7))
    expect(schedule(7)).not.toEqual(schedule(8))
    const kinds = new Set(schedule(7).map((p) => p.fault))
    expect(kinds.size).toBeGreaterThanOrEqual(5) // every fault kind (and none) appears in 50 runs
  })

  it("40 s under faults: no hangs, no wrong results, every failure typed", async () => {
    const { code, stderr, stdout } = await Program.run(["src/programs/soak.ts", "--seconds", "40", "--seed", "11", "--workers", "2", "--json"], { timeoutMs: 150_000 })
    const out = JSON.parse(stdout.trim()) as {
      runs: number; ok: number; hangs: number; wrong: number; failedUntyped: number; restarts: number
      faults: Record<string, number>; notes: Array<string>
    }
    console.log(`soak: ${JSON.stringify({ ...out, notes: out.notes.slice(0, 5) })}`)
    // The faults happened and were recovered from.
    expect(Object.values(out.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(5)
    expect(out.restarts).toBeGreaterThan(3)
    expect(out.ok).toBeGreaterThan(5)
    // What must never happen.
    expect(out.notes).toEqual([])
    expect(out.hangs).toBe(0)
    expect(out.wrong).toBe(0)
    expect(out.failedUntyped).toBe(0)
    expect(code, stderr).toBe(0)
  }, 180_000)
})
