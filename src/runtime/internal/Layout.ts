/**
 * Where this runtime's own files are, and in which form — what every piece that starts a thread or a process
 * (worker bundles, cluster runners, code versions) needs to know before it can find its entry.
 *
 * Three forms, told apart by this file's own URL:
 * - `source`: the TypeScript sources of a checkout (`src/runtime/internal/Layout.ts`), run with tsx or vitest;
 * - `dist`: compiled to JavaScript (`dist/internal/Layout.js`), as installed from npm into `node_modules`;
 * - `bundled`: inside a user's own bundle (esbuild, ESM), where the runtime's modules share one output file with
 *   Effect and often with the user's modules, and no file of this package is on disk at all.
 *
 * Finding the runtime from its own file path, rather than from the working directory or `process.argv`, is what
 * lets a worker find it from inside `node_modules`, from a user project, or from a runner started anywhere.
 */
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

export type Form = "source" | "dist" | "bundled"

/** This module's file, or undefined when a bundler gave it no `import.meta.url` (a CommonJS bundle). */
const self: string | undefined = typeof import.meta.url === "string" && import.meta.url.startsWith("file:")
  ? fileURLToPath(import.meta.url)
  : undefined

const endsWith = (file: string | undefined, ...parts: Array<string>) => file !== undefined && file.endsWith(Path.sep + Path.join(...parts))

export const form: Form = endsWith(self, "runtime", "internal", "Layout.ts")
  ? "source"
  : endsWith(self, "internal", "Layout.js")
  ? "dist"
  : "bundled"

/**
 * The file that holds the runtime's code when it is `bundled` (a user's output file or one of its chunks), or this
 * module's own file otherwise; undefined only in a bundle without `import.meta.url`.
 */
export const file: string | undefined = self

/** The runtime's top folder (`src/runtime` or `dist`); undefined when `bundled`. */
export const runtimeDir: string | undefined = form === "bundled" ? undefined : Path.resolve(Path.dirname(self!), "..")

/** The package's root (the checkout, or `node_modules/actorflow`); undefined when `bundled`. */
export const packageRoot: string | undefined = form === "source"
  ? Path.resolve(runtimeDir!, "..", "..")
  : form === "dist"
  ? Path.resolve(runtimeDir!, "..")
  : undefined

/**
 * The project that holds this package: the checkout itself, or the one whose `node_modules` holds it (where the
 * user's modules live too); undefined when `bundled`.
 */
export const projectRoot: string | undefined = (() => {
  if (packageRoot === undefined) return undefined
  const parts = packageRoot.split(Path.sep)
  const outer = parts.indexOf("node_modules")
  return outer >= 0 ? parts.slice(0, outer).join(Path.sep) : packageRoot
})()

const ROOT = "root:"

/**
 * A module URL as it crosses processes: below the project root, relative to it (`root:src/actors/pi/Sampler.ts`),
 * so that a process whose copy of the project sits at another path (a runner on another machine) finds its own
 * copy; any other URL as it is.
 */
export const portableModule = (moduleUrl: string): string => {
  if (projectRoot === undefined || !moduleUrl.startsWith("file:")) return moduleUrl
  const file = fileURLToPath(moduleUrl)
  return file.startsWith(projectRoot + Path.sep) ? ROOT + Path.relative(projectRoot, file).split(Path.sep).join("/") : moduleUrl
}

/** A module URL that crossed processes (see `portableModule`), as this process names it. */
export const localModule = (module: string): string =>
  module.startsWith(ROOT) && projectRoot !== undefined
    ? pathToFileURL(Path.join(projectRoot, ...module.slice(ROOT.length).split("/"))).href
    : module

/** The extension of the runtime's modules in this form. */
export const extension = form === "source" ? ".ts" : ".js"

/** A runtime module's file, named by its path below the runtime's top folder without extension (`internal/threads/worker`). */
export const runtimeFile = (name: string): string => {
  if (runtimeDir === undefined) throw new Error(`the runtime is bundled: it has no file ${name}`)
  return Path.join(runtimeDir, ...name.split("/")) + extension
}

/** True when `file` is one of the runtime's own modules (which workers hold already). */
export const isRuntimeFile = (file: string): boolean =>
  runtimeDir !== undefined && file.startsWith(runtimeDir + Path.sep) && file.endsWith(extension)

const readJson = (file: string): Record<string, unknown> => {
  try {
    return JSON.parse(Fs.readFileSync(file, "utf8")) as Record<string, unknown>
  } catch {
    return {}
  }
}

/** The package's name (`actorflow`), as user modules import it. */
export const packageName: string = packageRoot === undefined
  ? "actorflow"
  : String(readJson(Path.join(packageRoot, "package.json")).name ?? "actorflow")

