/**
 * Builds what worker threads load: one base bundle (Effect and this runtime) and
 * one small bundle per user module (actors, tasks, kernels).
 *
 * Booting a worker through a TypeScript loader costs about a second; a
 * pre-bundled worker boots in about a tenth of that. The base bundle publishes
 * its modules on `globalThis`, and every module bundle imports Effect and the
 * runtime from there instead of carrying its own copy, so a worker holds exactly
 * one instance of each however many modules it loads, and modules can be loaded
 * long after the worker started. Bundles are cached on disk and rebuilt only when
 * one of their input files changes. Each bundle has a source map beside it, so a
 * stack thrown in a worker can name the `.ts` file and line (`SourceMap.mapStack`).
 */
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { describe } from "../../ActorError.ts"
import { CodeUnavailable } from "../../Code.ts"
import type { Locator, Shipped } from "../../Code.ts"

/** src/runtime: everything below it is part of the base bundle. */
const runtimeDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..", "..")
const projectDir = Path.resolve(runtimeDir, "..", "..")
const cacheDir = Path.join(projectDir, "node_modules", ".cache", "actorflow")
const workerMain = Path.join(runtimeDir, "internal", "threads", "worker.ts")
const SHARED = "__actorflow_shared"
/** How bundles are built (format, source maps): part of every bundle's name, so a change never reuses old ones. */
const FORMAT = "esm-linked-map-1"
const codeModule = Path.join(runtimeDir, "Code.ts")
/** The Cluster tier's client and runner side: Postgres, sockets and processes, which no worker thread loads. */
const notForWorkers = [Path.join(runtimeDir, "Cluster.ts"), Path.join(runtimeDir, "internal", "cluster")]

/** The runtime's own modules: shared with every module bundle, never duplicated. */
const runtimeModules = (): Array<string> => {
  const out: Array<string> = []
  const walk = (dir: string) => {
    for (const entry of Fs.readdirSync(dir, { withFileTypes: true })) {
      const full = Path.join(dir, entry.name)
      if (notForWorkers.includes(full)) continue
      if (entry.isDirectory()) walk(full)
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") && full !== workerMain) out.push(full)
    }
  }
  walk(runtimeDir)
  return out.sort()
}

/** Changes whenever a runtime file is added or removed, so bundles built before that are not reused. */
const layoutHash = (): string =>
  Crypto.createHash("sha1").update(runtimeModules().join("\n")).digest("hex").slice(0, 8)

/** True when a module is part of the base bundle (no separate bundle needed). */
export const isRuntimeModule = (moduleUrl: string): boolean => {
  const file = moduleUrl.startsWith("file:") ? fileURLToPath(moduleUrl) : moduleUrl
  return file.startsWith(runtimeDir + Path.sep)
}

interface Stamp {
  readonly inputs: Record<string, string>
}

const stampOf = (files: ReadonlyArray<string>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const file of files) {
    try {
      const stat = Fs.statSync(file)
      out[file] = `${stat.size}:${stat.mtimeMs}`
    } catch {
      out[file] = "missing"
    }
  }
  return out
}

const fresh = (bundle: string): boolean => {
  try {
    if (!Fs.existsSync(bundle)) return false
    const stamp = JSON.parse(Fs.readFileSync(`${bundle}.json`, "utf8")) as Stamp
    const now = stampOf(Object.keys(stamp.inputs))
    return Object.entries(stamp.inputs).every(([file, value]) => now[file] === value)
  } catch {
    return false
  }
}

/** Writes atomically, so concurrent processes (test workers) never read half a bundle. */
const writeAtomic = (file: string, contents: string | Uint8Array) => {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  Fs.writeFileSync(tmp, contents)
  Fs.renameSync(tmp, file)
}

type Esbuild = typeof import("esbuild")
type Plugin = import("esbuild").Plugin

/** Spelled in pieces so that this file survives its own rewriting when it is bundled. */
const META_URL = ["import", "meta", "url"].join(".")

/** Keep each source file's own `import.meta.url`, so definitions keep their identity inside bundles. */
const keepModuleUrls: Plugin = {
  name: "actorflow-module-urls",
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[tj]s$/ }, (args) => {
      if (args.path.includes(`${Path.sep}node_modules${Path.sep}`)) return undefined
      const source = Fs.readFileSync(args.path, "utf8")
      const contents = source.replaceAll(META_URL, JSON.stringify(pathToFileURL(args.path).href))
      return { contents, loader: args.path.endsWith("ts") ? "ts" : "js" }
    })
  }
}

/** Resolve Effect and runtime imports to the base bundle's instances. */
const useShared = (shared: ReadonlySet<string>): Plugin => ({
  name: "actorflow-shared",
  setup(build) {
    build.onResolve({ filter: /^effect(\/[A-Za-z]+)?$/ }, (args) =>
      shared.has(args.path) ? { path: args.path, namespace: "actorflow-shared" } : undefined)
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      const full = Path.resolve(args.resolveDir, args.path)
      return shared.has(full) ? { path: full, namespace: "actorflow-shared" } : undefined
    })
    build.onLoad({ filter: /.*/, namespace: "actorflow-shared" }, (args) => ({
      contents: `module.exports = globalThis[${JSON.stringify(SHARED)}][${JSON.stringify(args.path)}]`,
      loader: "js"
    }))
  }
})

let esbuild: Promise<Esbuild> | undefined
const loadEsbuild = () => (esbuild ??= import("esbuild"))

