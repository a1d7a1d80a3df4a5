// The package as a user gets it: `npm pack` (which builds dist/), the tarball installed into a fresh project
// with its own package.json and its own `effect`, a program type-checked against the published types and run
// three ways — under tsx, with node on the JavaScript tsc compiled, and from the user's own esbuild bundle — an
// actor on 2 workers, a pool map of a task from the user's module and a parallelFor kernel, each against its
// serial reference. The README's example and every line of docs/from-python.md run there too. Anything the
// package leaves out that a user needs (a file, a type, a dependency) fails one of these.
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Markdown from "./support/markdown.ts"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const bin = (name: string) => Path.join(root, "node_modules", ".bin", name)
const versionOf = (pkg: string) =>
  (JSON.parse(Fs.readFileSync(Path.join(root, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version

interface Outcome {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const exec = (file: string, args: ReadonlyArray<string>, cwd: string, timeoutMs = 120_000): Promise<Outcome> =>
  new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: timeoutMs, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }))
  })

/** Runs a command that must succeed; its stderr is the failure's message otherwise. */
const must = async (file: string, args: ReadonlyArray<string>, cwd: string): Promise<string> => {
  const outcome = await exec(file, args, cwd)
  if (outcome.code !== 0) throw new Error(`${[file, ...args].join(" ")} exited with ${outcome.code}:\n${outcome.stderr}\n${outcome.stdout}`)
  return outcome.stdout
}

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-consumer-"))
const project = Path.join(tmp, "project")
let packed: ReadonlyArray<string> = []

const write = (file: string, contents: string) => {
  Fs.mkdirSync(Path.dirname(Path.join(project, file)), { recursive: true })
  Fs.writeFileSync(Path.join(project, file), contents)
}

const readme = Markdown.codeFiles(Fs.readFileSync(Path.join(root, "README.md"), "utf8"))
const fromPython = Fs.readFileSync(Path.join(root, "docs", "from-python.md"), "utf8")
const pythonLines = Markdown.tableLines(fromPython)

/** The page's session, with each line of its tables where it says they run, and what they gave printed as JSON. */
const sessionWithLines = (): string => {
  const session = Markdown.codeFiles(fromPython).find((file) => file.name === "session.ts")!.code
  const marker = "  // each line of the tables below runs here, in order\n"
  if (!session.includes(marker)) throw new Error("docs/from-python.md: the session no longer says where its lines run")
  const lines = pythonLines.map((line, i) =>
    `  gave.push(yield* Effect.gen(function*() { return (${line.code}) }).pipe(` +
    `Effect.tapCause((cause) => Effect.sync(() => console.error(${JSON.stringify(`line ${i + 1}, ${line.python}:`)}, cause)))))\n`
  )
  return session.replace(marker, `  const gave: Array<unknown> = []\n${lines.join("")}  console.log(JSON.stringify(gave))\n`)
}

