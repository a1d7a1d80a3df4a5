/**
 * Kernels: the body of a `parallelFor`, a plain module-level function over an index range `[lo, hi)` and
 * arguments that are shared typed arrays and scalars — the counterpart of the loop body under Cython's `prange`.
 *
 * Like tasks, kernels are called by reference: a kernel records its module (`import.meta.url`) and name, and a
 * worker finds it again by importing that module. Only data crosses threads, never a closure, so a kernel must
 * be made at module level, in a module workers can import, and read everything else from its arguments.
 *
 * ```ts
 * export const saxpy = Kernel.make("saxpy", {
 *   module: import.meta.url,
 *   run: ({ a, x, y }: { a: number; x: Float64Array; y: Float64Array }, lo, hi) => {
 *     for (let i = lo; i < hi; i++) y[i] = a * x[i]! + y[i]!
 *   }
 * })
 * ```
 *
 * A kernel must give the same result however `[lo, hi)` is split (each index's work depends only on that index
 * and on data no other index writes). With a reduction it returns its chunk's partial (e.g. the sum of its
 * elements, in index order); the partials are combined in a fixed tree (see `Reduction`).
 *
 * A kernel may declare `writes: "disjoint"`: a call on `[lo, hi)` writes only indices in `[lo, hi)`, and only of
 * arrays that no call reads (`y[i] = f(x[i])`, never `y[i] += …` or `x[i] = f(x[i])`). Running a chunk twice, or
 * half of it and then all of it, then leaves the same memory, so a loop over such a kernel survives a worker's
 * death: the chunks that worker had not finished are run again on the others (see `ParallelFor`).
 */
import { Predicate, Schema } from "effect"
import { Code } from "../index.ts"
import type { SharedArray } from "../shared/index.ts"

/** What a kernel argument may be: shared memory, or a plain scalar. */
export type Arg =
  | number
  | boolean
  | string
  | bigint
  | SharedArrayBuffer
  | SharedTypedArray
  /** A shared-memory primitive's handle (Mutex, AtomicCounter, SharedArray, ...). */
  | { readonly _tag: string; readonly buffer: SharedArrayBuffer }

/** Any typed array; whether it really sits in shared memory is checked when the kernel runs. */
export type SharedTypedArray = SharedArray.AnyTypedArray

export type Args = { readonly [key: string]: Arg }

/** An arguments type whose every field is an `Arg` (interfaces welcome, unlike with an index signature). */
export type ArgsOf<A> = { readonly [K in keyof A]: Arg }

export interface Kernel<A extends ArgsOf<A> = any> {
  readonly _tag: "Kernel"
  readonly name: string
  readonly module: string
  /** Runs indices `[lo, hi)`; returns the chunk's partial when the loop has a reduction. */
  readonly run: (args: A, lo: number, hi: number) => number | void
  /** Optional: short calls that get the JIT to optimise `run` before a long call (run once per worker). */
  readonly warmUp?: () => void
  /** `"disjoint"`: chunks can be run again (see the module doc); `"any"` (the default): they cannot. */
  readonly writes: Writes
}

/** What a kernel's calls write: only their own indices of arrays nobody reads (`disjoint`), or anything. */
export type Writes = "disjoint" | "any"

export type Any = Kernel<any>

/** The kernel, or its arguments, cannot be used (rejected before anything runs). */
export class KernelInvalid extends Schema.TaggedError<KernelInvalid>()("KernelInvalid", {
  kernel: Schema.String,
  detail: Schema.String
}) {}

/** A worker could not load the kernel's module or find the kernel in it. */
export class KernelUnavailable extends Schema.TaggedError<KernelUnavailable>()("KernelUnavailable", {
  kernel: Schema.String,
  detail: Schema.String
}) {}

/** The kernel threw on a range (the other workers stop after their current call). */
export class KernelFailed extends Schema.TaggedError<KernelFailed>()("KernelFailed", {
  kernel: Schema.String,
  lo: Schema.Number,
  hi: Schema.Number,
  detail: Schema.String
}) {}

