/**
 * A runner's register of hosted actors (`Hosted`): tells for an actor not started yet wait for it, in order, and
 * are given up after `HOLD_MS` (so a runner that lives for days keeps neither them nor their timers).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { HOLD_MS, Hosted } from "../src/runtime/internal/cluster/Hosted.ts"

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe("Hosted", () => {
  it("delivers at once to a hosted actor, and in order once a waited-for actor starts", () => {
    const hosted = new Hosted()
    const got: Array<string> = []
    hosted.set(1, 0)
    hosted.whenHosted(1, (thread) => got.push(`a@${thread}`))
    hosted.whenHosted(2, (thread) => got.push(`b@${thread}`))
    hosted.whenHosted(2, (thread) => got.push(`c@${thread}`))
    expect(got).toEqual(["a@0"])
    hosted.set(2, 3)
    hosted.whenHosted(2, (thread) => got.push(`d@${thread}`))
    expect(got).toEqual(["a@0", "b@3", "c@3", "d@3"])
    expect(vi.getTimerCount()).toBe(0)
  })

  it("gives up after HOLD_MS, once, and keeps no timer", () => {
    const hosted = new Hosted()
    const got: Array<number | undefined> = []
    hosted.whenHosted(7, (thread) => got.push(thread))
    vi.advanceTimersByTime(HOLD_MS - 1)
    expect(got).toEqual([])
    vi.advanceTimersByTime(1)
    expect(got).toEqual([undefined])
    hosted.set(7, 1)
    expect(got).toEqual([undefined])
    expect(vi.getTimerCount()).toBe(0)
  })

  it("a stopped actor is no longer hosted: its next tell waits; clear gives every waiting tell up", () => {
    const hosted = new Hosted()
    const got: Array<number | undefined> = []
    hosted.set(4, 2)
    hosted.delete(4)
    hosted.whenHosted(4, (thread) => got.push(thread))
    expect(got).toEqual([])
    hosted.clear()
    expect(got).toEqual([undefined])
    expect(vi.getTimerCount()).toBe(0)
  })
})
