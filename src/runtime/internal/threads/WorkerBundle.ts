/**
 * Builds what worker threads load: one base bundle (Effect and this runtime) and
 * one small bundle per user module (actors, tasks, kernels).
 *
 * Booting a worker through a TypeScript loader costs about a second, and even
 * plain Node takes 0.6 s to load Effect's few hundred files; a pre-bundled worker
 * boots in about a fifth of that, and the base bundle is built as a script that
 * workers run with V8's code cache, so they do not compile it again (ScriptBoot.ts).
 * The base bundle publishes its modules on
 * `globalThis`, and every module bundle imports Effect and the runtime from there
 * instead of carrying its own copy, so a worker holds exactly one instance of each
 * however many modules it loads, and modules can be loaded long after the worker
 * started. Bundles are cached on disk (`Layout.cacheDir`) and rebuilt only when
 * one of their input files, or this package's or Effect's version, changes; a
 * bundle no process has used for `UNUSED_DAYS` is removed when a new one is built
 * (every upgrade, new checkout or runtime file makes new names: the cache would
 * otherwise grow for ever, 200 MB in a day of work on this repository). Each
 * bundle has a source map beside it, so a stack thrown in a worker can name the
 * `.ts` file and line (`SourceMap.mapStack`).
 *
 * Where the runtime comes from is `Layout`'s answer. From its TypeScript sources
 * (this checkout) and from `dist/` (installed from npm) it is bundled the same way,
 * with the Effect its own imports resolve to: the user's, since `effect` is a peer
 * dependency. A user module imports the runtime by path (here) or by name
 * (`actorflow`, `actorflow/pool`, ...): both reach the base bundle's instances.
 * Inside a user's own bundle there is nothing to build: the output file that holds
 * the runtime is the workers' entry, and modules are imported as they are, being
 * output files of the same build.
 */
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { describe, oneLine } from "../../ActorError.ts"
import { CodeUnavailable } from "../../Code.ts"
import type { Locator, Shipped } from "../../Code.ts"
import * as Layout from "../Layout.ts"
import * as ScriptBoot from "./ScriptBoot.ts"

const SHARED = "__actorflow_shared"
/** How bundles are built (format, source maps): part of every bundle's name, so a change never reuses old ones. */
const FORMAT = "esm-linked-map-1"
/** The Cluster tier's client and runner side: Postgres, sockets and processes, which no worker thread loads. */
const notForWorkers = (): Array<string> =>
  Layout.runtimeDir === undefined ? [] : [Layout.runtimeFile("Cluster"), Path.join(Layout.runtimeDir, "internal", "cluster")]

/** The runtime's own modules: shared with every module bundle, never duplicated. */
const runtimeModules = (): Array<string> => {
  if (Layout.runtimeDir === undefined) return []
  const skip = notForWorkers()
  const workerMain = Layout.runtimeFile("internal/threads/worker")
  const out: Array<string> = []
  const walk = (dir: string) => {
    for (const entry of Fs.readdirSync(dir, { withFileTypes: true })) {
      const full = Path.join(dir, entry.name)
      if (skip.includes(full)) continue
      if (entry.isDirectory()) walk(full)
      else if (entry.name.endsWith(Layout.extension) && !entry.name.endsWith(".d.ts") && full !== workerMain) out.push(full)
    }
  }
  walk(Layout.runtimeDir)
  return out.sort()
}

/** Changes whenever a runtime file is added or removed, or a version changes, so older bundles are not reused. */
const layoutHash = (): string =>
  Layout.shortHash(8, runtimeModules().map((file) => Path.relative(Layout.runtimeDir!, file)).join("\n"), Layout.versions())

/** True when a module is part of the base bundle (no separate bundle needed). */
export const isRuntimeModule = (moduleUrl: string): boolean =>
  Layout.isRuntimeFile(moduleUrl.startsWith("file:") ? fileURLToPath(moduleUrl) : moduleUrl)

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

