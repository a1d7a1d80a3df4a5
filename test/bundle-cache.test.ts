/**
 * The workers' bundle cache does not grow for ever: bundles no process used for `UNUSED_DAYS` are removed (with
 * their stamps, maps and code caches), recent ones and other files stay, and using a bundle marks it used.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { markUsed, pruneCache, UNUSED_DAYS } from "../src/runtime/internal/threads/WorkerBundle.ts"

const DAY = 86_400_000
const dirs: Array<string> = []
afterEach(() => {
  for (const dir of dirs.splice(0)) Fs.rmSync(dir, { recursive: true, force: true })
})

/** A cache folder with `files`, each last modified `ageDays` ago. */
const cacheWith = (files: Record<string, number>): string => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-cache-test-"))
  dirs.push(dir)
  for (const [name, ageDays] of Object.entries(files)) {
    const file = Path.join(dir, name)
    Fs.writeFileSync(file, name)
    const at = new Date(Date.now() - ageDays * DAY)
    Fs.utimesSync(file, at, at)
  }
  return dir
}

describe("the bundle cache", () => {
  it("removes bundles unused for UNUSED_DAYS with their stamps and maps, and keeps the rest", () => {
    const old = UNUSED_DAYS + 1
    const dir = cacheWith({
      // Built long ago, but its stamp says a process used it yesterday: kept.
      "module-a-1.mjs": old, "module-a-1.mjs.json": 1, "module-a-1.mjs.map": old,
      // Unused for too long: all three go.
      "module-b-2.mjs": old, "module-b-2.mjs.json": old, "module-b-2.mjs.map": old,
      // A bundle whose stamp was never written (killed in between), old: goes; a recent one stays.
      "module-c-3.mjs": old, "module-c-3.mjs.map": old,
      "module-d-4.mjs": 0,
      // A temporary file of a killed writer: goes after a day; a fresh one may be in use.
      "module-e-5.mjs.123.abc.tmp": 2, "module-f-6.mjs.456.def.tmp": 0,
      // Not ours: stays whatever its age.
      "notes.txt": old,
      // The module workers import as they boot (ScriptBoot.primeImports): no stamp, written once, stays.
      "esm-primer.mjs": old
    })
    pruneCache(dir)
    expect(Fs.readdirSync(dir).sort()).toEqual([
      "esm-primer.mjs",
      "module-a-1.mjs", "module-a-1.mjs.json", "module-a-1.mjs.map",
      "module-d-4.mjs",
      "module-f-6.mjs.456.def.tmp",
      "notes.txt"
    ])
  })

  it("removes a script bundle's code caches with it, and code caches whose bundle is gone", () => {
    const old = UNUSED_DAYS + 1
    const dir = cacheWith({
      // The base bundle as workers run it (a script) with its code caches of two Node versions: all go together.
      "worker-base-1.js": old, "worker-base-1.js.json": old, "worker-base-1.js.map": old,
      "worker-base-1.js.v20.20.2-x64.cache": 0, "worker-base-1.js.v24.21.0-x64.cache": 0,
      // In use: it and its cache stay.
      "worker-base-2.js": old, "worker-base-2.js.json": 0, "worker-base-2.js.v20.20.2-x64.cache": old,
      // A cache whose bundle is gone, however recent: goes.
      "worker-base-3.js.v20.20.2-x64.cache": 0
    })
    pruneCache(dir)
    expect(Fs.readdirSync(dir).sort()).toEqual(["worker-base-2.js", "worker-base-2.js.json", "worker-base-2.js.v20.20.2-x64.cache"])
  })

  it("a bundle marked used is kept however old its build", () => {
    const old = UNUSED_DAYS + 30
    const dir = cacheWith({ "module-g-7.mjs": old, "module-g-7.mjs.json": old })
    markUsed(Path.join(dir, "module-g-7.mjs"))
    pruneCache(dir)
    expect(Fs.readdirSync(dir).sort()).toEqual(["module-g-7.mjs", "module-g-7.mjs.json"])
    pruneCache(dir, Date.now() + (UNUSED_DAYS + 1) * DAY)
    expect(Fs.readdirSync(dir)).toEqual([])
  })
})
