/**
 * Traces, spans and metrics of a run (`Trace.Recorder`): the Chrome trace parses and has handler runs from every
 * worker, each inside the run's time; an ask made inside a span has a span of its own, and the handler's span
 * on the worker is its child; the metrics count the messages sent; a tier without a recorder records nothing.
 * The programs' `--trace FILE` writes a file that parses, and to a path that cannot be written it prints the
 * results first, then one line, and exits non-zero.
 */
import { Effect, Layer, Metric, Option, Tracer } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "vitest"
import { Noop } from "../src/programs/bench/NoopActor.ts"
import { ActorSystem, Local, Threads, Trace } from "../src/runtime/index.ts"
import { Spanning } from "./fixtures/Spanning.ts"
import * as Program from "./support/program.ts"

const now = () => performance.timeOrigin + performance.now()

/** A tracer that keeps every span it makes. */
const testTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, tracer }
}

const ASKS = 400

/** Spawn a no-op actor per worker, ask it ASKS times outside any span, then once per actor inside span "user". */
const session = (layerOf: (recorder: Trace.Recorder) => Layer.Layer<ActorSystem.ActorSystem, unknown>, tracer: Tracer.Tracer) =>
  Effect.gen(function*() {
    const recorder = yield* Trace.make
    const started = now()
    const replies = yield* Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(layerOf(recorder))
      return yield* Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const noops = yield* ActorSystem.spawnMany(Noop, system.workers, () => ({}))
        yield* Effect.forEach(Array.from({ length: ASKS }, (_, i) => i), (i) => noops[i % noops.length]!.ask("noop", i), {
          concurrency: 16,
          discard: true
        })
        return yield* Effect.forEach(noops, (noop, i) => noop.ask("noop", 100 + i)).pipe(Effect.withSpan("user"))
      }).pipe(Effect.provide(context))
    }))
    const ended = now()
    return { recorder, started, ended, replies }
  }).pipe(Effect.provideService(Tracer.Tracer, tracer))

describe("Trace on the Threads tier", () => {
  it("the Chrome trace parses, has handler runs from every worker inside the run, and spans nest under the asking span", async () => {
    const { spans, tracer } = testTracer()
    const { ended, recorder, replies, started } = await Effect.runPromise(session((trace) => Threads.layer({ workers: 2, trace }), tracer))
    expect(replies).toEqual([100, 101])

    const trace = JSON.parse(JSON.stringify(recorder.chrome())) as Trace.ChromeTrace
    const runs = trace.traceEvents.filter((e) => e.ph === "X" && e.cat === "handler")
    // Every ask ran a handler on a worker: both workers (pids 2 and 3) appear, with every message.
    expect(runs.length).toBe(ASKS + 2)
    expect(new Set(runs.map((e) => e.pid))).toEqual(new Set([2, 3]))
    const names = trace.traceEvents.filter((e) => e.ph === "M" && e.name === "process_name").map((e) => e.args!.name)
    expect(names).toEqual(expect.arrayContaining(["main", "worker 0", "worker 1"]))
    const runEnd = (ended - recorder.started) * 1000
    const runStart = (started - recorder.started) * 1000
    for (const e of runs) {
      expect(e.name).toBe("Noop.noop")
      expect(e.ts!).toBeGreaterThanOrEqual(runStart - 1)
      expect(e.ts! + e.dur!).toBeLessThanOrEqual(runEnd + 1)
      expect(e.dur!).toBeGreaterThanOrEqual(0)
    }
    // The main thread sent them all.
    const sends = trace.traceEvents.filter((e) => e.ph === "i" && e.cat === "send" && e.pid === 1)
    expect(sends.length).toBe(ASKS + 2)
    // Waits come in begin / end pairs.
    const waits = trace.traceEvents.filter((e) => e.cat === "wait")
    expect(waits.filter((e) => e.ph === "b").length).toBe(waits.filter((e) => e.ph === "e").length)

    // Spans: user > ask Noop.noop > Noop.noop (the handler, replayed from its worker), one per actor.
    const user = spans.filter((s) => s.name === "user")
    expect(user).toHaveLength(1)
    const asks = spans.filter((s) => s.name === "ask Noop.noop")
    const handlers = spans.filter((s) => s.name === "Noop.noop")
    expect(asks).toHaveLength(2)
    expect(handlers).toHaveLength(2)
    for (const ask of asks) expect(Option.getOrUndefined(ask.parent)?.spanId).toBe(user[0]!.spanId)
    const threads = new Set<unknown>()
    for (const handler of handlers) {
      const parent = Option.getOrUndefined(handler.parent)!
      expect(asks.map((a) => a.spanId)).toContain(parent.spanId)
      expect(handler.traceId).toBe(user[0]!.traceId)
      expect(handler.status._tag).toBe("Ended")
      threads.add(handler.attributes.get("actorflow.thread"))
    }
    expect(threads).toEqual(new Set(["worker 0", "worker 1"]))
  }, 30_000)

  it("updates the metrics: messages sent from the main thread, handler times per actor and message", async () => {
    const { tracer } = testTracer()
    const snapshot = await Effect.runPromise(
      Effect.andThen(session((trace) => Threads.layer({ workers: 2, trace }), tracer), Metric.snapshot)
    )
    const sum = (id: string, pick: (state: any) => number) =>
      snapshot.filter((m) => m.id === id && m.attributes?.["actor"] === "Noop").reduce((n, m) => n + pick(m.state), 0)
    // At least this run's (the registry is the process's, and the other test ran here too).
    expect(sum("actorflow_messages", (s) => s.count)).toBeGreaterThanOrEqual(ASKS + 2)
    expect(sum("actorflow_message_bytes", (s) => s.count)).toBeGreaterThanOrEqual(8 * (ASKS + 2))
    expect(sum("actorflow_handler_seconds", (s) => s.count)).toBeGreaterThanOrEqual(ASKS + 2)
    expect(sum("actorflow_mailbox_wait_seconds", (s) => s.count)).toBeGreaterThanOrEqual(ASKS + 2)
    const utilisation = snapshot.filter((m) => m.id === "actorflow_thread_utilisation")
    expect(utilisation.map((m) => m.attributes?.["thread"])).toEqual(expect.arrayContaining(["worker 0", "worker 1"]))
  }, 30_000)

  it("spans a handler opens on its worker nest under the handler's span, and a suspended handler is timed to its end", async () => {
    const { spans, tracer } = testTracer()
    const recorder = await Effect.runPromise(
      Effect.gen(function*() {
        const recorder = yield* Trace.make
        yield* Effect.scoped(Effect.gen(function*() {
          const context = yield* Layer.build(Threads.layer({ workers: 1, trace: recorder }))
          const ref = yield* ActorSystem.spawn(Spanning, {}).pipe(Effect.provide(context))
          expect(yield* ref.ask("work", 21).pipe(Effect.withSpan("user"))).toBe(42)
        }))
        return recorder
      }).pipe(Effect.provideService(Tracer.Tracer, tracer))
    )
    const byName = (name: string) => spans.filter((s) => s.name === name)
    const parentOf = (s: Tracer.NativeSpan) => Option.getOrUndefined(s.parent)?.spanId
    const [user, ask, handler, outer, inner] = ["user", "ask Spanning.work", "Spanning.work", "outer", "inner"].map((n) => {
      expect(byName(n)).toHaveLength(1)
      return byName(n)[0]!
    })
    expect(parentOf(ask!)).toBe(user!.spanId)
    expect(parentOf(handler!)).toBe(ask!.spanId)
    expect(parentOf(outer!)).toBe(handler!.spanId)
    expect(parentOf(inner!)).toBe(outer!.spanId)
    expect(inner!.attributes.get("n")).toBe(21)
    for (const s of [handler, outer, inner]) expect(s!.traceId).toBe(user!.traceId)
    // The handler suspended (a 2 ms sleep): its run is timed to its end, not to its first suspension.
    const run = recorder.chrome().traceEvents.find((e) => e.ph === "X" && e.name === "Spanning.work")!
    expect(run.dur!).toBeGreaterThanOrEqual(1500)
  }, 30_000)
})

