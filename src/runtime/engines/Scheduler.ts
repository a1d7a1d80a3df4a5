/**
 * Schedulers of the load-balanced view: which engine, among those free to take
 * a task, gets it.
 *
 * - `leastload` (default): the engine with the fewest tasks outstanding, ties
 *   broken in turn, so a slow engine gets less;
 * - `roundrobin`: engines in turn, whatever their load;
 * - `random`: uniformly at random (seeded, so runs can be replayed).
 */

import { Balancer } from "../index.ts"

export type Kind = "leastload" | "roundrobin" | "random"

export const kinds: ReadonlyArray<Kind> = ["leastload", "roundrobin", "random"]

export interface Scheduler {
  readonly kind: Kind
  /** Pick one of `candidates` (engine ids, never empty); `load` gives an engine's outstanding tasks. */
  readonly pick: (candidates: ReadonlyArray<number>, load: (engine: number) => number) => number
}

export const make = (kind: Kind = "leastload", seed = 0x9e3779b9): Scheduler => {
  let cursor = 0
  /** The least-loaded candidate, ties (and, with no load, everyone) taken in turn from the cursor. */
  const next = (candidates: ReadonlyArray<number>, load: (engine: number) => number) => {
    const engine = Balancer.leastLoaded(candidates, load, cursor)
    cursor = engine + 1
    return engine
  }
  const none = () => 0
  switch (kind) {
    case "leastload":
      return { kind, pick: next }
    case "roundrobin":
      return { kind, pick: (candidates) => next(candidates, none) }
    case "random": {
      let state = seed >>> 0 || 1
      return {
        kind,
        pick: (candidates) => {
          // xorshift32
          state ^= state << 13
          state >>>= 0
          state ^= state >>> 17
          state ^= state << 5
          state >>>= 0
          return candidates[state % candidates.length]!
        }
      }
    }
  }
}