const fresh = (bundle: string, entry?: string): boolean => {
  try {
    if (!Fs.existsSync(bundle)) return false
    const stamp = JSON.parse(Fs.readFileSync(`${bundle}.json`, "utf8")) as Stamp
    // A cache shared by two copies of a project holds one bundle per name: it must be of this copy's file.
    if (entry !== undefined && !(entry in stamp.inputs) && !(Fs.realpathSync(entry) in stamp.inputs)) return false
    const now = stampOf(Object.keys(stamp.inputs))
    if (!Object.entries(stamp.inputs).every(([file, value]) => now[file] === value)) return false
    markUsed(bundle)
    return true
  } catch {
    return false
  }
}

/** Days a cached bundle may go unused before a build removes it (see the module doc). */
export const UNUSED_DAYS = 7

/**
 * A bundle's stamp file's times say when a process last used it (the bundle's own mtime is its build's): marked
 * on each fresh look, each ship and each worker start, so that a process living for weeks keeps its bundles.
 */
export const markUsed = (bundle: string): void => {
  const now = new Date()
  try {
    Fs.utimesSync(`${bundle}.json`, now, now)
  } catch {
    // Inside a user's bundle there is no stamp: nothing is pruned there either.
  }
}

/** A bundle's code caches (see ScriptBoot.ts): `<bundle>.<node version>-<arch>.cache`. */
const CODE_CACHE = /^(.+\.m?js)\.v[^/]+\.cache$/

/**
 * Remove the bundles (with their stamps, maps and code caches) whose stamp no process touched for
 * `UNUSED_DAYS`, code caches whose bundle is gone, and temporary files older than a day (a process killed while
 * writing). Once per process, when it builds: a process that only reads the cache never scans it.
 */
export const pruneCache = (dir: string, now = Date.now()): void => {
  const stale = now - UNUSED_DAYS * 86_400_000
  let names: Array<string>
  try {
    names = Fs.readdirSync(dir)
  } catch {
    return
  }
  const present = new Set(names)
  const remove = (file: string) => Fs.rmSync(Path.join(dir, file), { force: true })
  const removeBundle = (bundle: string) => {
    remove(bundle)
    remove(`${bundle}.map`)
    for (const other of names) if (CODE_CACHE.exec(other)?.[1] === bundle) remove(other)
  }
  const isBundle = (name: string) => name.endsWith(".mjs") || name.endsWith(".js")
  for (const name of names) {
    // The primer is no bundle (no stamp, never rebuilt): every worker of every process imports it.
    if (name === ScriptBoot.PRIMER) continue
    try {
      if (name.endsWith(".tmp")) {
        if (Fs.statSync(Path.join(dir, name)).mtimeMs < now - 86_400_000) remove(name)
      } else if (isBundle(name) && !present.has(`${name}.json`) && Fs.statSync(Path.join(dir, name)).mtimeMs < stale) {
        // A bundle whose stamp is gone (a process killed between the two writes) is never fresh again.
        removeBundle(name)
      } else if (name.endsWith(".json") && isBundle(name.slice(0, -".json".length)) && Fs.statSync(Path.join(dir, name)).mtimeMs < stale) {
        removeBundle(name.slice(0, -".json".length))
        remove(name)
      } else if (CODE_CACHE.test(name) && !present.has(CODE_CACHE.exec(name)![1]!)) {
        remove(name)
      }
    } catch {
      // Another process removed it first, or it cannot be read: not ours to worry about.
    }
  }
}

let pruned = false

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

const inNodeModules = (file: string) => file.includes(`${Path.sep}node_modules${Path.sep}`)

/**
 * Keep each source file's own `import.meta.url`, so definitions keep their identity inside bundles: the user's
 * files and the runtime's (also when it is installed in `node_modules`), not other packages'.
 */
const keepModuleUrls: Plugin = {
  name: "actorflow-module-urls",
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[tj]s$/ }, (args) => {
      const ours = Layout.packageRoot !== undefined && args.path.startsWith(Layout.packageRoot + Path.sep)
      if (inNodeModules(args.path) && !ours) return undefined
      const source = Fs.readFileSync(args.path, "utf8")
      const contents = source.replaceAll(META_URL, JSON.stringify(pathToFileURL(args.path).href))
      return { contents, loader: args.path.endsWith("ts") ? "ts" : "js" }
    })
  }
}

/** What the base bundle publishes: `effect`, `effect/<Module>`, and the runtime's files by path. */
interface Shared {
  readonly names: ReadonlySet<string>
}

