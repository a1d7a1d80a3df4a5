/**
 * A user's module of code that runs on workers: an actor, a pool task and a parallelFor kernel, each made at
 * module level with `module: import.meta.url` so that workers find them by importing this module.
 */
import { Effect, Schema } from "effect"
import { Actor } from "actorflow"
import { Kernel } from "actorflow/parallel"
import { Task } from "actorflow/pool"
import { threadId } from "node:worker_threads"

/** Adds what it is told; answers its total, and which thread it lives on. */
export const Accumulator = Actor.make("Accumulator", {
  module: import.meta.url,
  init: Schema.Struct({ start: Schema.Number }),
  protocol: {
    add: Actor.message({ payload: Schema.Number, success: Schema.Number }),
    thread: Actor.message({ payload: Schema.Void, success: Schema.Number })
  },
  behaviour: ({ start }) =>
    Effect.sync(() => {
      let total = start
      return {
        add: (n: number) => Effect.sync(() => (total += n)),
        thread: () => Effect.succeed(threadId)
      }
    })
})

/** How many divisors n has: plain code, so the serial reference can call it directly. */
export const divisorCount = (n: number): number => {
  let count = 0
  for (let d = 1; d * d <= n; d++) if (n % d === 0) count += d * d === n ? 1 : 2
  return count
}

export const divisors = Task.make("divisors", {
  module: import.meta.url,
  input: Schema.Int,
  output: Schema.Int,
  run: divisorCount
})

/** Sum of squares of `data[lo..hi)`: a reduction kernel over shared memory. */
export const sumSquares = Kernel.make("sumSquares", {
  module: import.meta.url,
  run: ({ data }: { data: Float64Array }, lo, hi) => {
    let sum = 0
    for (let i = lo; i < hi; i++) sum += data[i]! * data[i]!
    return sum
  }
})
