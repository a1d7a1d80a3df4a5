/**
 * The π experiment's modes, as Effects over whichever tier is provided: the
 * serial reference, one message per sample, chunked actors, a pipeline,
 * shared memory (samplers add their hits into one shared counter), and a
 * stream of partial estimates (each chunk's hits come back slice by slice).
 * Shared by `pi.ts`, the benchmark and the tests.
 */
import { Effect, Stream } from "effect"
import type { Scope } from "effect"
import * as Kernel from "../../actors/pi/kernel.ts"
import { PiSampler, sampleRange } from "../../actors/pi/PiSampler.ts"
import { ActorSystem, Balancer, Partition, Retry } from "../../runtime/index.ts"
import type { ActorError } from "../../runtime/index.ts"
import { Pipeline } from "../../runtime/pool/index.ts"
import { WideCounter } from "../../runtime/shared/index.ts"

/** What a mode can fail with: the runtime's errors, and samplers that could not be started. */
export type ModeError = ActorError.ActorError | ActorError.SpawnFailed

export const MODES = ["serial", "per-sample", "actors", "pipeline", "shared", "stream"] as const
export type Mode = (typeof MODES)[number]

/** One message per sample is capped here: the point is its overhead, not its total. */
export const PER_SAMPLE_CAP = 100_000

export interface Params {
  readonly samples: number
  readonly seed: number
  /** Samples per message for chunked modes; default: `Partition.chunkSize` (about 4 chunks per worker). */
  readonly chunk?: number
  /**
   * Samples drawn so far, for progress: a shared counter the samplers add to from inside, slice by slice, so it
   * moves during a long ask with no messages (one message per sample is counted as replies arrive).
   */
  readonly progress?: WideCounter.WideCounter
  /**
   * False where memory is not shared with the samplers (a cluster: its runners are other processes): the handle
   * is then not sent and each chunk is added here when its reply arrives. Default true.
   */
  readonly progressInside?: boolean
  /** The `stream` mode's running estimate: hits among the samples counted so far, updated as slices arrive. */
  readonly partial?: { hits: number; samples: number }
}

/** Idempotent π chunks are simply sent again when their worker died. */
const retryOnDeath = <A, R>(self: Effect.Effect<A, ActorError.ActorError, R>) => Retry.onWorkerDeath(self)

/** The ranges a chunked mode sends: `params.chunk` samples each, or about 4 chunks per worker. */
const rangesFor = (params: Params, workers: number) =>
  Partition.ranges(params.samples, params.chunk ?? Partition.chunkSize(params.samples, workers))

const inside = (params: Params) => params.progress !== undefined && params.progressInside !== false

/** A range as sent to a sampler, with the progress counter's handle when samplers can share it. */
const withProgress = (params: Params, range: { readonly start: number; readonly count: number }) =>
  inside(params) ? { ...range, progress: params.progress!.handle } : range

/**
 * Sends every range through `send`, `concurrency` lanes at a time, and sums the hits. The ranges are read as
 * they go (`Effect.forEach` would first make an array of them: a billion with `--chunk 1`); each lane takes the
 * next range when its reply is in. Hit counts are integers, so the sum does not depend on the order of replies.
 */
const sumOverRanges = <E, R>(
  params: Params,
  workers: number,
  send: (range: Partition.Range) => Effect.Effect<number, E, R>
): Effect.Effect<number, E, R> =>
  Effect.suspend(() => {
    const ranges = rangesFor(params, workers)[Symbol.iterator]()
    let total = 0
    const lane = Effect.gen(function*() {
      for (let next = ranges.next(); !next.done; next = ranges.next()) {
        const hits = yield* send(next.value)
        total += hits // not `total += yield* …`, which reads total before the wait and loses other lanes' hits
        yield* bump(params, next.value.count)
      }
    })
    return Effect.map(Effect.all(Array.from({ length: workers * 2 }, () => lane), { concurrency: "unbounded", discard: true }), () => total)
  })

/** Where samplers cannot add to the progress counter themselves (`progressInside` false), add a chunk here once its reply is in. */
const bump = (params: Params, n: number) =>
  Effect.sync(() => {
    if (params.progress !== undefined && !inside(params)) params.progress.add(n)
  })

/** The serial reference: the same kernel, in this thread, no actors. */
export const serial = (params: Params): Effect.Effect<number> =>
  Effect.gen(function*() {
    const chunk = params.chunk ?? 1 << 24
    Kernel.warmUp()
    let hits = 0
    for (const range of Partition.ranges(params.samples, chunk)) {
      hits += yield* sampleRange(params.seed, range.start, range.count, params.progress)
    }
    return hits
  })

const samplers = (seed: number) =>
  ActorSystem.ActorSystem.use((system) =>
    ActorSystem.spawnMany(PiSampler, system.workers, () => ({ seed })))

/** Samples per `askMany` of the per-sample mode: the progress bar moves by this much. */
const PER_SAMPLE_BATCH = 16384

