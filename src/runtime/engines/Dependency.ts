/**
 * Task dependencies of the load-balanced view, after IPython parallel's graph
 * dependencies:
 *
 * - `after`: run only once these results have finished (time);
 * - `follow`: run on the engine where these ran (location), once they finished.
 *
 * A dependency is met when all (or, with `all: false`, any) of its results
 * finished in an accepted way: successfully by default, or by failing
 * (`failure: true`), or either. It is impossible — a typed
 * `ImpossibleDependency`, never a hang — once a finished result can no longer
 * meet it, or when `follow` results ran on different engines.
 */
import type { AsyncResult } from "./AsyncResult.ts"

export interface Dependency {
  readonly _tag: "Dependency"
  readonly results: ReadonlyArray<AsyncResult<unknown, unknown>>
  /** All results must meet the condition (default), or any one. */
  readonly all: boolean
  /** A result that succeeded meets it (default true). */
  readonly success: boolean
  /** A result that failed meets it (default false). */
  readonly failure: boolean
}

/** A dependency, or results standing for "all of these, successfully". */
export type Like = Dependency | AsyncResult<any, any> | ReadonlyArray<AsyncResult<any, any>>

export const make = (
  results: AsyncResult<any, any> | ReadonlyArray<AsyncResult<any, any>>,
  options: { readonly all?: boolean; readonly success?: boolean; readonly failure?: boolean } = {}
): Dependency => ({
  _tag: "Dependency",
  results: Array.isArray(results) ? results : [results as AsyncResult<unknown, unknown>],
  all: options.all ?? true,
  success: options.success ?? true,
  failure: options.failure ?? false
})

export const isDependency = (u: unknown): u is Dependency =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Dependency"

export const from = (like: Like | undefined): Dependency | undefined =>
  like === undefined ? undefined : isDependency(like) ? like : make(like as AsyncResult<unknown, unknown>)

export type Verdict =
  | { readonly _tag: "Waiting" }
  | { readonly _tag: "Met"; readonly engines: ReadonlyArray<number> }
  | { readonly _tag: "Impossible"; readonly reason: string }

const waiting: Verdict = { _tag: "Waiting" }

/** Where a dependency stands now; `location` for `follow` (the engines it allows). */
export const check = (dependency: Dependency, location: boolean): Verdict => {
  const { all, failure, results, success } = dependency
  const accepted = (status: "succeeded" | "failed") => (status === "succeeded" ? success : failure)
  const wanted = success && failure ? "to finish" : success ? "to succeed" : "to fail"
  const met: Array<AsyncResult<unknown, unknown>> = []
  let pending = 0
  for (const result of results) {
    const status = result.status()
    if (status === "pending") {
      pending++
    } else if (accepted(status)) {
      met.push(result)
    } else if (all) {
      return { _tag: "Impossible", reason: `${result.label} ${status}, and the dependency needs it ${wanted}` }
    }
  }
  if (all ? pending > 0 : met.length === 0 && pending > 0) return waiting
  if (!all && met.length === 0 && results.length > 0) {
    return { _tag: "Impossible", reason: `none of ${results.length} dependencies managed ${wanted}` }
  }
  if (!location) return { _tag: "Met", engines: [] }
  const engines = [...new Set(met.flatMap((result) => result.engines()))]
  if (results.length > 0 && engines.length === 0) {
    return { _tag: "Impossible", reason: "follow: the tasks to follow never ran on an engine" }
  }
  if (all && engines.length > 1) {
    return { _tag: "Impossible", reason: `follow: the tasks to follow ran on engines ${engines.join(", ")}, so no one engine has them all` }
  }
  return { _tag: "Met", engines }
}
