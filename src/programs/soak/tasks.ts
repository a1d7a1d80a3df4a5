/** The soak's pool task: a pure function of its item, so a retried chunk gives the same result. */
import { Schema } from "effect"
import { Task } from "../../runtime/pool/index.ts"

export const collatzSteps = (n: number): number => {
  let steps = 0
  for (let x = n; x !== 1 && steps < 10_000; steps++) x = x % 2 === 0 ? x / 2 : 3 * x + 1
  return steps
}

export const collatz = Task.make("collatz", {
  module: import.meta.url,
  input: Schema.Number,
  output: Schema.Number,
  run: collatzSteps
})
