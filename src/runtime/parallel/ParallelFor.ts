/**
 * `parallelFor`: the counterpart of Cython's `prange` / OpenMP's `parallel for` — run a kernel over an index
 * range on every worker, over shared typed arrays, with a schedule, a chunk size and an optional reduction.
 *
 * ```ts
 * const loops = yield* ParallelFor.make()                       // one KernelRunner per worker
 * yield* loops.run(evolve, n, { x, y, w, nsteps }, { schedule: "static" })
 * const total = yield* loops.run(sumOf, n, { data }, { reduce: "sum", schedule: "dynamic", chunk: 4096 })
 * ```
 *
 * Same result as serial, bit for bit: the range is cut into logical chunks of `chunk` indices whatever the
 * schedule and worker count (see `Schedule`); with a reduction each chunk's partial lands at its chunk index in
 * a shared `Float64Array` and the main thread combines them in a fixed tree (see `Reduction`). `serial` runs the
 * same chunks and tree on the calling thread: the reference.
 *
 * Failures are typed: `KernelInvalid` (not a kernel, arguments that cannot be shared, a bad range) before
 * anything runs, `KernelUnavailable`, `KernelFailed` (the other workers stop after their current call), and the
 * runtime's `WorkerDied`. Work on shared memory is in general not idempotent, so a worker's death fails the loop —
 * unless the kernel declares `writes: "disjoint"` (see `Kernel`): then every finished chunk is marked in shared
 * memory, the other workers go on with theirs, and the chunks the dead worker had not finished are run again on
 * the workers that are up (at most `retries` rounds), so the result is still the serial one, bit for bit.
 * Interrupting the loop sets the cancel word: workers stop at their next kernel call boundary, and the
 * interruption completes once they have (waiting at most `STOP_WAIT_MS`).
 */
import { Cause, Context, Effect, Exit, Fiber, Layer, Option } from "effect"
import type { Scope } from "effect"
import { ActorError, ActorSystem } from "../index.ts"
import type { Code } from "../index.ts"
import * as Kernel from "./Kernel.ts"
import { execute, KernelRunner } from "./KernelRunner.ts"
import type * as KernelRunnerModule from "./KernelRunner.ts"
import * as Reduction from "./Reduction.ts"
import * as Schedule from "./Schedule.ts"

export type Range = number | { readonly start: number; readonly end: number }

export interface Options {
  /** Default `static`. */
  readonly schedule?: Schedule.Schedule | undefined
  /** Indices per logical chunk; default `Schedule.defaultChunk(n)` (about 64 chunks). */
  readonly chunk?: number | undefined
  /** Kernels with disjoint writes: rounds of re-runs after workers died (default 3). */
  readonly retries?: number | undefined
}

export interface ReduceOptions extends Options {
  readonly reduce: Reduction.Reduce
}

/** What a loop can fail with: the kernel's own errors, the runtime's, and runners that could not be started. */
export type ParallelForError = Kernel.KernelError | ActorError.ActorError | ActorError.SpawnFailed

/** How long an interrupted loop waits for its workers to stop at a call boundary. */
export const STOP_WAIT_MS = 2_000

/** A loop runner: with `reduce` it succeeds with the reduction, without it with nothing. */
export interface Run<E, R = never> {
  <A extends Kernel.ArgsOf<A>>(kernel: Kernel.Kernel<A>, range: Range, args: A, options: ReduceOptions): Effect.Effect<number, E, R>
  <A extends Kernel.ArgsOf<A>>(kernel: Kernel.Kernel<A>, range: Range, args: A, options?: Options): Effect.Effect<void, E, R>
}

export interface Shape {
  /** Workers the loops run on (one KernelRunner each). */
  readonly workers: number
  readonly run: Run<ParallelForError>
  /** Loads the kernel on every worker and runs its warm-up, so that the first loop is timed warm. */
  readonly prepare: (kernel: Kernel.Any) => Effect.Effect<void, ParallelForError>
}

interface Resolved {
  readonly plan: Schedule.Plan
  readonly chunks: number
  readonly schedule: Schedule.Schedule
  readonly reduce: Reduction.Reduce | undefined
}