const RESOLVING = "actorflow-resolving"
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

/** Resolve Effect and runtime imports to the base bundle's instances. */
const useShared = (shared: Shared): Plugin => ({
  name: "actorflow-shared",
  setup(build) {
    const namespace = "actorflow-shared"
    build.onResolve({ filter: /^effect(\/[A-Za-z]+)?$/ }, (args) =>
      shared.names.has(args.path) ? { path: args.path, namespace } : undefined)
    // The runtime by its package name (`actorflow`, `actorflow/pool`), as a project that installed it imports it.
    build.onResolve({ filter: new RegExp(`^${escape(Layout.packageName)}(\\/.*)?$`) }, async (args) => {
      if (args.pluginData === RESOLVING) return undefined
      const found = await build.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: RESOLVING
      })
      if (found.errors.length > 0) return { errors: found.errors }
      if (shared.names.has(found.path)) return { path: found.path, namespace }
      return {
        errors: [{
          text: `"${args.path}" resolves to ${found.path}, not to the Actorflow this process runs (${Layout.runtimeDir ?? Layout.file}): ` +
            `a worker holds one copy of it`
        }]
      }
    })
    build.onResolve({ filter: /^(\.\.?)?\// }, (args) => {
      const full = Path.resolve(args.resolveDir, args.path)
      return shared.names.has(full) ? { path: full, namespace } : undefined
    })
    build.onLoad({ filter: /.*/, namespace }, (args) => ({
      contents: `module.exports = globalThis[${JSON.stringify(SHARED)}][${JSON.stringify(args.path)}]`,
      loader: "js"
    }))
  }
})

let esbuild: Promise<Esbuild> | undefined
const loadEsbuild = () => (esbuild ??= import("esbuild"))

