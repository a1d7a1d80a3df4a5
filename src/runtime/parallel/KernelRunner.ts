/**
 * The built-in actor `parallelFor` places on every worker: it resolves kernels on demand (`Code.resolve`, like
 * `TaskRunner`), and runs its share of a loop's chunks under the loop's schedule.
 *
 * A job runs synchronously, as plain typed-array code: claims are one `Atomics` operation, partials are
 * written straight into a shared `Float64Array`, and the only check between kernel calls is the cancel word,
 * which the main thread sets when the loop is interrupted or another worker failed.
 *
 * For a kernel with disjoint writes, a job also marks each chunk it finished in a shared byte per chunk (`done`),
 * so that after a worker's death the loop knows which chunks to run again; such a re-run is a job over a `list`
 * of chunks, claimed one at a time like the dynamic schedule.
 */
import { Effect, Schema } from "effect"
import { Actor, ActorError, Code } from "../index.ts"
import * as Kernel from "./Kernel.ts"
import * as Schedule from "./Schedule.ts"

export const Job = Schema.Struct({
  kernel: Code.Shipped,
  /** Checked on the main thread (`Kernel.checkArgs`); shared memory passes through structured clone. */
  args: Schema.Unknown,
  start: Schema.Number,
  end: Schema.Number,
  chunk: Schema.Number,
  schedule: Schema.Literals(Schedule.SCHEDULES),
  worker: Schema.Number,
  workers: Schema.Number,
  /** `Schedule.CONTROL_WORDS` Int32 words. */
  control: Schema.instanceOf(SharedArrayBuffer),
  /** One Float64 per chunk when the loop has a reduction. */
  partials: Schema.NullOr(Schema.instanceOf(SharedArrayBuffer)),
  /** One byte per chunk, set once the chunk is done (kernels with disjoint writes). */
  done: Schema.NullOr(Schema.instanceOf(SharedArrayBuffer)),
  /** Int32 chunk indices: run only these (claimed through the control words' counter), whatever the schedule. */
  list: Schema.NullOr(Schema.instanceOf(SharedArrayBuffer))
})
export type Job = typeof Job.Type

const warmed = new Set<Kernel.Any>()

const findKernel = Effect.fnUntraced(function*(shipped: Code.Shipped) {
  const kernel = yield* Code.resolve(shipped, Kernel.isKernel, "kernel").pipe(
    Effect.mapError((error) => new Kernel.KernelUnavailable({ kernel: shipped.name, detail: error.detail }))
  )
  if (kernel.warmUp !== undefined && !warmed.has(kernel)) {
    warmed.add(kernel)
    const warmUp = kernel.warmUp
    yield* Effect.try({
      try: () => warmUp(),
      catch: (error) => new Kernel.KernelFailed({ kernel: shipped.name, lo: 0, hi: 0, detail: `warmUp: ${ActorError.describe(error)}` })
    })
  }
  return kernel
})

/**
 * Runs this worker's share of the loop's chunks; returns how many chunks it ran. Throws `KernelFailed` (after
 * setting the cancel word, so that the other workers stop too). Also the serial reference's loop.
 */
export const execute = (
  kernel: Kernel.Any,
  args: Kernel.Args,
  plan: Schedule.Plan,
  schedule: Schedule.Schedule,
  worker: number,
  workers: number,
  control: Int32Array<SharedArrayBuffer>,
  partials: Float64Array | null,
  finished: Uint8Array | null = null,
  list: Int32Array | null = null
): number => {
  const chunks = Schedule.chunkCount(plan)
  const run = kernel.run
  let done = 0
  let lo = 0
  let hi = 0
  /** Chunks [c0, c1): one call, or one call per chunk with a reduction. */
  const grab = (c0: number, c1: number): void => {
    if (partials === null) {
      lo = Schedule.chunkLo(plan, c0)
      hi = Schedule.chunkHi(plan, c1 - 1)
      run(args, lo, hi)
      done += c1 - c0
      if (finished !== null) for (let c = c0; c < c1; c++) Atomics.store(finished, c, 1)
      return
    }
    for (let c = c0; c < c1; c++) {
      if (c > c0 && Schedule.isCancelled(control)) return
      lo = Schedule.chunkLo(plan, c)
      hi = Schedule.chunkHi(plan, c)
      const partial = run(args, lo, hi)
      if (typeof partial !== "number") {
        throw new Kernel.KernelFailed({
          kernel: kernel.name,
          lo,
          hi,
          detail: `returned ${partial === undefined ? "nothing" : typeof partial}: a loop with a reduction needs ` +
            `the chunk's partial (a number) from every call`
        })
      }
      partials[c] = partial
      done++
      if (finished !== null) Atomics.store(finished, c, 1)
    }
  }
  try {
    if (list !== null) {
      while (!Schedule.isCancelled(control)) {
        const at = Schedule.claimDynamic(control)
        if (at >= list.length) break
        grab(list[at]!, list[at]! + 1)
      }
      return done
    }
    switch (schedule) {
      case "static": {
        const [first, last] = Schedule.staticBlock(chunks, worker, workers)
        if (first < last && !Schedule.isCancelled(control)) grab(first, last)
        break
      }
      case "dynamic": {
        while (!Schedule.isCancelled(control)) {
          const c = Schedule.claimDynamic(control)
          if (c >= chunks) break
          grab(c, c + 1)
        }
        break
      }
      case "guided": {
        const size = new Int32Array(1)
        while (!Schedule.isCancelled(control)) {
          const c = Schedule.claimGuided(control, chunks, workers, size)
          if (c >= chunks) break
          grab(c, c + size[0]!)
        }
        break
      }
    }
  } catch (thrown) {
    Schedule.cancel(control)
    if (thrown instanceof Kernel.KernelFailed) throw thrown
    throw new Kernel.KernelFailed({ kernel: kernel.name, lo, hi, detail: ActorError.describe(thrown) })
  }
  return done
}

export const KernelRunner = Actor.make("KernelRunner", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    /** Load a kernel's module here and run its warm-up (done by `run` too, on first use). */
    load: Actor.message({
      payload: Code.Shipped,
      error: Schema.Union([Kernel.KernelUnavailable, Kernel.KernelFailed])
    }),
    /** Run this worker's share of a loop; replies with the number of chunks it ran. */
    run: Actor.message({
      payload: Job,
      success: Schema.Number,
      error: Schema.Union([Kernel.KernelUnavailable, Kernel.KernelFailed])
    })
  },
  behaviour: () =>
    Effect.succeed({
      load: (shipped) => Effect.asVoid(findKernel(shipped)),
      run: (job) =>
        Effect.flatMap(findKernel(job.kernel), (kernel) =>
          Effect.try({
            try: () =>
              execute(
                kernel,
                job.args as Kernel.Args,
                job,
                job.schedule,
                job.worker,
                job.workers,
                new Int32Array(job.control, 0, Schedule.CONTROL_WORDS),
                job.partials === null ? null : new Float64Array(job.partials),
                job.done === null ? null : new Uint8Array(job.done),
                job.list === null ? null : new Int32Array(job.list)
              ),
            catch: (error) =>
              error instanceof Kernel.KernelFailed
                ? error
                : new Kernel.KernelFailed({ kernel: job.kernel.name, lo: job.start, hi: job.end, detail: ActorError.describe(error) })
          }))
    })
})

/** A ref to a running KernelRunner. */
export type Ref = Actor.Ref<(typeof KernelRunner)["protocol"]>
