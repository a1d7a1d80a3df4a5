/**
 * Schedulers of the load-balanced view: which engine, among those free to take
 * a task, gets it.
 *
 * - `leastload` (default): the engine with the fewest tasks outstanding, ties
 *   broken in turn, so a slow engine gets less;
 * - `roundrobin`: engines in turn, whatever their load;
 * - `random`: uniformly at random (seeded, so runs can be replayed).
 */

export type Kind = "leastload" | "roundrobin" | "random"

export const kinds: ReadonlyArray<Kind> = ["leastload", "roundrobin", "random"]

export interface Scheduler {
  readonly kind: Kind
  /** Pick one of `candidates` (engine ids, never empty); `load` gives an engine's outstanding tasks. */
  readonly pick: (candidates: ReadonlyArray<number>, load: (engine: number) => number) => number
}

export const make = (kind: Kind = "leastload", seed = 0x9e3779b9): Scheduler => {
  let cursor = 0
  /** The candidate at or after the cursor (engines in turn). */
  const next = (candidates: ReadonlyArray<number>) => {
    let best = candidates[0]!
    let bestDistance = Infinity
    for (const engine of candidates) {
      const distance = engine >= cursor ? engine - cursor : engine - cursor + 1e9
      if (distance < bestDistance) (best = engine), (bestDistance = distance)
    }
    cursor = best + 1
    return best
  }
  switch (kind) {
    case "leastload":
      return {
        kind,
        pick: (candidates, load) => {
          let least = Infinity
          for (const engine of candidates) least = Math.min(least, load(engine))
          return next(candidates.filter((engine) => load(engine) === least))
        }
      }
    case "roundrobin":
      return { kind, pick: (candidates) => next(candidates) }
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
