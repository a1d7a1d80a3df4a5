/**
 * The π sampler actor: counts the hits of a range of Monte Carlo samples.
 *
 * The seed is its init parameter; a message names a range of logical sample
 * indices, so the total over any set of actors, chunks and workers equals the
 * serial count. Long ranges are counted in slices of about 10 ms with a yield
 * between them, so an interrupted ask stops the work inside the worker promptly;
 * after each slice the sampler adds its samples to the range's progress counter
 * (a shared `WideCounter`), if it has one, so the caller sees progress from inside;
 * `sampleStream` sends each slice's count as soon as it is counted.
 */
import { Effect, Schema, Stream } from "effect"
import { Actor, Partition } from "../../runtime/index.ts"
import { WideCounter } from "../../runtime/shared/index.ts"
import * as Kernel from "./kernel.ts"
import * as Schemas from "./Schemas.ts"

/** Samples per slice between two yields: ~10 ms at ~400M samples/s. */
export const SLICE = 1 << 22

/** Count hits in [start, start + count), yielding between slices; each slice done is added to `progress`. */
export const sampleRange = (seed: number, start: number, count: number, progress?: WideCounter.WideCounter): Effect.Effect<number> =>
  count <= SLICE
    ? Effect.sync(() => {
      const hits = Kernel.countHits(seed, start, count)
      progress?.add(count)
      return hits
    })
    : Effect.gen(function*() {
      let hits = 0
      for (const slice of Partition.ranges(count, SLICE)) {
        hits += Kernel.countHits(seed, start + slice.start, slice.count)
        progress?.add(slice.count)
        yield* Effect.yieldNow
      }
      return hits
    })

export const PiSampler = Actor.make("PiSampler", {
  module: import.meta.url,
  init: Schema.Struct({ seed: Schema.Number.check(Schema.isInt()) }),
  protocol: {
    /** Hits among samples [start, start + count). */
    sample: Actor.message({ payload: Schemas.Range, success: Schemas.Count }),
    /** 1 if sample `index` hits, else 0: one message per sample, the chapter's overhead demo. */
    sampleOne: Actor.message({ payload: Schemas.Count, success: Schemas.Count }),
    /** Adds the hits among samples [start, start + count) to the shared counter (once, at the end); replies empty. */
    sampleInto: Actor.message({ payload: Schemas.SharedRange }),
    /** The hits among samples [start, start + count), streamed slice by slice as they are counted. */
    sampleStream: Actor.stream({ payload: Schemas.Range, element: Schemas.Partial, buffer: 16 })
  },
  warmUp: Kernel.warmUp,
  behaviour: ({ seed }) =>
    Effect.succeed({
      sample: ({ count, progress, start }) => sampleRange(seed, start, count, WideCounter.fromOptionalHandle(progress)),
      sampleOne: (index) => Effect.succeed(Kernel.hitAt(seed, index)),
      sampleInto: ({ count, counter, progress, start }) =>
        Effect.map(sampleRange(seed, start, count, WideCounter.fromOptionalHandle(progress)), (hits) => WideCounter.fromHandle(counter).add(hits)),
      sampleStream: ({ count, start }) =>
        Stream.mapEffect(
          Stream.fromIterable(Partition.ranges(count, SLICE), { chunkSize: 1 }),
          // Yield before each slice: the previous one's count leaves, and a cancel gets in.
          (slice, i) =>
            Effect.andThen(i > 0 ? Effect.yieldNow : Effect.void, Effect.sync(() => ({ count: slice.count, hits: Kernel.countHits(seed, start + slice.start, slice.count) })))
        )
    })
})