/** Checks kernel, arguments, range and options; the loop's plan, or why it cannot run. */
const resolve = (kernel: unknown, range: Range, args: unknown, options: Partial<ReduceOptions> | undefined): Resolved | Kernel.KernelInvalid => {
  const invalid = Kernel.checkKernel(kernel)
  if (invalid !== undefined) return invalid
  const k = kernel as Kernel.Any
  const fail = (detail: string) => new Kernel.KernelInvalid({ kernel: k.name, detail })
  const argsInvalid = Kernel.checkArgs(k, args)
  if (argsInvalid !== undefined) return argsInvalid
  const start = typeof range === "number" ? 0 : range.start
  const end = typeof range === "number" ? range : range.end
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    return fail(`range must be integers with start <= end, got [${start}, ${end})`)
  }
  const chunk = options?.chunk ?? Schedule.defaultChunk(end - start)
  if (!Number.isSafeInteger(chunk) || chunk < 1) return fail(`chunk must be a positive integer, got ${chunk}`)
  const schedule = options?.schedule ?? "static"
  if (!Schedule.SCHEDULES.includes(schedule)) {
    return fail(`schedule must be one of ${Schedule.SCHEDULES.join(", ")}, got ${String(schedule)}`)
  }
  const reduce = options?.reduce
  if (reduce !== undefined && !Reduction.REDUCTIONS.includes(reduce)) {
    return fail(`reduce must be one of ${Reduction.REDUCTIONS.join(", ")}, got ${String(reduce)}`)
  }
  const plan = { start, end, chunk }
  const chunks = Schedule.chunkCount(plan)
  if (chunks > 2 ** 31 - 2) return fail(`${chunks} chunks is too many: use a larger chunk`)
  return { plan, chunks, schedule, reduce }
}

const newControl = () => new Int32Array(new SharedArrayBuffer(Schedule.CONTROL_WORDS * 4))

/** The worker running a share died, or is lost: its chunks can be run again elsewhere (disjoint writes). */
const isDeath = (error: unknown): boolean => ActorError.isWorkerDied(error) || ActorError.isWorkerLost(error)

/** Loops as a service (`ParallelFor.layer()`), like `Pool.Pool`. */
export class ParallelFor extends Context.Service<ParallelFor, Shape>()("actorflow/parallel/ParallelFor") {}