/** esbuild's failure as one line: the first error with its place, and how many more there were. */
const buildError = (error: unknown): string => {
  const errors = (error as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }> }).errors
  if (!Array.isArray(errors) || errors.length === 0) return describe(error)
  const [first] = errors
  // esbuild names files relative to the working directory; the user's error names them in full.
  const at = first!.location
  const where = at ? `${Path.resolve(process.cwd(), at.file)}:${at.line}:${at.column}: ` : ""
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? "s" : ""})` : ""
  return `${where}${oneLine(first!.text)}${more}`
}

const build = async (
  output: string,
  options: {
    readonly entry: string
    readonly contents?: string
    readonly plugins: Array<Plugin>
    /** "script": CommonJS, run by `ScriptBoot` with the `require` it is given (the base bundle). */
    readonly as?: "module" | "script"
  }
): Promise<void> => {
  const script = options.as === "script"
  const { build } = await loadEsbuild()
  const result = await build({
    ...(options.contents === undefined
      ? { entryPoints: [options.entry] }
      : { stdin: { contents: options.contents, resolveDir: Layout.runtimeDir!, sourcefile: options.entry, loader: "ts" } }),
    bundle: true,
    format: script ? "cjs" : "esm",
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
    ...(script ? {} : { banner: { js: `import { createRequire as __afRequire } from 'node:module'; const require = __afRequire(${META_URL});` } }),
    logLevel: "silent"
  }).catch((error: unknown) => {
    throw new Error(buildError(error))
  })
  const inputs = Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes(":"))
    .map((input) => Path.resolve(process.cwd(), input))
  const stamp: Stamp = { inputs: stampOf(inputs) }
  const map = result.outputFiles.find((file) => file.path.endsWith(".map"))
  const code = result.outputFiles.find((file) => !file.path.endsWith(".map"))!
  if (map !== undefined) writeAtomic(map.path, map.contents)
  writeAtomic(output, code.contents)
  writeAtomic(`${output}.json`, JSON.stringify(stamp))
  if (!pruned) {
    pruned = true
    pruneCache(Path.dirname(output))
  }
}

let sharedNames: Promise<Shared> | undefined

/** Names the base bundle publishes: `effect`, `effect/<Module>` and the runtime's files. */
const sharedSet = () =>
  (sharedNames ??= import("effect").then((effect) => {
    const names = new Set<string>(["effect"])
    for (const name of Object.keys(effect)) names.add(`effect/${name}`)
    for (const file of runtimeModules()) names.add(file)
    return { names }
  }))

let base: Promise<string> | undefined

/**
 * The empty module that workers import as they boot to set up their ES module loader (`ScriptBoot.primeImports`),
 * written once into the bundle cache. Only speed depends on it: a worker that cannot import it goes on without.
 */
const writePrimer = (): void => {
  try {
    const file = Path.join(Layout.cacheDir(), ScriptBoot.PRIMER)
    if (!Fs.existsSync(file)) writeAtomic(file, "export {}\n")
  } catch {
    // A read-only cache folder: workers boot without priming.
  }
}

/** Whether two paths name one file. */
const sameFile = (a: string, b: string | undefined): boolean => {
  if (b === undefined) return false
  try {
    return Fs.realpathSync(a) === Fs.realpathSync(b)
  } catch {
    return Path.resolve(a) === Path.resolve(b)
  }
}

/**
 * Path of the file a worker thread starts from: the base bundle, built if missing or stale; inside a user's
 * bundle, the output file that holds the runtime (whose `worker` module starts the thread when it sees it is
 * one of ours).
 */
export const baseBundle = (): Promise<string> =>
  (base ??= (async () => {
    writePrimer()
    if (Layout.form === "bundled") return bundledEntry()
    const modules = runtimeModules()
    const codeIndex = modules.indexOf(Layout.runtimeFile("Code"))
    const lines = [
      `import * as effect from "effect"`,
      ...modules.map((file, i) => `import * as m${i} from ${JSON.stringify(file)}`),
      // Starts the worker's router as it is evaluated (see worker.ts), before the lines below run.
      `import ${JSON.stringify(Layout.runtimeFile("internal/threads/worker"))}`,
      `const shared = { "effect": effect }`,
      `for (const name of Object.keys(effect)) shared["effect/" + name] = effect[name]`,
      ...modules.map((file, i) => `shared[${JSON.stringify(file)}] = m${i}`),
      `globalThis[${JSON.stringify(SHARED)}] = shared`,
      // The runtime's own modules are in this bundle already: code in them resolves without a module bundle.
      ...modules.map((file, i) => `m${codeIndex}.provide(${JSON.stringify(pathToFileURL(file).href)}, m${i})`)
    ]
    // Named after its entry, which lists every runtime file: a layout or generator change makes a new bundle.
    const entryHash = Layout.shortHash(8, `${FORMAT}\n${lines.join("\n")}`, Layout.versions())
    // A script, not a module: workers run it with V8's code cache (see ScriptBoot.ts).
    const output = Path.join(Layout.cacheDir(), `worker-base-${entryHash}.js`)
    if (fresh(output)) return output
    await build(output, { entry: "actorflow-worker-entry.ts", contents: lines.join("\n"), plugins: [keepModuleUrls], as: "script" })
    return output
  })().catch((error) => {
    base = undefined
    throw error
  }))

/** How a worker starts from the base bundle: evaluating `ScriptBoot`'s loader; inside a user's bundle, from its file. */
export const workerEntry = (
  base: string
): { readonly filename: string; readonly eval: boolean; readonly script?: ScriptBoot.Script } =>
  Layout.form === "bundled"
    ? { filename: base, eval: false }
    : { filename: ScriptBoot.source, eval: true, script: ScriptBoot.script(base) }

/** Inside a user's bundle: the output file holding the runtime, unless that is the program itself. */
const bundledEntry = (): string => {
  if (Layout.file === undefined) {
    throw new Error(`Actorflow is bundled without ${META_URL} (a CommonJS bundle?): bundle it as ESM (--format=esm)`)
  }
  if (sameFile(Layout.file, Layout.entryFile())) {
    throw new Error(
      `Actorflow is bundled into ${Layout.file}, the program's entry file, so a worker would run the program again: ` +
        `bundle with --splitting --format=esm and give the modules that define actors, tasks and kernels entry points ` +
        `of their own (see the README, "Bundling")`
    )
  }
  return Layout.file
}

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
        // Named by the file's path in the project, not on this machine: runners of one cluster, wherever their copy of
        // the project is, name a module's bundle alike (a pool's tasks reach every runner by that one name).
        const where = Layout.portableModule(pathToFileURL(file).href)
        const hash = Layout.shortHash(12, `${where}:${layoutHash()}:${FORMAT}`)
        const output = Path.join(Layout.cacheDir(), `${kind}-${Path.basename(file).replace(/\W/g, "_")}-${hash}.mjs`)
        if (fresh(output, file)) return output
        await build(output, { entry: file, plugins: await plugins() })
        return output
      })()
      bundle.catch(() => builds.delete(key))
      builds.set(key, bundle)
    }
    return bundle.then((path) => {
      markUsed(path)
      return path
    })
  }
})()

