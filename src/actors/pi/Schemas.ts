/**
 * What crosses threads in the π experiment: ranges of logical sample indices (with an optional progress
 * counter), and ranges whose hits go into a shared 64-bit counter instead of the reply.
 */
import { Schema } from "effect"
import { WideCounter } from "../../runtime/shared/index.ts"

/** A count of samples or hits: a non-negative integer. */
export const Count = Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))

/**
 * Samples [start, start + count) (the runtime's `Partition.Range`), and optionally a shared counter the sampler
 * adds the samples it has drawn to as it goes, slice by slice: progress the caller reads with no messages.
 */
export const Range = Schema.Struct({ start: Count, count: Count, progress: Schema.optional(WideCounter.HandleSchema) })
export type Range = typeof Range.Type

/** A range whose hits are added into a shared 64-bit counter. */
export const SharedRange = Schema.Struct({ ...Range.fields, counter: WideCounter.HandleSchema })
export type SharedRange = typeof SharedRange.Type

/** The hits among `count` samples: one slice of a streamed range. */
export const Partial = Schema.Struct({ count: Count, hits: Count })
export type Partial = typeof Partial.Type
