/**
 * Output attributed to the run that wrote it: on worker threads and on the Local tier, lines written by
 * handlers that interleave on one thread each go to their own run (across yields, from forked fibers, while a
 * handler builds its Effect, after an `await`), a run's last partial line arrives before its reply, a run keeps at most
 * `Output.LIMIT` characters, a pool task's lines carry its name, and engine tasks keep their own output —
 * also for functions that `await` — which results expose per task and per engine; a program under `--json`
 * keeps its stdout to JSON while user code prints.
 */
import { Effect, Exit } from "effect"
import type { Layer, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { Client, Errors } from "../src/runtime/engines/index.ts"
import type { ActorError, ActorSystem as System } from "../src/runtime/index.ts"
import { ActorSystem, Local, Output, Threads } from "../src/runtime/index.ts"
import { Pool } from "../src/runtime/pool/index.ts"
import { Printer, shout } from "./fixtures/Printer.ts"
import * as Program from "./support/program.ts"

interface Line {
  readonly stream: Output.StreamName
  readonly origin: string
  readonly line: string
}

/** A sink that records what it is given, as lines. */
const collector = () => {
  const records: Array<{ readonly stream: Output.StreamName; readonly origin: string; readonly text: string }> = []
  const sink: Output.Sink = { write: (stream, origin, text) => void records.push({ stream, origin, text }) }
  const lines = (): Array<Line> =>
    records.flatMap((r) => r.text.split("\n").slice(0, -1).map((line) => ({ stream: r.stream, origin: r.origin, line })))
  return { sink, records, lines }
}

type AnyLayer = Layer.Layer<System.ActorSystem, ActorError.WorkerLost>

const tiers: ReadonlyArray<readonly [string, string, () => AnyLayer]> = [
  ["Threads", "w0", () => Threads.layer({ workers: 1 })],
  ["Local", "local", () => Local.layer]
]

const run = <A, E>(layer: AnyLayer, sink: Output.Sink, effect: Effect.Effect<A, E, System.ActorSystem | Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(effect).pipe(Effect.provide(layer), Output.withSink(sink)))

describe.each(tiers)("handler output on %s", (_name, where, layer) => {
  it("each line belongs to its own run, though two runs interleave on one thread", async () => {
    const out = collector()
    await run(layer(), out.sink, Effect.gen(function*() {
      const printer = yield* ActorSystem.spawn(Printer, { loud: false })
      // A waits 60 ms with half a line written; B prints all of its lines meanwhile.
      return yield* Effect.all([
        printer.ask("talk", { id: "A", ms: 60 }),
        printer.ask("chat", { id: "B", ms: 1 }),
        printer.ask("wait", "C")
      ], { concurrency: 3 })
    }))
    const of = (tag: string) => out.lines().filter((l) => l.origin === `${where} Printer.${tag}`).map((l) => `${l.stream} ${l.line}`)
    expect(of("talk")).toEqual(["stdout A before", "stdout A half-line", "stderr A child", "stderr A after"])
    expect(of("chat")).toEqual(["stdout B before", "stdout B half-line", "stderr B child", "stderr B after"])
    // After an await, in a promise's callback: still its own run.
    expect(of("wait")).toEqual(["stdout C waits", "stdout C awoke"])
    // The runs did interleave: B was done before A ended its half line.
    const at = (line: string) => out.lines().findIndex((l) => l.line === line)
    expect(at("B after")).toBeLessThan(at("A half-line"))
    expect(at("A before")).toBeLessThan(at("B before"))
  })

  it("a run's last partial line arrives before its reply; what a handler prints while building its Effect is its own", async () => {
    const out = collector()
    const seen = await run(layer(), out.sink, Effect.gen(function*() {
      const printer = yield* ActorSystem.spawn(Printer, { loud: false })
      const mine = () => out.lines().filter((l) => l.origin.startsWith(`${where} Printer.`))
      yield* printer.ask("last", "last words")
      const afterLast = mine()
      yield* printer.ask("eager", "hello")
      return { afterLast, afterEager: mine() }
    }))
    expect(seen.afterLast).toEqual([{ stream: "stdout", origin: `${where} Printer.last`, line: "last words" }])
    expect(seen.afterEager.at(-1)).toEqual({ stream: "stdout", origin: `${where} Printer.eager`, line: "eager hello" })
  })

  it("a run keeps at most LIMIT characters and says how many it dropped; the thread goes on", async () => {
    const out = collector()
    const n = 3000
    const answer = await run(layer(), out.sink, Effect.gen(function*() {
      const printer = yield* ActorSystem.spawn(Printer, { loud: false })
      yield* printer.ask("flood", n)
      return yield* printer.ask("eager", "still here")
    }))
    expect(answer).toBe("still here")
    const flood = out.records.filter((r) => r.origin === `${where} Printer.flood`)
    const note = flood.at(-1)!.text
    const dropped = n * 1000 - Output.LIMIT
    expect(note).toBe(`… ${dropped} more characters dropped (a run keeps ${Output.LIMIT} per stream)\n`)
    // What was kept: LIMIT characters, the last line cut where the limit fell (and ended there).
    const kept = flood.slice(0, -1).map((r) => r.text).join("")
    expect(kept.length).toBe(Output.LIMIT + 1)
    expect(kept.endsWith("x\n")).toBe(true)
  })

  it("a pool task's lines carry its name", async () => {
    const out = collector()
    const doubled = await run(layer(), out.sink, Effect.flatMap(Pool.make(), (pool) => pool.map(shout, [1, 2, 3], { chunkSize: 2 })))
    expect(doubled).toEqual([2, 4, 6])
    expect(out.lines()).toEqual([1, 2, 3].map((x) => ({ stream: "stdout", origin: `${where} shout`, line: `item ${x}` })))
  })
})

describe("engine output", () => {
  /** Prints, awaits a timer (other tasks run meanwhile), prints again. */
  const slowPrint = async (x: number) => {
    console.log(`start ${x}`)
    await new Promise((resolve) => setTimeout(resolve, 3 * (x % 3)))
    process.stderr.write(`end ${x}\n`)
    return x
  }

  it.each(tiers)("on %s each task keeps its own output, also after an await; by task, by engine, displayed", async (_name, _where, layer) => {
    const out = collector()
    const xs = [0, 1, 2, 3, 4, 5]
    const seen = await run(layer(), out.sink, Effect.gen(function*() {
      // Two engines share the one thread: their tasks interleave there.
      const client = yield* Client.make({ engines: 2 })
      const lview = yield* client.loadBalanced()
      const result = yield* lview.map(slowPrint, xs, { chunkSize: 1 })
      const values = yield* result
      yield* result.displayOutputs("engine")
      return { values, stdout: result.stdout(), stderr: result.stderr(), engines: result.outputsByEngine(), metadata: result.metadata() }
    }))
    expect(seen.values).toEqual(xs)
    expect(seen.stdout).toEqual(xs.map((x) => `start ${x}\n`))
    expect(seen.stderr).toEqual(xs.map((x) => `end ${x}\n`))
    expect(seen.metadata.map((m) => m.stdout)).toEqual(seen.stdout)
    // Per engine: its tasks' output in task order; together, every task's once.
    for (const engine of seen.engines) {
      const mine = seen.metadata.filter((m) => m.engine === engine.engine)
      expect(engine.stdout).toBe(mine.map((m) => m.stdout).join(""))
    }
    expect(seen.engines.flatMap((e) => e.stdout.split("\n").filter((l) => l !== "")).sort()).toEqual(xs.map((x) => `start ${x}`).sort())
    // displayOutputs: every line once, prefixed with its engine.
    const shown = out.lines().filter((l) => /^\d+$/.test(l.origin))
    expect(shown.length).toBe(2 * xs.length)
    for (const m of seen.metadata) {
      expect(shown).toContainEqual({ stream: "stdout", origin: String(m.engine), line: `start ${xs[seen.metadata.indexOf(m)]}` })
    }
    // Engine output is kept with the result, not passed on as it is written.
    expect(out.lines().filter((l) => !/^\d+$/.test(l.origin) && /^(start|end) /.test(l.line))).toEqual([])
  })

  it("a failed task's output comes back with its RemoteError", async () => {
    const out = collector()
    const exit = await run(Local.layer, out.sink, Effect.gen(function*() {
      const client = yield* Client.make({ engines: 1 })
      const view = yield* client.view()
      const result = yield* view.apply(() => {
        console.log("about to fail")
        throw new Error("boom")
      })
      const exit = yield* Effect.exit(result)
      return { exit, stdout: result.stdout(), failure: result.tasks()[0]!.failure }
    }))
    expect(Exit.isFailure(exit.exit)).toBe(true)
    expect(exit.stdout).toEqual(["about to fail\n"])
    expect(Errors.isRemoteError(exit.failure) && exit.failure.message).toBe("boom")
    expect(Errors.isRemoteError(exit.failure) && exit.failure.stdout).toBe("about to fail\n")
  })
})

describe("programs", () => {
  it("under --json keep stdout to JSON while engine tasks print (their lines go to stderr); without it they show on stdout", async () => {
    const code = "await dview.apply(() => { console.log('hello from engine'); return 7 })"
    const args = ["src/programs/console.ts", "--engines", "2", "--eval", code]
    const [json, plain] = await Promise.all([Program.run([...args, "--json"]), Program.run(args)])
    expect(json.code).toBe(0)
    const lines = json.stdout.split("\n").filter((line) => line !== "")
    expect(lines.length).toBe(1)
    expect(JSON.parse(lines[0]!).value).toEqual([7, 7])
    expect(json.stderr).toContain("[stdout:0] hello from engine\n")
    expect(json.stderr).toContain("[stdout:1] hello from engine\n")
    expect(plain.code).toBe(0)
    expect(plain.stdout).toContain("[stdout:0] hello from engine\n")
    expect(plain.stdout).toContain("[stdout:1] hello from engine\n")
  })
})