const build = async (
  output: string,
  options: { readonly entry: string; readonly contents?: string; readonly plugins: Array<Plugin> }
): Promise<void> => {
  const { build } = await loadEsbuild()
  const result = await build({
    ...(options.contents === undefined
      ? { entryPoints: [options.entry] }
      : { stdin: { contents: options.contents, resolveDir: runtimeDir, sourcefile: options.entry, loader: "ts" } }),
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    write: false,
    metafile: true,
    // Stack traces thrown in workers can point at the .ts sources: a map beside each bundle, mappings only,
    // read when a stack is rendered (`SourceMap.mapStack`), not when the bundle loads.
    outfile: output,
    sourcemap: "linked",
    sourcesContent: false,
    external: ["esbuild"],
    plugins: options.plugins,
    banner: { js: `import { createRequire as __afRequire } from 'node:module'; const require = __afRequire(${META_URL});` },
    logLevel: "silent"
  })
  const inputs = Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes(":"))
    .map((input) => Path.resolve(process.cwd(), input))
  const stamp: Stamp = { inputs: stampOf(inputs) }
  Fs.mkdirSync(cacheDir, { recursive: true })
  const map = result.outputFiles.find((file) => file.path.endsWith(".map"))
  const code = result.outputFiles.find((file) => !file.path.endsWith(".map"))!
  if (map !== undefined) writeAtomic(map.path, map.contents)
  writeAtomic(output, code.contents)
  writeAtomic(`${output}.json`, JSON.stringify(stamp))
}

let sharedNames: Promise<Set<string>> | undefined

/** Names the base bundle publishes: `effect`, `effect/<Module>` and the runtime's files. */
const sharedSet = () =>
  (sharedNames ??= import("effect").then((effect) => {
    const names = new Set<string>(["effect"])
    for (const name of Object.keys(effect)) names.add(`effect/${name}`)
    for (const file of runtimeModules()) names.add(file)
    return names
  }))

let base: Promise<string> | undefined

/** Path of the base worker bundle, built if missing or stale. */
export const baseBundle = (): Promise<string> =>
  (base ??= (async () => {
    const modules = runtimeModules()
    const codeIndex = modules.indexOf(codeModule)
    const lines = [
      `import * as effect from "effect"`,
      ...modules.map((file, i) => `import * as m${i} from ${JSON.stringify(file)}`),
      `import { start } from ${JSON.stringify(workerMain)}`,
      `const shared = { "effect": effect }`,
      `for (const name of Object.keys(effect)) shared["effect/" + name] = effect[name]`,
      ...modules.map((file, i) => `shared[${JSON.stringify(file)}] = m${i}`),
      `globalThis[${JSON.stringify(SHARED)}] = shared`,
      // The runtime's own modules are in this bundle already: code in them resolves without a module bundle.
      ...modules.map((file, i) => `m${codeIndex}.provide(${JSON.stringify(pathToFileURL(file).href)}, m${i})`),
      `start()`
    ]
    // Named after its entry, which lists every runtime file: a layout or generator change makes a new bundle.
    const entryHash = Crypto.createHash("sha1").update(`${FORMAT}\n${lines.join("\n")}`).digest("hex").slice(0, 8)
    const output = Path.join(cacheDir, `worker-base-${entryHash}.mjs`)
    if (fresh(output)) return output
    await build(output, { entry: "actorflow-worker-entry.ts", contents: lines.join("\n"), plugins: [keepModuleUrls] })
    return output
  })().catch((error) => {
    base = undefined
    throw error
  }))

/**
 * The bundle of one source file, `kind-<name>-<hash>.mjs` in the cache, built once per process (concurrent
 * callers share the build; a failed one is tried again next time) and only when missing or stale.
 */
const fileBundle = (() => {
  const builds = new Map<string, Promise<string>>()
  return (kind: string, file: string, plugins: () => Promise<Array<Plugin>>): Promise<string> => {
    const key = `${kind}:${file}`
    let bundle = builds.get(key)
    if (bundle === undefined) {
      bundle = (async () => {
        const hash = Crypto.createHash("sha1").update(`${file}:${layoutHash()}:${FORMAT}`).digest("hex").slice(0, 12)
        const output = Path.join(cacheDir, `${kind}-${Path.basename(file).replace(/\W/g, "_")}-${hash}.mjs`)
        if (fresh(output)) return output
        await build(output, { entry: file, plugins: await plugins() })
        return output
      })()
      bundle.catch(() => builds.delete(key))
      builds.set(key, bundle)
    }
    return bundle
  }
})()

/** Path of the bundle a worker imports to load `moduleUrl` (a user's actor, task or kernel module). */
export const moduleBundle = (moduleUrl: string): Promise<string> =>
  fileBundle("module", fileURLToPath(moduleUrl), async () => [useShared(await sharedSet()), keepModuleUrls])

/**
 * Path of a bundle of the program `entry` (a `.ts` file with its imports, Effect included), built if missing or
 * stale: a process started from it boots in a fraction of the time a TypeScript loader takes. Module URLs stay
 * those of the sources, so it finds the worker bundle and the runtime's files as if run from them.
 */
export const programBundle = (entry: string): Promise<string> => fileBundle("program", entry, async () => [keepModuleUrls])

/**
 * Ship code to worker threads (of this process, or of runners with the same checkout): the runtime's own modules
 * are in the base bundle already; a user module gets its bundle, which `via` names. `to` says where, for errors.
 */
export const ship = ({ module, name }: Locator, to: string): Effect.Effect<Shipped, CodeUnavailable> =>
  isRuntimeModule(module)
    ? Effect.succeed({ module, name, via: "" })
    : Effect.tryPromise({
      try: () => moduleBundle(module),
      catch: (error) => new CodeUnavailable({ module, name, stage: "ship", detail: `cannot bundle ${module} for ${to}: ${describe(error)}` })
    }).pipe(Effect.map((bundle) => ({ module, name, via: pathToFileURL(bundle).href })))
