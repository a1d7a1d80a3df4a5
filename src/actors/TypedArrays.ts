/**
 * Schemas of the typed arrays the domains' messages carry. Typed over any buffer (kernels take views of shared
 * memory as well as plain arrays) and checked as instances; structured clone copies them between threads.
 */
import { Schema } from "effect"

export const Int32s = Schema.instanceOf<new() => Int32Array>(Int32Array)
export const Uint32s = Schema.instanceOf<new() => Uint32Array>(Uint32Array)
export const Float64s = Schema.instanceOf<new() => Float64Array>(Float64Array)