/** Path of the bundle a worker imports to load `moduleUrl` (a user's actor, task or kernel module). */
export const moduleBundle = (moduleUrl: string): Promise<string> =>
  fileBundle("module", fileURLToPath(moduleUrl), async () => [useShared(await sharedSet()), keepModuleUrls])

/**
 * Path of a bundle of the program `entry` (a module of this runtime with its imports, Effect included), built if
 * missing or stale: a process started from it boots in a fraction of the time a TypeScript loader (or Node on
 * unbundled files) takes. Module URLs stay those of the sources, so it finds the worker bundle and the runtime's
 * files as if run from them. There is none inside a user's bundle.
 */
export const programBundle = (entry: string): Promise<string> =>
  Layout.form === "bundled"
    ? Promise.reject(new Error("Actorflow is inside a bundle: it has no sources to start a process from"))
    : fileBundle("program", entry, async () => [keepModuleUrls])

/**
 * Ship code to worker threads (of this process, or of runners with the same checkout): the runtime's own modules
 * are in the base bundle already; a user module gets its bundle, which `via` names (by its file name in the
 * bundle cache: each process has its own cache, see `Code.load`); inside a user's bundle, a module is imported
 * as it is. `to` says where, for errors.
 */
export const ship = (locator: Locator, to: string): Effect.Effect<Shipped, CodeUnavailable> =>
  Effect.flatMap(check(locator, to), (needs) =>
    // Only the locator's two fields: what is shipped may be a whole task or kernel, which threads cannot carry.
    needs === "nothing" ? Effect.succeed({ module: locator.module, name: locator.name, via: "" }) : bundleFor(locator, to))

/**
 * Whether a worker can load `module`, and what it needs: "nothing" (a module of the runtime, or a runtime
 * bundled with the user's code) or "a bundle". A module that a worker cannot load is refused here, at spawn, with
 * the reason: one that is not a file, one that is gone, and the program's entry file, which a worker would run
 * again (as Python's `multiprocessing` re-runs a main module that has no `if __name__ == "__main__"` guard).
 */
export const check = ({ module, name }: Locator, to: string): Effect.Effect<"nothing" | "a bundle", CodeUnavailable> =>
  Effect.suspend(() => {
    const refuse = (detail: string) => Effect.fail(new CodeUnavailable({ module, name, stage: "ship", detail }))
    if (!module.startsWith("file:")) {
      return refuse(`${module} is not a file URL: ${name} must be made with module: ${META_URL} in the module that defines it`)
    }
    const file = fileURLToPath(module)
    if (Layout.form !== "bundled" && Layout.isRuntimeFile(file)) return Effect.succeed("nothing" as const)
    if (!Fs.existsSync(file)) return refuse(`${file} does not exist, so ${to} cannot load ${name} from it`)
    if (sameFile(file, Layout.entryFile())) {
      return refuse(
        `${name} is defined in ${file}, the program's entry file, which ${to} would run again to load it: ` +
          `define it in a module of its own and import it from there`
      )
    }
    return Effect.succeed(Layout.form === "bundled" ? "nothing" as const : "a bundle" as const)
  })

/** The bundle of `module` in this process's cache (built if missing or stale), named as `Shipped.via` names it. */
const bundleFor = ({ module, name }: Locator, to: string): Effect.Effect<Shipped, CodeUnavailable> =>
  Effect.tryPromise({
    try: () => moduleBundle(module),
    catch: (error) =>
      new CodeUnavailable({
        module,
        name,
        stage: "ship",
        detail: `cannot bundle ${fileURLToPath(module)} for ${to}: ${error instanceof Error ? error.message : describe(error)}`
      })
  }).pipe(Effect.map((bundle) => ({ module, name, via: Path.basename(bundle) })))
