// The tree's rules, checked on the sources: the libraries are written against the public runtime only, nothing
// outside the runtime reaches its internals, no library asks which tier it is on, every module says what it is
// for, and there are no import cycles. A change that breaks one of these fails here, naming the file.
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const src = Path.join(root, "src")
const runtime = Path.join(src, "runtime")
const libraries = ["pool", "parallel", "engines", "shared", "collectives"].map((name) => Path.join(runtime, name))

const walk = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = Path.join(dir, entry.name)
    return entry.isDirectory() ? walk(full) : entry.name.endsWith(".ts") ? [full] : []
  })

const files = walk(src)
const sourceOf = new Map(files.map((file) => [file, Fs.readFileSync(file, "utf8")]))

/** Relative imports of a file, resolved to absolute paths (type-only imports included). */
const importsOf = (file: string): Array<string> =>
  [...sourceOf.get(file)!.matchAll(/^(?:import|export)\b[^"'\n]*?(?:\n[^"'\n]*?)*?from\s+["'](\.[^"']+)["']/gm)].map((m) =>
    Path.resolve(Path.dirname(file), m[1]!)
  )

const rel = (file: string) => Path.relative(root, file)
const inside = (file: string, dir: string) => file.startsWith(dir + Path.sep)

describe("the tree's rules", () => {
  it("finds the modules it checks (the import reader works)", () => {
    expect(files.length).toBeGreaterThan(50)
    const pool = importsOf(Path.join(runtime, "pool", "Pool.ts"))
    expect(pool).toContain(Path.join(runtime, "index.ts"))
  })

  it("libraries import the runtime only through its public index (or another library's index)", () => {
    const offending: Array<string> = []
    for (const library of libraries) {
      for (const file of files.filter((f) => inside(f, library))) {
        for (const target of importsOf(file)) {
          if (inside(target, library)) continue
          const publicIndex = target === Path.join(runtime, "index.ts") ||
            libraries.some((other) => target === Path.join(other, "index.ts"))
          if (!publicIndex) offending.push(`${rel(file)} imports ${rel(target)}`)
        }
      }
    }
    expect(offending).toEqual([])
  })

  it("nothing outside the runtime's core reaches its internals", () => {
    const internal = Path.join(runtime, "internal")
    const core = files.filter((f) => Path.dirname(f) === runtime || inside(f, internal))
    const offending = files
      .filter((file) => !core.includes(file))
      .flatMap((file) => importsOf(file).filter((target) => inside(target, internal)).map((target) => `${rel(file)} imports ${rel(target)}`))
    expect(offending).toEqual([])
  })

  it("no library mentions a tier: they neither import one nor branch on its name", () => {
    const tiers = ["Local.ts", "Threads.ts", "Cluster.ts"].map((name) => Path.join(runtime, name))
    const offending: Array<string> = []
    for (const file of files.filter((f) => libraries.some((library) => inside(f, library)))) {
      const code = sourceOf.get(file)!.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "")
      if (/\b(Local|Threads|Cluster)\.(layer|make)\b/.test(code)) offending.push(`${rel(file)} uses a tier's layer`)
      if (/["'](local|threads|cluster)["']/.test(code)) offending.push(`${rel(file)} names a tier`)
      for (const target of importsOf(file)) if (tiers.includes(target)) offending.push(`${rel(file)} imports ${rel(target)}`)
    }
    expect(offending).toEqual([])
  })

  it("every module opens with a doc comment saying what it is for", () => {
    const missing = files.filter((file) => !/^\s*\/\*\*/.test(sourceOf.get(file)!)).map(rel)
    expect(missing).toEqual([])
  })

  it("has no import cycles", () => {
    const graph = new Map(files.map((file) => [file, importsOf(file).filter((target) => sourceOf.has(target))]))
    const state = new Map<string, "open" | "done">()
    const cycles: Array<string> = []
    const visit = (file: string, path: Array<string>) => {
      if (state.get(file) === "done") return
      if (state.get(file) === "open") {
        cycles.push([...path.slice(path.indexOf(file)), file].map(rel).join(" -> "))
        return
      }
      state.set(file, "open")
      for (const target of graph.get(file)!) visit(target, [...path, file])
      state.set(file, "done")
    }
    for (const file of files) visit(file, [])
    expect(cycles).toEqual([])
  })
})
