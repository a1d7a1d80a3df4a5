// A user module that a worker cannot load is refused at spawn, with one typed error that names the module and
// the reason — never a dead worker later: a syntax error, an import the bundler cannot resolve, a file that is
// not there, a module without the definition (or with it as its default export), a module that throws when a
// worker evaluates it, and the program's own entry file (which a worker would run again). After all of them the
// workers are the ones that started, and they still take actors.
import { Effect, Schema } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { Client, Remote } from "../src/runtime/engines/index.ts"
import { Actor, ActorSystem, Threads } from "../src/runtime/index.ts"
import * as Layout from "../src/runtime/internal/Layout.ts"
import { Pool } from "../src/runtime/pool/index.ts"
import { Echo } from "./fixtures/Echo.ts"
import { square } from "./fixtures/tasks.ts"
import { run as runProgram } from "./support/program.ts"
import * as Tiers from "./support/tiers.ts"

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-bad-modules-"))
const file = (name: string, contents: string) => {
  const path = Path.join(dir, name)
  Fs.writeFileSync(path, contents)
  return pathToFileURL(path).href
}

const modules = {
  syntax: file("syntax.ts", "export const broken = (;\n"),
  unresolved: file("unresolved.ts", `import "no-such-package-anywhere"\nexport const ok = 1\n`),
  gone: pathToFileURL(Path.join(dir, "gone.ts")).href,
  elsewhere: file("elsewhere.ts", "export const other = 1\nexport const more = 2\n"),
  defaulted: file("defaulted.ts", "export default function square(x: number) {\n  return x * x\n}\n"),
  mainOnly: file(
    "mainOnly.ts",
    `import { isMainThread } from "node:worker_threads"\n` +
      `if (!isMainThread) throw new Error("settings are read on the main thread only")\nexport const ok = 1\n`
  )
}

/** An actor that claims to live in `module` (where a worker will look for it). */
const claimedIn = (name: string, module: string) =>
  Actor.make(name, {
    module,
    init: Schema.Struct({}),
    protocol: { ping: Actor.message({ payload: Schema.Void, success: Schema.String }) },
    behaviour: () => Effect.succeed({ ping: () => Effect.succeed("pong") })
  })

const tiers = Tiers.make()
afterAll(async () => {
  await tiers.dispose()
  Fs.rmSync(dir, { recursive: true, force: true })
})

const spawnError = (name: string, module: string) =>
  Tiers.run(tiers.threads(2), Effect.flip(ActorSystem.spawn(claimedIn(name, module), {}, { worker: 1 })))

describe("a module a worker cannot load is refused at spawn, with one typed error naming it and the reason", () => {
  it("a syntax error: the bundler's first error, with its place", async () => {
    const error = await spawnError("Syntax", modules.syntax)
    expect(error._tag).toBe("SpawnFailed")
    expect(error.detail).toContain(`${fileURLToPath(modules.syntax)}:1:`)
    expect(error.detail).toMatch(/Unexpected|Expected/)
  })

  it("an import the bundler cannot resolve", async () => {
    const error = await spawnError("Unresolved", modules.unresolved)
    expect(error.detail).toContain(fileURLToPath(modules.unresolved))
    expect(error.detail).toContain(`Could not resolve "no-such-package-anywhere"`)
  })

  it("a file that is not there", async () => {
    const error = await spawnError("Gone", modules.gone)
    expect(error.detail).toBe(`${fileURLToPath(modules.gone)} does not exist, so the workers cannot load Gone from it`)
  })

  it("a module without the definition: what it exports instead", async () => {
    const error = await spawnError("Ghost", modules.elsewhere)
    expect(error.detail).toBe(
      `${modules.elsewhere} has no actor definition Ghost (it exports more, other; make Ghost at module level there, and export it)`
    )
  })

  it("a module that throws when a worker evaluates it: its error, at spawn", async () => {
    const error = await spawnError("MainOnly", modules.mainOnly)
    expect(error.detail).toContain(`cannot load ${modules.mainOnly}`)
    expect(error.detail).toContain("settings are read on the main thread only")
  })

  it("a function that is its module's default export, asked for by name", async () => {
    const error = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const client = yield* Client.make({ engines: 1 })
        const view = yield* client.view()
        return yield* Effect.flip(yield* view.apply(Remote.ref<(x: number) => number>(modules.defaulted, "square"), 3))
      })
    )
    expect(error.message).toContain(
      `${modules.defaulted} has no function square: it is the module's default export; export it by name (export const square = ...)`
    )
  })

  it("afterwards, no worker has died and both still take actors", async () => {
    const answers = await Tiers.run(
      tiers.threads(2),
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const refs = yield* Effect.forEach([0, 1], (worker) => ActorSystem.spawn(Echo, { prefix: `w${worker}:` }, { worker }))
        const out = yield* Effect.forEach(refs, (ref) => ref.ask("echo", "hi"))
        return { out, restarts: system.restarts() }
      })
    )
    expect(answers).toEqual({ out: ["w0:hi", "w1:hi"], restarts: 0 })
  })
})