/** Runners for every worker of the provided tier; they stop when the scope closes. */
export const make = (): Effect.Effect<Shape, ActorError.SpawnFailed, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const system = yield* ActorSystem.ActorSystem
    const runners = yield* ActorSystem.spawnMany(KernelRunner, system.workers, () => ({}))
    const workers = runners.length

    const ship = (kernel: Kernel.Any): Effect.Effect<Code.Shipped, Kernel.KernelUnavailable> =>
      Effect.mapError(system.ship(kernel), (error) =>
        new Kernel.KernelUnavailable({ kernel: kernel.name, detail: error.detail }))

    /**
     * One round of a loop on `members` (runner, worker index): each runs its share (or claims from `list`). Detached,
     * so that an interruption can let the workers reach a call boundary before it completes.
     */
    const round = (
      members: ReadonlyArray<KernelRunnerModule.Ref>,
      job: Omit<KernelRunnerModule.Job, "worker" | "workers" | "control">,
      survivesDeath: boolean
    ) =>
      Effect.gen(function*() {
        const control = newControl()
        const stop = Effect.sync(() => Schedule.cancel(control))
        const all = Effect.forEach(members, (runner, worker) =>
          Effect.exit(
            runner.ask("run", { ...job, worker, workers: members.length, control: control.buffer }).pipe(
              // A death need not stop the others when its chunks can be run again.
              Effect.tapError((error) => (survivesDeath && isDeath(error) ? Effect.void : stop))
            )
          ), { concurrency: "unbounded" })
        const fiber = yield* Effect.forkDetach(all)
        return yield* Fiber.join(fiber).pipe(
          Effect.onInterrupt(() =>
            Effect.andThen(stop, Effect.timeoutOption(Fiber.await(fiber), STOP_WAIT_MS)).pipe(
              Effect.andThen((done) => Option.isNone(done) ? Fiber.interrupt(fiber) : Effect.void)
            )
          )
        )
      })

    /** Runners whose worker is up, waiting for one if none is. */
    const live = Effect.suspend(() => {
      const up = runners.filter((runner) => system.isUp(runner.address.worker))
      if (up.length > 0) return Effect.succeed(up)
      return Effect.raceAll(runners.map((runner) => Effect.as(system.awaitUp(runner.address.worker), [runner])))
    })

    const run = ((kernel: Kernel.Any, range: Range, args: Kernel.Args, options?: Partial<ReduceOptions>) =>
      Effect.gen(function*() {
        const resolved = resolve(kernel, range, args, options)
        if (resolved instanceof Kernel.KernelInvalid) return yield* resolved
        const { chunks, plan, reduce, schedule } = resolved
        if (chunks === 0) return reduce === undefined ? undefined : Reduction.identity(reduce)
        const shipped = yield* ship(kernel)
        const partials = reduce === undefined ? null : new Float64Array(new SharedArrayBuffer(chunks * 8))
        const rerunnable = kernel.writes === "disjoint"
        const finished = rerunnable ? new Uint8Array(new SharedArrayBuffer(chunks)) : null
        const job = {
          kernel: shipped,
          args,
          ...plan,
          schedule,
          partials: partials === null ? null : partials.buffer as SharedArrayBuffer,
          done: finished === null ? null : finished.buffer as SharedArrayBuffer
        }
        const retries = options?.retries ?? 3
        let exits = yield* round(runners, { ...job, list: null }, rerunnable)
        let ran = 0
        for (let again = 0;; again++) {
          const failures = exits.filter(Exit.isFailure)
          if (failures.length === 0) break
          const deaths = failures.every((exit) => Cause.findErrorOption(exit.cause).pipe(Option.exists(isDeath)))
          if (!rerunnable || !deaths || again >= retries) return yield* failures[0]!
          // Only the chunks nobody finished: the dead worker's unfinished ones (its finished ones stay done).
          const missing: Array<number> = []
          for (let c = 0; c < chunks; c++) if (Atomics.load(finished!, c) === 0) missing.push(c)
          if (missing.length === 0) break
          const list = new Int32Array(new SharedArrayBuffer(missing.length * 4))
          list.set(missing)
          exits = yield* round(yield* live, { ...job, list: list.buffer as SharedArrayBuffer }, true)
        }
        for (const exit of exits) if (Exit.isSuccess(exit)) ran += exit.value
        const complete = finished === null ? ran === chunks : finished.every((c) => c === 1)
        if (!complete) return yield* Effect.die(new Error(`parallelFor ${kernel.name}: not every one of ${chunks} chunks ran`))
        return partials === null || reduce === undefined ? undefined : Reduction.tree(reduce, partials)
      })) as Run<ParallelForError>

    const prepare = (kernel: Kernel.Any): Effect.Effect<void, ParallelForError> =>
      Effect.gen(function*() {
        const invalid = Kernel.checkKernel(kernel)
        if (invalid !== undefined) return yield* invalid
        const shipped = yield* ship(kernel)
        yield* Effect.forEach(runners, (runner) => runner.ask("load", shipped), {
          concurrency: "unbounded",
          discard: true
        })
      })

    return { workers, run, prepare } satisfies Shape
  })

/** `make` as a Layer over the tier's `ActorSystem`. */
export const layer = (): Layer.Layer<ParallelFor, ActorError.SpawnFailed, ActorSystem.ActorSystem> => Layer.effect(ParallelFor, make())

/** One loop on fresh runners (spawned and stopped around it); use `make` to run many. */
export const parallelFor: Run<ParallelForError, ActorSystem.ActorSystem> = ((kernel: Kernel.Any, range: Range, args: Kernel.Args, options?: ReduceOptions) =>
  Effect.scoped(Effect.flatMap(make(), (loops) => (loops.run as Function)(kernel, range, args, options)))) as never

/**
 * The serial reference: the same chunks, run in order on this thread, and the same reduction tree. Equals
 * `run` with any schedule and worker count, bit for bit.
 */
export const serial: Run<Kernel.KernelInvalid | Kernel.KernelFailed> = ((
  kernel: Kernel.Any,
  range: Range,
  args: Kernel.Args,
  options?: Partial<ReduceOptions>
) =>
  Effect.suspend((): Effect.Effect<number | undefined, Kernel.KernelInvalid | Kernel.KernelFailed> => {
    const resolved = resolve(kernel, range, args, options)
    if (resolved instanceof Kernel.KernelInvalid) return Effect.fail(resolved)
    const { chunks, plan, reduce } = resolved
    const partials = reduce === undefined ? null : new Float64Array(chunks)
    return Effect.try({
      try: () => {
        execute(kernel, args, plan, "static", 0, 1, newControl(), partials)
        return partials === null || reduce === undefined ? undefined : Reduction.tree(reduce, partials)
      },
      catch: (error) =>
        error instanceof Kernel.KernelFailed
          ? error
          : new Kernel.KernelFailed({ kernel: kernel.name, lo: plan.start, hi: plan.end, detail: String(error) })
    })
  })) as never
