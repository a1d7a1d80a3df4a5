/**
 * The benchmarks' hand-written baselines: a pool of plain `worker_threads` running a script with no framework
 * at all, bundled on its own with esbuild (so it can be TypeScript and import a kernel) and cached in
 * `node_modules/.cache/actorflow-bench`.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"

const cacheDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "node_modules", ".cache", "actorflow-bench")

/** Bundle `script` (a file URL) with everything it imports into one `.mjs`. Rebuilt each run: it takes ~50 ms. */
const bundle = async (script: string): Promise<string> => {
  const { build } = await import("esbuild")
  const file = fileURLToPath(script)
  const hash = Crypto.createHash("sha1").update(file).digest("hex").slice(0, 12)
  const output = Path.join(cacheDir, `${Path.basename(file).replace(/\W/g, "_")}-${hash}-${process.pid}.mjs`)
  Fs.mkdirSync(cacheDir, { recursive: true })
  await build({ entryPoints: [file], bundle: true, format: "esm", platform: "node", target: "node20", outfile: output, logLevel: "silent" })
  return output
}

/** Send one message to a raw worker and wait for its one reply (its error listener goes with it). */
export const ask = <A = unknown>(worker: Worker, message: unknown): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const onError = (error: unknown) => {
      worker.off("message", onMessage)
      reject(error)
    }
    const onMessage = (value: A) => {
      worker.off("error", onError)
      resolve(value)
    }
    worker.once("message", onMessage)
    worker.once("error", onError)
    worker.postMessage(message)
  })

/**
 * `workers` raw workers running `script`, each answered `ready` once (a warm start, as a hand-written pool
 * would be); terminated when the scope closes.
 */
export const make = (script: string, workers: number, ready: unknown): Effect.Effect<ReadonlyArray<Worker>, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const file = await bundle(script)
      const pool = Array.from({ length: workers }, () => new Worker(file, { execArgv: [] }))
      await Promise.all(pool.map((w) => ask(w, ready)))
      Fs.rmSync(file, { force: true })
      return pool
    }),
    (pool) => Effect.promise(() => Promise.all(pool.map((w) => w.terminate())))
  )