describe("code defined in the program's entry file", () => {
  it("is refused at spawn: a worker would run the program again to load it", async () => {
    const program = fileURLToPath(new URL("./fixtures/entryProgram.ts", import.meta.url))
    const outcome = await runProgram([program])
    expect(outcome.code).toBe(0)
    const error = JSON.parse(outcome.stdout.trim())
    expect(error).toMatchObject({ _tag: "SpawnFailed", actor: "Counter" })
    expect(error.detail).toBe(
      `Counter is defined in ${program}, the program's entry file, which the workers would run again to load it: ` +
        `define it in a module of its own and import it from there`
    )
  })
})

describe("where workers find the bundles they load", () => {
  it("in their process's cache, even when the environment they inherit names another one", async () => {
    // The process chose its cache folder already; a variable set later is what new threads inherit. Threads must
    // still load the bundles the process built (from its cache), not look in the folder the variable names.
    Layout.cacheDir()
    const elsewhere = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-other-cache-"))
    const before = process.env.ACTORFLOW_CACHE_DIR
    process.env.ACTORFLOW_CACHE_DIR = elsewhere
    try {
      const tier = Threads.layer({ workers: 2 })
      const out = await Effect.runPromise(Effect.scoped(Effect.flatMap(Pool.make(), (pool) => pool.map(square, [1, 2, 3, 4], { chunkSize: 1 }))).pipe(Effect.provide(tier)))
      expect(out).toEqual([1, 4, 9, 16])
      expect(Fs.readdirSync(elsewhere)).toEqual([])
    } finally {
      if (before === undefined) delete process.env.ACTORFLOW_CACHE_DIR
      else process.env.ACTORFLOW_CACHE_DIR = before
      Fs.rmSync(elsewhere, { recursive: true, force: true })
    }
  })
})

describe("a cache folder that several projects share (ACTORFLOW_CACHE_DIR)", () => {
  it("holds a folder per project, the same one for each process of a project", async () => {
    const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-shared-cache-"))
    try {
      // Two checkouts: their modules' bundles have the same names (a module's path in its project), so one folder
      // for both rebuilt each other's bundles at every start.
      expect(Layout.projectCacheIn(base, "/checkouts/one")).not.toBe(Layout.projectCacheIn(base, "/checkouts/two"))
      expect(Path.dirname(Layout.projectCacheIn(base, "/checkouts/one"))).toBe(base)
      // A process of this project started with the variable set builds its bundles in this project's folder.
      const child = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const script = `import * as Layout from ${JSON.stringify(new URL("../src/runtime/internal/Layout.ts", import.meta.url).href)}; console.log(Layout.cacheDir())`
        const proc = ChildProcess.spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
          env: { ...process.env, ACTORFLOW_CACHE_DIR: base },
          stdio: ["ignore", "pipe", "inherit"]
        })
        let out = ""
        proc.stdout.on("data", (chunk) => (out += chunk))
        proc.on("close", (code) => resolve({ code, out }))
      })
      expect(child.code).toBe(0)
      expect(child.out.trim()).toBe(Layout.projectCacheIn(base))
    } finally {
      Fs.rmSync(base, { recursive: true, force: true })
    }
  }, 60_000)

  it("checkouts that share one node_modules through a symbolic link get a folder each in its cache", () => {
    const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-linked-"))
    try {
      const one = Path.join(base, "one")
      const two = Path.join(base, "two")
      Fs.mkdirSync(Path.join(one, "node_modules"), { recursive: true })
      Fs.mkdirSync(two)
      Fs.symlinkSync(Path.join(one, "node_modules"), Path.join(two, "node_modules"), "dir")
      const own = Path.join(one, "node_modules", ".cache", "actorflow")
      // The install's owner keeps the plain folder; the checkout that links to it gets its project's folder in it.
      expect(Layout.nodeModulesCache(one)).toBe(own)
      expect(Layout.nodeModulesCache(two)).toBe(Layout.projectCacheIn(Path.join(two, "node_modules", ".cache", "actorflow"), two))
      // A project with no node_modules yet: its own folder (creating it makes it the project's own).
      expect(Layout.nodeModulesCache(Path.join(base, "three"))).toBe(Path.join(base, "three", "node_modules", ".cache", "actorflow"))
    } finally {
      Fs.rmSync(base, { recursive: true, force: true })
    }
  })
})

describe("module names across processes", () => {
  it("a module of the project goes by its path in it, and comes back as this project's file; others go as they are", () => {
    const here = fileURLToPath(new URL("..", import.meta.url))
    const echo = new URL("./fixtures/Echo.ts", import.meta.url).href
    expect(Layout.portableModule(echo)).toBe("root:test/fixtures/Echo.ts")
    expect(Layout.localModule("root:test/fixtures/Echo.ts")).toBe(echo)
    expect(Path.resolve(fileURLToPath(Layout.localModule("root:src/runtime/index.ts")))).toBe(Path.join(here, "src", "runtime", "index.ts"))
    // Outside the project (a temporary file, a builtin): the URL itself, both ways.
    const outside = pathToFileURL(Path.join(Os.tmpdir(), "elsewhere.ts")).href
    for (const url of [outside, "node:fs"]) {
      expect(Layout.portableModule(url)).toBe(url)
      expect(Layout.localModule(url)).toBe(url)
    }
  })
})
