/**
 * How a worker thread loads the base bundle: as a classic script through `vm.Script`, with V8's code cache.
 *
 * The base bundle is Effect and this runtime, about 3 MB of JavaScript, and a worker spent 36–45% of its boot
 * in V8's module compiler on it (measured here; 2 workers loaded it in 314–460 ms). Node 20 keeps no compile
 * cache for ES modules, but a script can be given the code V8 cached from an earlier compile: with it, 2 workers
 * loaded it in 210–290 ms. So the base bundle is built as CommonJS, and each worker
 * starts from `source` below (evaluated, not a file): it runs the bundle wrapped as a CommonJS module and, when
 * it found no cache or V8 refused it (another Node version, other flags), writes one after the bundle ran, so
 * it also holds the functions the worker's start compiled. The cache file sits beside the bundle, named per
 * Node version and architecture, and is written atomically; a cache that cannot be written only costs speed.
 *
 * A script compiled by `vm` has no `import()` of its own: Node's `USE_MAIN_CONTEXT_DEFAULT_LOADER` gives it
 * one, but prints an experimental warning, and V8 drops it from code read back from a cache ("A dynamic import
 * callback was not specified"). So the loader, whose own `import()` works, lends it: `importModule` is how the
 * runtime imports a module (`Code.load`), through the loader's where there is one.
 *
 * A thread's first `import()` of a file also sets up Node's ES module loader: 8–10 ms here in a bare worker (the
 * next import of a small file took 0.6–1.4 ms). Every program imports at least one module that way (its actors'
 * bundle), so a worker does it as it boots (`primeImports`): it imports an empty module that the main thread keeps
 * in the bundle cache (WorkerBundle.ts), and the first spawn does not pay for it.
 */
import * as Path from "node:path"
import { pathToFileURL } from "node:url"

/** Where the loader puts its `import()` for the bundle it runs. */
const IMPORTER = "__actorflow_import"

/** Where the loader says what code cache it found: "none", "rejected" (then it wrote one) or "accepted". */
const FOUND = "__actorflow_code_cache"

/** Set by the loader once the bundle has run to its end. */
const EVALUATED = "__actorflow_evaluated"

/** Whether the bundle this thread's loader runs has run to its end; undefined on a thread the loader did not start. */
export const bundleEvaluated = (): boolean | undefined =>
  codeCacheFound() === undefined ? undefined : (globalThis as { [EVALUATED]?: boolean })[EVALUATED] === true

/** The code cache this thread found as it booted (see `FOUND`); undefined on a thread the loader did not start. */
export const codeCacheFound = (): "none" | "rejected" | "accepted" | undefined =>
  (globalThis as { [FOUND]?: "none" | "rejected" | "accepted" })[FOUND]

/** `import(url)`: through the loader's own where this thread runs the base bundle as a script (see above). */
export const importModule = (url: string): Promise<unknown> => {
  const lent = (globalThis as { [IMPORTER]?: (url: string) => Promise<unknown> })[IMPORTER]
  return lent !== undefined ? lent(url) : import(url)
}

/** The empty module in the bundle cache that `primeImports` imports. */
export const PRIMER = "esm-primer.mjs"

/**
 * Sets up this thread's ES module loader by importing the empty module `PRIMER` from the bundle cache `cacheDir`
 * (see the module doc). Never fails: only speed depends on it, so a primer that cannot be read is left out (false).
 */
export const primeImports = (cacheDir: string): Promise<boolean> =>
  importModule(pathToFileURL(Path.join(cacheDir, PRIMER)).href).then(() => true, () => false)

let readyState_: { readonly primed: boolean; readonly evaluated: boolean | undefined } | undefined

/** Records how this thread was as it said it was ready (worker.ts): see `readyState`. */
export const noteReady = (primed: boolean): void => {
  readyState_ = { primed, evaluated: bundleEvaluated() }
}

/**
 * How this thread was when it said it was ready: its module loader primed (`primeImports`), and the base bundle
 * run to its end (undefined inside a user's bundle); undefined before then, and on threads that are not workers.
 */
export const readyState = () => readyState_

/** The worker's entry, evaluated as a CommonJS script; `workerData.script` names the bundle and its cache. */
export const source = `"use strict"
const Fs = require("node:fs")
const Path = require("node:path")
const Vm = require("node:vm")
const { createRequire } = require("node:module")
const { threadId, workerData } = require("node:worker_threads")
const { file, cache } = workerData.script
globalThis[${JSON.stringify(IMPORTER)}] = (url) => import(url)
let cachedData
try {
  cachedData = Fs.readFileSync(cache)
} catch {}
const wrapped = "(function (exports, require, module, __filename, __dirname) {" + Fs.readFileSync(file, "utf8") + "\\n})"
const script = new Vm.Script(wrapped, { filename: file, ...(cachedData === undefined ? {} : { cachedData }) })
globalThis[${JSON.stringify(FOUND)}] = cachedData === undefined ? "none" : script.cachedDataRejected ? "rejected" : "accepted"
const module = { exports: {} }
script.runInThisContext()(module.exports, createRequire(file), module, file, Path.dirname(file))
globalThis[${JSON.stringify(EVALUATED)}] = true
if (cachedData === undefined || script.cachedDataRejected) {
  try {
    const tmp = cache + "." + process.pid + "." + threadId + ".tmp"
    Fs.writeFileSync(tmp, script.createCachedData())
    Fs.renameSync(tmp, cache)
  } catch {}
}
`

/** What a worker's `workerData.script` holds: the bundle to run, and its code cache. */
export interface Script {
  readonly file: string
  readonly cache: string
}

/** The bundle `file` to run as a script, its code cache kept per Node version (V8 only takes the cache it made). */
export const script = (file: string): Script => ({ file, cache: `${file}.${process.version}-${process.arch}.cache` })
