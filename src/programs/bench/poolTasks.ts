/**
 * Tasks for the pool benchmarks: a cheap one (a message's worth of work per item is nothing) and a slow one
 * (a busy wait of `ms` milliseconds), run by reference on the pool's workers.
 */
import { Schema } from "effect"
import { Task } from "../../runtime/pool/index.ts"

export const square = Task.make("benchSquare", {
  module: import.meta.url,
  input: Schema.Number,
  output: Schema.Number,
  run: (x) => x * x
})

export const busy = Task.make("benchBusy", {
  module: import.meta.url,
  input: Schema.Number,
  output: Schema.Number,
  run: (ms) => {
    const end = performance.now() + ms
    while (performance.now() < end) { /* busy */ }
    return ms
  }
})