let versions_: string | undefined

/**
 * This package's version and that of the Effect its modules import (the user's, as a peer dependency): what a
 * cached bundle was built from. npm gives installed files one fixed modification time, so a stamp of sizes and
 * times alone could miss an upgrade.
 */
export const versions = (): string => {
  if (versions_ !== undefined) return versions_
  const own = packageRoot === undefined ? "" : String(readJson(Path.join(packageRoot, "package.json")).version ?? "")
  let effect = ""
  try {
    effect = String(readJson(createRequire(Path.join(runtimeDir ?? process.cwd(), "x.js")).resolve("effect/package.json")).version ?? "")
  } catch {
    // No Effect where the runtime is: the bundle build will say so.
  }
  return (versions_ = `${own}/${effect}`)
}

let nodeCrypto: typeof import("node:crypto") | undefined

/**
 * The first `length` hex digits of the SHA-1 of `parts`, in order: the names of cached bundles and folders.
 * `node:crypto` is loaded on first use: only the main thread names them, and loading it cost each worker
 * 4.5–4.8 ms of its boot here.
 */
export const shortHash = (length: number, ...parts: ReadonlyArray<string>): string => {
  nodeCrypto ??= createRequire(self ?? Path.join(process.cwd(), "actorflow.js"))("node:crypto") as typeof import("node:crypto")
  const hash = nodeCrypto.createHash("sha1")
  for (const part of parts) hash.update(part)
  return hash.digest("hex").slice(0, length)
}

let cacheDir_: string | undefined

/** A worker thread uses its process's cache folder (it loads bundles from there), whatever its own environment says. */
export const useCacheDir = (dir: string): void => {
  cacheDir_ = dir
}

/**
 * This project's folder in a cache folder `base` that several projects may share (`ACTORFLOW_CACHE_DIR`). Bundles
 * are named by their module's path in its project, so that runners on other machines name them alike: two checkouts
 * sharing one folder rebuilt each other's bundles at every start, and a worker of one could load the other's.
 */
export const projectCacheIn = (base: string, root: string | undefined = projectRoot ?? packageRoot): string =>
  Path.join(base, `project-${shortHash(8, root ?? "")}`)

/**
 * `root`'s cache folder in its `node_modules` (`node_modules/.cache/actorflow`), or this project's folder in it
 * when that `node_modules` is another folder's, reached by a symbolic link (worktrees and checkouts that share
 * one install): the same reason as for `projectCacheIn`.
 */
export const nodeModulesCache = (root: string): string => {
  const dir = Path.join(root, "node_modules", ".cache", "actorflow")
  try {
    if (Path.dirname(Fs.realpathSync(Path.join(root, "node_modules"))) !== Fs.realpathSync(root)) return projectCacheIn(dir, root)
  } catch {
    // No node_modules (yet): creating the folder makes it this project's own.
  }
  return dir
}

/**
 * Where built bundles are kept: `node_modules/.cache/actorflow` of the project that holds this package (the
 * checkout's own, or the one `node_modules/actorflow` sits in), where tools keep their caches (`nodeModulesCache`);
 * a folder in the system's temporary directory when that one cannot be written (a read-only install).
 * `ACTORFLOW_CACHE_DIR` chooses another: the project's folder in it (`projectCacheIn`).
 */
export const cacheDir = (): string => {
  if (cacheDir_ !== undefined) return cacheDir_
  const wanted = process.env.ACTORFLOW_CACHE_DIR
  const candidates: Array<string> = []
  if (wanted) candidates.push(projectCacheIn(Path.resolve(wanted)))
  if (projectRoot !== undefined) candidates.push(nodeModulesCache(projectRoot))
  const tag = shortHash(8, packageRoot ?? "")
  candidates.push(Path.join(Os.tmpdir(), `actorflow-cache-${process.getuid?.() ?? "user"}-${tag}`))
  for (const dir of candidates) {
    try {
      Fs.mkdirSync(dir, { recursive: true })
      Fs.accessSync(dir, Fs.constants.W_OK)
      return (cacheDir_ = dir)
    } catch {
      // Not writable: try the next one.
    }
  }
  throw new Error(`no writable cache folder for worker bundles (tried ${candidates.join(", ")}); set ACTORFLOW_CACHE_DIR`)
}

/** The program's entry file (what `node` or `tsx` was asked to run), if there is one. */
export const entryFile = (): string | undefined => {
  const main = process.argv[1]
  if (main === undefined) return undefined
  try {
    return Fs.realpathSync(Path.resolve(main))
  } catch {
    return Path.resolve(main)
  }
}