beforeAll(async () => {
  const pack = await must("npm", ["pack", "--json", "--pack-destination", tmp], root)
  const [info] = JSON.parse(pack.slice(pack.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>
  packed = info!.files.map((file) => file.path)
  Fs.mkdirSync(project)
  write("package.json", JSON.stringify({ name: "actorflow-consumer", private: true, type: "module" }, null, 2))
  for (const file of ["tsconfig.json", "src/work.ts", "src/main.ts", "src/bad/internals.ts"]) {
    write(file, Fs.readFileSync(Path.join(root, "test", "consumer", file), "utf8"))
  }
  for (const file of readme) write(Path.join("src", "readme", file.name), file.code)
  for (const file of Markdown.codeFiles(fromPython)) if (file.name !== "session.ts") write(Path.join("src", "python", file.name), file.code)
  write(Path.join("src", "python", "session.ts"), sessionWithLines())
  await must("npm", [
    "install",
    "--no-audit",
    "--no-fund",
    "--prefer-offline",
    Path.join(tmp, info!.filename),
    `effect@${versionOf("effect")}`,
    `@types/node@${versionOf("@types/node")}`
  ], project)
}, 240_000)

afterAll(() => {
  if (!process.env.ACTORFLOW_KEEP_CONSUMER) Fs.rmSync(tmp, { recursive: true, force: true })
})

interface Result {
  readonly parallel: unknown
  readonly serial: unknown
  readonly threads: ReadonlyArray<number>
  readonly main: number
}

/** The consumer program's line, checked: parallel equals serial, and the actors ran on 2 worker threads. */
const expectSerialResults = (stdout: string) => {
  const result = JSON.parse(stdout.trim()) as Result
  expect(result.parallel).toEqual(result.serial)
  expect(new Set(result.threads).size).toBe(2)
  expect(result.threads).not.toContain(result.main)
}

describe("the packed package", () => {
  it("holds the build, the README and package.json, and nothing else", () => {
    expect(packed.filter((file) => !file.startsWith("dist/")).sort()).toEqual(["README.md", "package.json"])
    expect(packed.filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))).toEqual([])
    const manifest = JSON.parse(Fs.readFileSync(Path.join(project, "node_modules", "actorflow", "package.json"), "utf8")) as {
      exports: Record<string, string | { types: string; default: string }>
    }
    const targets = Object.values(manifest.exports).flatMap((target) => (typeof target === "string" ? [target] : [target.types, target.default]))
    const missing = targets.filter((target) => !Fs.existsSync(Path.join(project, "node_modules", "actorflow", target)))
    expect(missing).toEqual([])
    // Every module has its declarations, and the worker's entry and the runner's are there.
    const js = packed.filter((file) => file.endsWith(".js"))
    expect(js.filter((file) => !packed.includes(file.replace(/\.js$/, ".d.ts")))).toEqual([])
    expect(js).toEqual(expect.arrayContaining(["dist/internal/threads/worker.js", "dist/internal/cluster/main.js"]))
  })

  it("declares only what it ships: each entry point's declarations import packed files, effect and node, the cluster's also its peers", () => {
    const installed = Path.join(project, "node_modules", "actorflow")
    const manifest = JSON.parse(Fs.readFileSync(Path.join(installed, "package.json"), "utf8")) as {
      exports: Record<string, string | { types: string }>
      dependencies?: Record<string, string>
      peerDependencies?: Record<string, string>
    }
    const packageOf = (specifier: string) => specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/")
    /** The bare imports of the declarations reachable from `entry`; a relative one that was not packed fails. */
    const bareImportsFrom = (entry: string): Set<string> => {
      const seen = new Set<string>()
      const bare = new Set<string>()
      const visit = (file: string) => {
        if (seen.has(file)) return
        seen.add(file)
        if (!packed.includes(file)) throw new Error(`${entry}: its declarations import ${file}, which the package does not hold`)
        const code = Fs.readFileSync(Path.join(installed, file), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "")
        for (const [, specifier] of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)"([^"]+)"/gm)) {
          if (specifier!.startsWith(".")) visit(Path.posix.join(Path.posix.dirname(file), specifier!).replace(/\.(ts|js)$/, ".d.ts"))
          else bare.add(specifier!.startsWith("node:") ? "node:" : packageOf(specifier!))
        }
      }
      visit(entry)
      return bare
    }
    const required = ["effect", "node:"]
    const peers = [...Object.keys(manifest.peerDependencies ?? {}), ...Object.keys(manifest.dependencies ?? {})]
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (typeof target === "string") continue
      const bare = [...bareImportsFrom(Path.posix.normalize(target.types))]
      // Only the cluster may need its optional peers; a user of the rest installs effect and nothing else.
      expect({ subpath, undeclared: bare.filter((name) => !(subpath === "./cluster" ? [...required, ...peers] : required).includes(name)) })
        .toEqual({ subpath, undeclared: [] })
    }
  })

  it("type-checks the user's program, the README's example and the from-Python lines against the published types", async () => {
    const outcome = await exec(process.execPath, [Path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "."], project)
    expect(outcome.stdout + outcome.stderr).toBe("")
    expect(outcome.code).toBe(0)
  }, 120_000)

  it("runs under tsx: parallel equals serial, with one copy of Effect per worker, the project's", async () => {
    expectSerialResults(await must(bin("tsx"), ["src/main.ts"], project))
    // The base bundle was built from the project's Effect and the installed dist/; the user's module bundle holds
    // neither (it takes both from the base), only the user's own file.
    const cache = Path.join(project, "node_modules", ".cache", "actorflow")
    const inputsOf = (prefix: string) =>
      Fs.readdirSync(cache).filter((file) => file.startsWith(prefix) && /\.m?js\.json$/.test(file)).flatMap((file) =>
        Object.keys((JSON.parse(Fs.readFileSync(Path.join(cache, file), "utf8")) as { inputs: Record<string, string> }).inputs)
      )
    const base = inputsOf("worker-base-")
    const effect = Path.join(project, "node_modules", "effect") + Path.sep
    expect(base.filter((file) => file.includes(`${Path.sep}effect${Path.sep}dist${Path.sep}`) && !file.startsWith(effect))).toEqual([])
    expect(base.some((file) => file.startsWith(effect))).toBe(true)
    expect(base.every((file) => file.startsWith(Path.join(project, "node_modules") + Path.sep))).toBe(true)
    expect(inputsOf("module-work_ts-")).toEqual([Path.join(project, "src", "work.ts")])
    // Workers ran the base bundle as a script and left V8's code cache of it beside it (see ScriptBoot.ts).
    expect(Fs.readdirSync(cache).filter((file) => /^worker-base-\w+\.js\.v.+\.cache$/.test(file))).toHaveLength(1)
  }, 120_000)

  it("runs with plain node on the JavaScript tsc compiled", async () => {
    expectSerialResults(await must(process.execPath, ["build/main.js"], project))
  }, 120_000)

  it("runs from the user's own esbuild bundle (split, the worker module an entry point); a single-file bundle is refused saying why", async () => {
    const esbuild = Path.join(project, "node_modules", ".bin", "esbuild")
    const common = ["--bundle", "--format=esm", "--platform=node", "--log-level=warning"]
    await must(esbuild, ["src/main.ts", "src/work.ts", ...common, "--splitting", "--outdir=out/split"], project)
    expectSerialResults(await must(process.execPath, ["out/split/main.js"], project))

    await must(esbuild, ["src/main.ts", ...common, "--outfile=out/single/main.js"], project)
    const single = await exec(process.execPath, ["out/single/main.js"], project)
    expect(single.code).not.toBe(0)
    expect(single.stderr).toContain("the program's entry file, so a worker would run the program again")
  }, 120_000)

  it("a wrong import path or a missing optional peer fails at import, naming what is wrong", async () => {
    const importing = (specifier: string) =>
      exec(process.execPath, ["--input-type=module", "-e", `await import(${JSON.stringify(specifier)})`], project)
    // Internals and the checkout's paths are not entry points (TypeScript refuses them too: src/bad/internals.ts).
    for (const subpath of ["internal/Host.js", "src/runtime/index.ts", "dist/index.js"]) {
      const outcome = await importing(`actorflow/${subpath}`)
      expect(outcome.code).not.toBe(0)
      expect(outcome.stderr).toContain(`ERR_PACKAGE_PATH_NOT_EXPORTED]: Package subpath './${subpath}' is not defined by "exports"`)
    }
    // The cluster without its optional peers (this project installed effect only): the missing package, named at
    // import, while every other entry point loads.
    const cluster = await importing("actorflow/cluster")
    expect(cluster.code).not.toBe(0)
    expect(cluster.stderr).toContain("Cannot find package '@effect/platform-node'")
    const others = await exec(process.execPath, [
      "--input-type=module",
      "-e",
      `for (const entry of ["actorflow", "actorflow/pool", "actorflow/parallel", "actorflow/shared", "actorflow/engines"]) await import(entry)`
    ], project)
    expect(others).toMatchObject({ code: 0, stderr: "" })
  }, 60_000)

  // The README's example and the from-Python session run with node on what tsc compiled (tsx is proven above,
  // and costs a second of CPU more per run).
  it("runs the README's example", async () => {
    expect(readme.map((file) => file.name)).toEqual(["counter.ts", "main.ts"])
    expect((await must(process.execPath, ["build/readme/main.js"], project)).trim()).toBe("42")
  }, 120_000)

  it("runs every line of docs/from-python.md, each giving what the page says", async () => {
    expect(pythonLines.length).toBeGreaterThan(20)
    const gave = JSON.parse((await must(process.execPath, ["build/python/session.js"], project)).trim()) as Array<unknown>
    expect(gave).toHaveLength(pythonLines.length)
    const mismatches = pythonLines.flatMap((line, i) =>
      line.gives === undefined || JSON.stringify(JSON.parse(line.gives)) === JSON.stringify(gave[i])
        ? []
        : [`${line.python}: the page says ${line.gives}, it gave ${JSON.stringify(gave[i])}`]
    )
    expect(mismatches).toEqual([])
  }, 120_000)
})
