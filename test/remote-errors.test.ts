// Remote errors you can debug: a handler or an engine function that throws at a known line of a fixture reports
// that .ts file and line (worker bundles carry source maps and workers run with them on), its cause chain, and
// which actor / message / worker or engine / function raised it, on Threads as on Local. A bundle without maps,
// or a worker without `--enable-source-maps`, names the bundle's .mjs instead and fails here.
import { TraceMap, originalPositionFor } from "@jridgewell/trace-mapping"
import { Effect, Exit } from "effect"
import * as fc from "fast-check"
import * as Fs from "node:fs"
import { pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { ActorSystem } from "../src/runtime/index.ts"
import { Client, Remote } from "../src/runtime/engines/index.ts"
import { isActorDefect } from "../src/runtime/ActorError.ts"
import { isRemoteError } from "../src/runtime/engines/Errors.ts"
import { mapStack } from "../src/runtime/internal/SourceMap.ts"
import * as WorkerBundle from "../src/runtime/internal/threads/WorkerBundle.ts"
import * as fixture from "./fixtures/throwing.ts"
import { failureOf } from "./support/exit.ts"
import { at, outer, root, split } from "./support/stacks.ts"
import * as Tiers from "./support/tiers.ts"

const tiers = Tiers.make()
afterAll(() => tiers.dispose())

const F = Remote.module(new URL("./fixtures/throwing.ts", import.meta.url).href, fixture)

describe.each([
  ["Local", () => tiers.local()],
  ["Threads(2)", () => tiers.threads(2)]
])("remote errors on %s", (name, tier) => {
  it("an actor's defect carries its mapped stack, its cause chain and where it ran", async () => {
    expect(outer).toBeGreaterThan(0)
    expect(root).toBeGreaterThan(0)
    const exit = await Tiers.run(tier(), Effect.exit(Effect.flatMap(ActorSystem.spawn(fixture.Reader, undefined), (r) => r.ask("read", "x"))))
    expect(Exit.isFailure(exit)).toBe(true)
    const defect = failureOf(exit)
    if (!isActorDefect(defect)) throw new Error(`expected an ActorDefect, got ${String(defect)}`)
    expect(defect).toMatchObject({ actor: "Reader", message: "read", detail: 'RangeError: bad input "x"' })
    expect(typeof defect.worker).toBe("number")
    if (name !== "Local") expect(defect.worker).toBeGreaterThanOrEqual(0)
    const { cause, own } = split(defect.stack ?? "")
    expect(own).toMatch(/^RangeError: bad input "x"/)
    expect(own).toMatch(at(outer))
    expect(own).not.toMatch(/\.mjs:\d+/)
    expect(cause).toMatch(/^SyntaxError: not a number: x/)
    expect(cause).toMatch(at(root))
  })

  it("an engine function's failure names the function, and the per-engine summary shows each mapped stack", async () => {
    const failed = await Tiers.run(tier(), Effect.gen(function*() {
      const client = yield* Client.make({ engines: 2 })
      const view = yield* client.view()
      return yield* Effect.flip(yield* view.apply(F.readNumber, "x"))
    }))
    expect(failed._tag).toBe("CompositeError")
    if (failed._tag !== "CompositeError") return
    expect(failed.engines).toEqual([0, 1])
    for (const engine of [0, 1]) {
      const error = failed.on(engine)
      if (!isRemoteError(error)) throw new Error(`expected a RemoteError on engine ${engine}, got ${String(error)}`)
      expect(error).toMatchObject({ engine, error: "RangeError", function: "readNumber" })
      const { cause, own } = split(error.stack)
      expect(own).toMatch(at(outer))
      expect(cause).toMatch(/^SyntaxError: not a number: x/)
      expect(cause).toMatch(at(root))
    }
    // The summary: each engine's line, its first mapped frame under it, and its cause.
    const lines = failed.message.split("\n")
    for (const engine of [0, 1]) {
      const head = lines.findIndex((line) => line.startsWith(`[${engine}:apply] RangeError: bad input "x"`))
      expect(head).toBeGreaterThan(0)
      expect(lines[head + 1]).toMatch(at(outer))
      if (engine === 0 && process.env.SHOW === "1") console.log(failed.message)
      expect(lines.slice(head + 1).find((line) => line.includes("Caused by:"))).toMatch(/Caused by: SyntaxError: not a number: x/)
    }
  })
})

describe("mapping bundle frames", () => {
  it("agrees with @jridgewell/trace-mapping on the base bundle, anywhere in it", async () => {
    const bundle = await WorkerBundle.baseBundle()
    const reference = new TraceMap(Fs.readFileSync(`${bundle}.map`, "utf8"), `${bundle}.map`)
    const lines = Fs.readFileSync(bundle, "utf8").split("\n")
    const url = pathToFileURL(bundle).href
    let mapped = 0
    fc.assert(
      fc.property(fc.nat(lines.length - 1), fc.nat(400), fc.boolean(), (i, at, named) => {
        const column = Math.min(at, Math.max(0, lines[i]!.length - 1))
        const frame = named ? `    at f (${url}:${i + 1}:${column + 1})` : `    at ${url}:${i + 1}:${column + 1}`
        const expected = originalPositionFor(reference, { line: i + 1, column })
        const want = expected.source === null
          ? frame
          : frame.replace(`${url}:${i + 1}:${column + 1}`, `${expected.source}:${expected.line}:${expected.column + 1}`)
        if (expected.source !== null) mapped++
        expect(mapStack(frame)).toBe(want)
      }),
      { numRuns: 400 }
    )
    // Most of a bundle is code from somewhere: the comparison was not only of frames left alone.
    expect(mapped).toBeGreaterThan(200)
  })

  it("leaves frames without a map, and stacks already mapped, as they are", () => {
    const stack = "Error: x\n    at f (/work/src/a.ts:3:9)\n    at node:internal/process/task_queues:95:5\n    at g (file:///nowhere/b.mjs:1:2)"
    expect(mapStack(stack)).toBe(stack)
  })
})