/**
 * One ask per sample (the chapter's task-per-sample pool): sample i goes to sampler i mod workers, each
 * sampler's asks sent by `askMany` (no fiber per ask), 512 in flight per sampler, in batches of
 * `PER_SAMPLE_BATCH` samples so that progress moves; a batch whose worker died is asked again (a sample's hit
 * is a pure function of its index, and a batch counts only once it is whole).
 */
export const perSample = (params: Params): Effect.Effect<number, ModeError, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const refs = yield* samplers(params.seed)
    const n = Math.min(params.samples, PER_SAMPLE_CAP)
    let hits = 0
    yield* Effect.forEach(refs, (ref, w) =>
      Effect.gen(function*() {
        for (let from = w; from < n; from += PER_SAMPLE_BATCH * refs.length) {
          const indices: Array<number> = []
          for (let i = from; i < n && indices.length < PER_SAMPLE_BATCH; i += refs.length) indices.push(i)
          const replies = yield* retryOnDeath(ref.askMany("sampleOne", indices, { inFlight: 512 }))
          for (const hit of replies) hits += hit
          params.progress?.add(indices.length)
        }
      }), { concurrency: "unbounded", discard: true })
    return hits
  })

/** Chunked actors: one sampler per worker, chunks sent to the least-loaded one. */
export const actors = (params: Params): Effect.Effect<number, ModeError, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const refs = yield* samplers(params.seed)
    const balancer = Balancer.make(refs)
    return yield* sumOverRanges(params, refs.length, (range) => retryOnDeath(balancer.run((sampler) => sampler.ask("sample", withProgress(params, range)))))
  })

/** The pipeline: a source of ranges, scattered to samplers, reduced in order. */
export const pipeline = (params: Params): Effect.Effect<number, ModeError, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const refs = yield* samplers(params.seed)
    return yield* Pipeline.source(rangesFor(params, refs.length), { capacity: refs.length * 4 }).pipe(
      Pipeline.scatter(refs, (sampler, range) =>
        sampler.ask("sample", withProgress(params, range)).pipe(retryOnDeath, Effect.tap(() => bump(params, range.count)))),
      Pipeline.reduce(0, (total: number, hits: number) => total + hits)
    )
  })

/**
 * Shared memory: samplers add their hits into one Atomics-guarded 64-bit counter (an Int32 would wrap at 2^31
 * hits, i.e. near 2.7e9 samples); replies carry nothing. An add is not idempotent, so a chunk whose worker died
 * is not sent again: the mode fails with `WorkerDied` rather than risk counting a chunk twice.
 */
export const shared = (params: Params): Effect.Effect<number, ModeError, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const refs = yield* samplers(params.seed)
    const balancer = Balancer.make(refs)
    const counter = WideCounter.make()
    yield* sumOverRanges(params, refs.length, (range) =>
      Effect.as(balancer.run((sampler) => sampler.ask("sampleInto", { ...withProgress(params, range), counter: counter.handle })), 0))
    return counter.get()
  })

/**
 * A stream of partial estimates: chunks go to the least-loaded sampler as in `actors`, but each is answered by a
 * stream of its slices' hit counts (about 10 ms of work each), so the estimate improves while the chunks run
 * (`params.partial`). A chunk whose worker died is sent again, its slices already counted skipped.
 */
export const stream = (params: Params): Effect.Effect<number, ModeError, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const system = yield* ActorSystem.ActorSystem
    const refs = yield* samplers(params.seed)
    const balancer = Balancer.ofRefs(refs, system.isUp)
    let hits = 0
    const slices = Stream.flatMap(
      Stream.fromIterable(rangesFor(params, refs.length), { chunkSize: 1 }),
      (range) =>
        Retry.streamOnWorkerDeath(() => balancer.stream((sampler) => sampler.stream("sampleStream", range)), {
          elsewhere: balancer.anyAvailable
        }),
      { concurrency: refs.length * 2 }
    )
    yield* Stream.runForEach(slices, (slice) =>
      Effect.sync(() => {
        hits += slice.hits
        if (params.partial) {
          params.partial.hits += slice.hits
          params.partial.samples += slice.count
        }
        // Each slice arrives as a stream element: the counter moves as they come, on any tier.
        params.progress?.add(slice.count)
      }))
    return hits
  })

/** Samples a mode actually draws (per-sample is capped). */
export const samplesOf = (mode: Mode, samples: number): number =>
  mode === "per-sample" ? Math.min(samples, PER_SAMPLE_CAP) : samples

export const run = (mode: Mode, params: Params): Effect.Effect<number, ModeError, ActorSystem.ActorSystem | Scope.Scope> => {
  switch (mode) {
    case "serial":
      return serial(params)
    case "per-sample":
      return perSample(params)
    case "actors":
      return actors(params)
    case "pipeline":
      return pipeline(params)
    case "shared":
      return shared(params)
    case "stream":
      return stream(params)
  }
}
