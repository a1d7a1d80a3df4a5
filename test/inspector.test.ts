/**
 * Workers under the inspector (`Threads.layer({ inspect })`): each worker listens on its own loopback port and
 * says where; a debugger that attaches there (spoken to here over the DevTools protocol, as Chrome or VS Code
 * would) is in that worker — it sees the worker's bundle with its source map, and evaluates in that thread;
 * with `wait` a worker starts nothing until a debugger attaches; an address that is not loopback is refused.
 */
import { Effect, Exit, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import WebSocket from "ws"
import { ActorSystem, Output, Threads } from "../src/runtime/index.ts"
import { Echo } from "./fixtures/Echo.ts"

/** A sink that keeps the workers' lines, and a way to wait for the inspector's. */
const listening = () => {
  const urls = new Map<string, string>()
  const sink: Output.Sink = {
    write: (_stream, origin, text) => {
      const url = /^inspector: (ws:\/\/\S+)/m.exec(text)?.[1]
      if (url !== undefined) urls.set(origin, url)
    }
  }
  const awaitUrls = (count: number) =>
    Effect.gen(function*() {
      while (urls.size < count) yield* Effect.sleep("20 millis")
      return urls
    })
  return { sink, awaitUrls }
}

/** A DevTools-protocol session: commands answered by id, and every event kept. */
const session = (url: string) =>
  Effect.acquireRelease(
    Effect.callback<{ send: (method: string, params?: object) => Promise<any>; events: Array<any> }, Error>((resume) => {
      const socket = new WebSocket(url)
      const events: Array<any> = []
      const pending = new Map<number, (result: any) => void>()
      let next = 1
      socket.on("message", (data) => {
        const message = JSON.parse(String(data))
        if (message.id !== undefined) pending.get(message.id)?.(message.result ?? message.error)
        else events.push(message)
      })
      socket.once("error", (error) => resume(Effect.fail(error)))
      socket.once("open", () =>
        resume(Effect.succeed({
          events,
          socket,
          send: (method: string, params: object = {}) =>
            new Promise((done) => {
              const id = next++
              pending.set(id, done)
              socket.send(JSON.stringify({ id, method, params }))
            })
        })))
    }),
    (s) => Effect.sync(() => (s as unknown as { socket: WebSocket }).socket.close())
  )

const port = (url: string) => Number(new URL(url).port)

describe("workers under the inspector", () => {
  it("each worker listens on its own loopback port, with its bundle's source map, and evaluates in its thread", async () => {
    const { awaitUrls, sink } = listening()
    const out = await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const echo = yield* ActorSystem.spawn(Echo, { prefix: ">" }, { worker: 1 })
        const urls = yield* awaitUrls(2)
        const debugged = yield* session(urls.get("w1")!)
        yield* Effect.promise(() => debugged.send("Debugger.enable"))
        // Evaluated on the thread the debugger is attached to: a worker, which has the base bundle's shared
        // modules on its global (the main thread has not).
        const where = yield* Effect.promise(() =>
          debugged.send("Runtime.evaluate", { expression: "typeof globalThis.__actorflow_shared" })
        )
        const scripts = debugged.events.filter((e) => e.method === "Debugger.scriptParsed").map((e) => e.params)
        const reply = yield* echo.ask("echo", "still answering")
        return { urls, scripts, where: where.result.value, reply }
      })).pipe(Effect.provide(Threads.layer({ workers: 2, inspect: { port: 0 } })), Output.withSink(sink))
    )
    expect([...out.urls.keys()].sort()).toEqual(["w0", "w1"])
    for (const url of out.urls.values()) expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\//)
    expect(port(out.urls.get("w0")!)).not.toBe(port(out.urls.get("w1")!))
    const base = out.scripts.find((s) => /worker-base-\w+\.js$/.test(s.url))
    expect(base?.sourceMapURL).toMatch(/worker-base-\w+\.js\.map$/)
    expect(out.where).toBe("object")
    expect(typeof (globalThis as Record<string, unknown>).__actorflow_shared).toBe("undefined")
    expect(out.reply).toBe(">still answering")
  })

  it("with wait, a worker starts no actor until a debugger attaches and lets it run", async () => {
    const { awaitUrls, sink } = listening()
    const out = await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const spawning = yield* Effect.forkChild(Effect.flatMap(ActorSystem.spawn(Echo, { prefix: ">" }), (e) => e.ask("echo", "go")))
        const urls = yield* awaitUrls(1)
        // The worker said where it listens, then blocked: nothing can answer the spawn meanwhile.
        yield* Effect.sleep("300 millis")
        const before = spawning.pollUnsafe()
        const debugged = yield* session(urls.get("w0")!)
        yield* Effect.promise(() => debugged.send("Runtime.runIfWaitingForDebugger"))
        const reply = yield* Fiber.join(spawning)
        return { before, reply }
      })).pipe(Effect.provide(Threads.layer({ workers: 1, inspect: { port: 0, wait: true } })), Output.withSink(sink))
    )
    expect(out.before).toBeUndefined()
    expect(out.reply).toBe(">go")
  })

  it("refuses an address other than loopback (the inspector cannot authenticate)", async () => {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(Effect.provide(Effect.void, Threads.layer({ workers: 1, inspect: { host: "0.0.0.0" } })))
    )
    expect(Exit.isFailure(exit)).toBe(true)
    expect(String(Exit.isFailure(exit) ? exit.cause : "")).toMatch(/inspect\.host must be a loopback address, got 0\.0\.0\.0/)
  })
})
