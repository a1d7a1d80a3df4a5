/**
 * A user's program: the actor on 2 worker threads, a pool map of a task from the user's module and a parallelFor
 * kernel, each next to its serial reference; prints one JSON line for the test to compare.
 */
import { Effect } from "effect"
import { ActorSystem, Local, Threads } from "actorflow"
import { ParallelFor } from "actorflow/parallel"
import { Pool } from "actorflow/pool"
import { SharedArray } from "actorflow/shared"
import { threadId } from "node:worker_threads"
import * as Work from "./work.js"

const inputs = Array.from({ length: 3000 }, (_, i) => i + 1)
const n = 200_000
const data = SharedArray.make("Float64", n)
for (let i = 0; i < n; i++) data[i] = Math.sin(i) * 1e3

/** Two accumulators, told the same numbers; their totals, and the threads they ran on. */
const actors = Effect.gen(function*() {
  const refs = [
    yield* ActorSystem.spawn(Work.Accumulator, { start: 0 }, { worker: 0 }),
    yield* ActorSystem.spawn(Work.Accumulator, { start: 100 }, { worker: 1 })
  ]
  for (const ref of refs) for (const x of inputs) yield* ref.tell("add", x)
  const totals = yield* Effect.forEach(refs, (ref) => ref.ask("add", 0))
  const threads = yield* Effect.forEach(refs, (ref) => ref.ask("thread", undefined))
  return { totals, threads }
}).pipe(Effect.scoped)

const parallel = Effect.gen(function*() {
  const { threads, totals } = yield* actors
  const pool = yield* Pool.make()
  const counts = yield* pool.map(Work.divisors, inputs)
  const sum = yield* ParallelFor.parallelFor(Work.sumSquares, n, { data }, { reduce: "sum", schedule: "dynamic" })
  return { result: { totals, counts, sum }, threads }
}).pipe(Effect.scoped, Effect.provide(Threads.layer({ workers: 2 })))

const serial = Effect.gen(function*() {
  const { totals } = yield* actors
  const counts = inputs.map(Work.divisorCount)
  const sum = yield* ParallelFor.serial(Work.sumSquares, n, { data }, { reduce: "sum" })
  return { totals, counts, sum }
}).pipe(Effect.provide(Local.layer))

const program = Effect.gen(function*() {
  const { result, threads } = yield* parallel
  const reference = yield* serial
  return { parallel: result, serial: reference, threads, main: threadId }
})

Effect.runPromise(program).then(
  (out) => console.log(JSON.stringify(out)),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