describe("Trace on the Local tier", () => {
  it("records handler runs on the main thread, and the handler span under the ask span", async () => {
    const { spans, tracer } = testTracer()
    const { recorder } = await Effect.runPromise(session((trace) => Local.layerWith({ trace }), tracer))
    const runs = recorder.chrome().traceEvents.filter((e) => e.ph === "X")
    expect(runs.length).toBe(ASKS + 1)
    expect(new Set(runs.map((e) => e.pid))).toEqual(new Set([1]))
    const ask = spans.find((s) => s.name === "ask Noop.noop")!
    const handler = spans.find((s) => s.name === "Noop.noop")!
    expect(Option.getOrUndefined(handler.parent)?.spanId).toBe(ask.spanId)
  })

  it("records nothing without a recorder", async () => {
    const { spans, tracer } = testTracer()
    await Effect.runPromise(
      Effect.gen(function*() {
        const noop = yield* ActorSystem.spawn(Noop, {})
        yield* noop.ask("noop", 1).pipe(Effect.withSpan("user"))
      }).pipe(Effect.scoped, Effect.provide(Local.layer), Effect.provideService(Tracer.Tracer, tracer))
    )
    expect(spans.map((s) => s.name)).toEqual(["user"])
  })
})

describe("--trace FILE", () => {
  it("writes a trace with handler runs from every worker", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-trace-"))
    try {
      const file = Path.join(dir, "pi.json")
      const { code, stdout } = await Program.run(["src/programs/pi.ts", "--samples", "1e5", "--workers", "2", "--mode", "actors", "--json", "--trace", file])
      expect(code).toBe(0)
      expect(JSON.parse(stdout.trim()).mode).toBe("actors")
      const trace = JSON.parse(Fs.readFileSync(file, "utf8")) as Trace.ChromeTrace
      const runs = trace.traceEvents.filter((e) => e.ph === "X" && e.cat === "handler")
      expect(new Set(runs.map((e) => e.pid))).toEqual(new Set([2, 3]))
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("to a path that cannot be written: the results first, then one line and a non-zero exit", async () => {
    const { code, stderr, stdout } = await Program.run(["src/programs/pi.ts", "--samples", "1e5", "--workers", "2", "--mode", "actors", "--trace", "/no/such/dir/x.json"])
    expect(code).not.toBe(0)
    expect(stdout).toContain("actors")
    expect(stdout).toContain("estimate")
    const lines = Program.errorLines(stderr)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("/no/such/dir/x.json")
  }, 60_000)
})