export type KernelError = KernelInvalid | KernelUnavailable | KernelFailed

/** Define a kernel. `module` must be `import.meta.url` of the module that makes it, at module level. */
export const make = <A extends ArgsOf<A>>(
  name: string,
  spec: {
    readonly module: string
    readonly run: (args: A, lo: number, hi: number) => number | void
    readonly warmUp?: () => void
    /** Declare `"disjoint"` writes so that a worker's death costs a re-run of its chunks, not the loop. */
    readonly writes?: Writes
  }
): Kernel<A> => {
  if (typeof spec.module !== "string" || !spec.module.startsWith("file:")) {
    throw new TypeError(`Kernel.make("${name}"): module must be import.meta.url of a file, got ${String(spec.module)}`)
  }
  if (typeof spec.run !== "function") throw new TypeError(`Kernel.make("${name}"): run must be a function`)
  const writes = spec.writes ?? "any"
  if (writes !== "disjoint" && writes !== "any") throw new TypeError(`Kernel.make("${name}"): writes must be "disjoint" or "any"`)
  const kernel: Kernel<A> = {
    _tag: "Kernel",
    name,
    module: spec.module,
    run: spec.run,
    writes,
    ...(spec.warmUp === undefined ? {} : { warmUp: spec.warmUp })
  }
  return Code.register(spec.module, name, kernel)
}

export const isKernel = (u: unknown): u is Any =>
  Predicate.isTagged(u, "Kernel") && Predicate.hasProperty(u, "run") && typeof u.run === "function" &&
  Predicate.hasProperty(u, "module") && typeof u.module === "string"

const describeValue = (u: unknown): string => {
  if (typeof u === "function") return `a function${u.name ? ` (${u.name})` : ""}`
  if (u === null) return "null"
  if (typeof u !== "object") return typeof u
  return `a ${(u as object).constructor?.name ?? "object"}`
}

/** Why `kernel` is not a kernel made with `make`, or undefined if it is one. */
export const checkKernel = (kernel: unknown): KernelInvalid | undefined =>
  isKernel(kernel) ? undefined : new KernelInvalid({
    kernel: typeof kernel === "function" && kernel.name ? kernel.name : "(not a kernel)",
    detail: `expected a Kernel made with Kernel.make(name, { module: import.meta.url, run }) at module level in a ` +
      `module workers can import, got ${describeValue(kernel)}` +
      (typeof kernel === "function" ? ": functions and closures cannot be sent to workers" : "")
  })

/** Why `args` cannot be sent to workers, or undefined if they can. */
export const checkArgs = (kernel: Any, args: unknown): KernelInvalid | undefined => {
  const fail = (detail: string) => new KernelInvalid({ kernel: kernel.name, detail })
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    return fail(`arguments must be a record of shared typed arrays and scalars, got ${describeValue(args)}`)
  }
  for (const [key, value] of Object.entries(args)) {
    switch (typeof value) {
      case "number":
      case "boolean":
      case "string":
      case "bigint":
        continue
      case "function":
        return fail(`argument "${key}" is a function: kernels take shared typed arrays and scalars, and call ` +
          `module-level functions themselves (closures cannot be sent to workers)`)
    }
    if (value instanceof SharedArrayBuffer) continue
    if (ArrayBuffer.isView(value)) {
      if (value instanceof DataView) return fail(`argument "${key}" is a DataView: pass a typed array`)
      if (!(value.buffer instanceof SharedArrayBuffer)) {
        return fail(`argument "${key}" is a ${value.constructor.name} over a plain ArrayBuffer: workers would get ` +
          `a copy and their writes would be lost; allocate it in shared memory (SharedArray.make)`)
      }
      continue
    }
    if (
      typeof value === "object" && value !== null && typeof (value as { _tag?: unknown })._tag === "string" &&
      (value as { buffer?: unknown }).buffer instanceof SharedArrayBuffer
    ) continue
    return fail(`argument "${key}" is ${describeValue(value)}: kernels take shared typed arrays, ` +
      `SharedArrayBuffers, shared-primitive handles and scalars`)
  }
  return undefined
}
