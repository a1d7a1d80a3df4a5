/**
 * The Cluster tier with 2 runner processes × 2 threads and an embedded Postgres, started by this file, speaking
 * mutual TLS: the same actor definitions as on threads, pinned and placed by shard; ask, tell, interleaved
 * asks, typed and runtime errors, `context.connect` between actors on different runners; π chunks equal
 * serial; a client without the cluster's certificate, with another CA's, or over plain TCP is refused; and
 * nothing is left running afterwards.
 */
import { Effect, Fiber, Stream } from "effect"
import fc from "fast-check"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Tls from "node:tls"
import { describe, expect, it } from "vitest"
import { countHits } from "../src/actors/pi/kernel.ts"
import * as Modes from "../src/programs/pi/modes.ts"
import { ActorError, ActorSystem } from "../src/runtime/index.ts"
import * as Cluster from "../src/runtime/Cluster.ts"
import * as Postgres from "../src/runtime/internal/cluster/Postgres.ts"
import * as TlsMaterial from "../src/runtime/internal/cluster/Tls.ts"
import { Echo, Loose, Relay } from "./fixtures/Echo.ts"
import { Gate } from "./fixtures/Gate.ts"
import { MainThreadOnly } from "./fixtures/MainThreadOnly.ts"
import { BUFFER, Streamer, StreamProbe, StreamReader } from "./fixtures/Streamer.ts"
import * as TestCluster from "./support/cluster.ts"
import { countFile } from "./support/countFile.ts"

const { cluster, run } = TestCluster.use({ runners: 2, threads: 2, tls: true })

describe("actors on the Cluster tier", () => {
  it("numbers workers across runners and says so", () =>
    run(Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      expect(system.workers).toBe(4)
      expect(system.concurrent).toBe(true)
      expect(system.description).toContain("2 runners × 2 threads")
      expect([0, 1, 2, 3].map(system.isUp)).toEqual([true, true, true, true])
    })))

  it("asks and tells pinned actors on every worker, with typed errors", () =>
    run(Effect.gen(function*() {
      const echoes = yield* ActorSystem.spawnMany(Echo, 4, (i) => ({ prefix: `${i}:` }))
      expect(echoes.map((e) => e.address.worker)).toEqual([0, 1, 2, 3])
      expect(yield* Effect.forEach(echoes, (e) => e.ask("echo", "hi"))).toEqual(["0:hi", "1:hi", "2:hi", "3:hi"])
      const refused = yield* Effect.flip(echoes[3]!.ask("echo", "no"))
      expect(refused._tag).toBe("Refused")
      for (let i = 0; i < 10; i++) yield* echoes[2]!.tell("bump", i)
      expect(yield* echoes[2]!.ask("count", undefined)).toBe(45)
      const defect = yield* Effect.flip(echoes[1]!.ask("crash", "defect"))
      expect(ActorError.isActorDefect(defect)).toBe(true)
      // The actor survives a defect in one handler.
      expect(yield* echoes[1]!.ask("echo", "again")).toBe("1:again")
    })))

  it("refuses what cannot be encoded, typed, before it leaves the process", () =>
    run(Effect.gen(function*() {
      const loose = yield* ActorSystem.spawn(Loose, {}, { worker: 3 })
      const error = yield* Effect.flip(loose.ask("take", () => 1))
      expect(ActorError.isMalformedMessage(error)).toBe(true)
      const spawnError = yield* Effect.flip(ActorSystem.spawn(Echo, { prefix: 42 as unknown as string }, { worker: 2 }))
      expect(ActorError.isSpawnFailed(spawnError)).toBe(true)
    })))

  it("a module a runner's worker cannot load: one SpawnFailed naming it and the reason, at spawn, not nested", () =>
    run(Effect.gen(function*() {
      const error = yield* Effect.flip(ActorSystem.spawn(MainThreadOnly, {}, { worker: 3 }))
      expect(ActorError.isSpawnFailed(error)).toBe(true)
      expect(error).toMatchObject({ actor: "MainThreadOnly" })
      const detail = (error as ActorError.SpawnFailed).detail
      expect(detail).toContain(`cannot load ${MainThreadOnly.module}`)
      expect(detail).toContain("settings are read on the main thread only")
      // The worker's own error, as it said it: not described again inside another error.
      expect(detail).not.toContain("SpawnFailed")
      // The runner's worker did not die of it.
      expect(yield* (yield* ActorSystem.spawn(Echo, { prefix: "still:" }, { worker: 3 })).ask("echo", "up")).toBe("still:up")
    })))

  it("a module that differs between the spawner and a runner: refused at spawn with one line naming both versions", async () => {
    // A module of its own, written here: spawned once on runner 0 (the spawner and that runner read this
    // version), then changed on disk, as when a runner's machine has another checkout; runner 1 reads the new one.
    const file = Path.join(import.meta.dirname, "fixtures", `Versioned-${process.pid}.ts`)
    const source = (version: number) =>
      `import { Effect, Schema } from "effect"\n` +
      `import { Actor } from "../../src/runtime/index.ts"\n` +
      `export const Versioned = Actor.make("Versioned", {\n` +
      `  module: import.meta.url, init: Schema.Struct({}),\n` +
      `  protocol: { version: Actor.message({ payload: Schema.Void, success: Schema.Number }) },\n` +
      `  behaviour: () => Effect.succeed({ version: () => Effect.succeed(${version}) })\n` +
      `})\n`
    Fs.writeFileSync(file, source(1))
    try {
      const { Versioned } = await import(file)
      const out = await run(Effect.gen(function*() {
        const first = yield* ActorSystem.spawn(Versioned as typeof Echo, {} as never, { worker: 0 })
        const before = yield* (first.ask as (tag: string, payload: unknown) => Effect.Effect<unknown, unknown>)("version", undefined)
        Fs.writeFileSync(file, source(2))
        const refused = yield* Effect.flip(ActorSystem.spawn(Versioned as typeof Echo, {} as never, { worker: 2 }))
        return { before, refused }
      }))
      expect(out.before).toBe(1)
      expect(ActorError.isSpawnFailed(out.refused)).toBe(true)
      const detail = (out.refused as ActorError.SpawnFailed).detail
      expect(detail).toMatch(/Versioned-\d+\.ts differs between the spawner \([0-9a-f]{16}\) and runner 1 \([0-9a-f]{16}\): run the same checkout everywhere$/)
      expect(detail.split("\n")).toHaveLength(1)
    } finally {
      Fs.rmSync(file, { force: true })
    }
  })

  it("places actors by shard without a worker, and reaches them from anywhere", () =>
    run(Effect.gen(function*() {
      const placed = yield* Effect.forEach([0, 1, 2, 3, 4, 5], (i) => ActorSystem.spawn(Echo, { prefix: `s${i}:` }))
      expect(placed.every((ref) => ref.address.worker === -1)).toBe(true)
      expect(yield* Effect.forEach(placed, (ref) => ref.ask("echo", "x"))).toEqual(["s0:x", "s1:x", "s2:x", "s3:x", "s4:x", "s5:x"])
    })))

  it("context.connect reaches actors on the same thread, another thread, another runner, and placed by shard", () =>
    run(Effect.gen(function*() {
      const relay = yield* ActorSystem.spawn(Relay, {}, { worker: 0 })
      const targets = [
        yield* ActorSystem.spawn(Echo, { prefix: "same:" }, { worker: 0 }),
        yield* ActorSystem.spawn(Echo, { prefix: "thread:" }, { worker: 1 }),
        yield* ActorSystem.spawn(Echo, { prefix: "runner:" }, { worker: 3 }),
        yield* ActorSystem.spawn(Echo, { prefix: "shard:" })
      ]
      const replies = yield* Effect.forEach(targets, (to) => relay.ask("forward", { to: to.address, text: "hi" }))
      expect(replies).toEqual([
        { reply: "same:hi", from: 0 },
        { reply: "thread:hi", from: 0 },
        { reply: "runner:hi", from: 0 },
        { reply: "shard:hi", from: 0 }
      ])
    })))

  it("interleaved asks reply once later messages bring the state about", () =>
    run(Effect.gen(function*() {
      const gate = yield* ActorSystem.spawn(Gate, {}, { worker: 2 })
      const first = yield* Effect.forkChild(gate.ask("await", 3))
      const second = yield* Effect.forkChild(gate.ask("await", 5))
      yield* Effect.sleep("100 millis")
      for (let i = 0; i < 5; i++) yield* gate.tell("bump", 1)
      expect(yield* Fiber.join(first)).toBeGreaterThanOrEqual(3)
      expect(yield* Fiber.join(second)).toBe(5)
    })))

  it.skipIf(!Fs.existsSync("/proc/self/stat"))("a cancelled ask stops its handler on the runner, and the actor answers the next", () =>
    run(Effect.gen(function*() {
      // Worker 1 is runner 0's second thread; a spinning handler there shows in that runner's CPU time.
      const echo = yield* ActorSystem.spawn(Echo, { prefix: "c:" }, { worker: 1 })
      const pid = cluster().started.runners()[0]!.pid
      const cpuMs = () => {
        const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
        return (Number(stat[11]) + Number(stat[12])) * 10
      }
      const busy = Effect.gen(function*() {
        const before = cpuMs()
        yield* Effect.sleep("1 second")
        return cpuMs() - before
      })
      const spinning = yield* Effect.forkChild(echo.ask("spin", 50_000))
      yield* Effect.sleep("200 millis")
      const during = yield* busy
      yield* Fiber.interrupt(spinning)
      yield* Effect.sleep("300 millis")
      const after = yield* busy
      // The spin did burn CPU on the runner (the fault happened), and stopped once its ask was cancelled.
      expect(during).toBeGreaterThan(2 * after)
      expect(yield* echo.ask("echo", "next")).toBe("c:next")
    })))

  it("π chunks on actors, a pipeline and streamed partial estimates equal serial, for any seed, size and chunk", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -1e9, max: 1e9 }),
        fc.integer({ min: 1, max: 2_000_000 }),
        fc.integer({ min: 1, max: 500_000 }),
        fc.constantFrom("actors" as const, "pipeline" as const, "stream" as const),
        async (seed, samples, chunk, mode) => {
          // At most 200 messages a run: each crosses processes (about a millisecond each, here).
          const params = { samples, seed, chunk: Math.max(chunk, Math.ceil(samples / 200)) }
          expect(await run(Modes.run(mode, params))).toBe(countHits(seed, 0, samples))
        }
      ),
      { numRuns: 10 }
    )
  })

  it("shared memory cannot cross processes: the shared π mode fails typed, saying so", () =>
    run(Effect.gen(function*() {
      const error = yield* Effect.flip(Modes.run("shared", { samples: 1000, seed: 1 }))
      expect(ActorError.isMalformedMessage(error)).toBe(true)
      expect(ActorError.describe(error)).toContain("SharedArrayBuffer")
    })))
})

describe("one cluster, one layout", () => {
  it("a client or a runner whose connection file has another shard layout is refused with one line", async () => {
    const edited = Path.join(cluster().dir, "edited.json")
    const connection = cluster().started.connection()
    Fs.writeFileSync(edited, JSON.stringify({ ...connection, layout: { ...connection.layout, shardsPerGroup: 7 } }))
    const client = await Effect.runPromise(Effect.flip(Effect.scoped(Cluster.make({ file: edited }))))
    expect(Cluster.isClusterUnavailable(client)).toBe(true)
    expect(client.message).toMatch(/shard layout \(2 runners × 2 threads, 7 shards per group\) differs from the cluster's \(2 runners × 2 threads, 16 shards per group\)/)
    const port = await Postgres.freePort()
    const runner = await Effect.runPromise(Effect.flip(Effect.scoped(Cluster.runner({ file: edited, slot: 0, listen: { host: "127.0.0.1", port } }))))
    expect(runner.message).toMatch(/shard layout/)
  })

  it("a client or a runner of another checkout (another runtime version) is refused with one line", async () => {
    const edited = Path.join(cluster().dir, "other-version.json")
    const connection = cluster().started.connection()
    Fs.writeFileSync(edited, JSON.stringify({ ...connection, version: "0123456789abcdef" }))
    const client = await Effect.runPromise(Effect.flip(Effect.scoped(Cluster.make({ file: edited }))))
    expect(Cluster.isClusterUnavailable(client)).toBe(true)
    expect(client.message).toMatch(/runtime \(version [0-9a-f]{16}\) differs from the cluster's \(0123456789abcdef\)/)
    expect(client.message.split("\n")).toHaveLength(1)
    const port = await Postgres.freePort()
    const runner = await Effect.runPromise(Effect.flip(Effect.scoped(Cluster.runner({ file: edited, slot: 0, listen: { host: "127.0.0.1", port } }))))
    expect(runner.message).toMatch(/differs from the cluster's \(0123456789abcdef\): run the same checkout everywhere/)
  })
})

describe("mutual TLS", () => {
  const runnerAddress = () => {
    const { host, port } = cluster().started.connection().runners[1]!
    return { host, port }
  }
  /** What a TLS handshake with runner 1 comes to: "secure" or the error that ended it. */
  const handshake = (options: Tls.ConnectionOptions) =>
    new Promise<string>((resolve) => {
      const socket = Tls.connect({ ...runnerAddress(), ...options, checkServerIdentity: () => undefined })
      // TLS 1.3 reports a refused client certificate after the handshake: wait for the server's verdict.
      socket.once("secureConnect", () => setTimeout(() => resolve(socket.destroyed ? "closed" : "secure"), 300))
      socket.once("error", (error) => resolve(`refused: ${error.message}`))
      socket.once("close", () => resolve("closed"))
      setTimeout(() => resolve("timeout"), 5000)
    }).finally(() => undefined)

  it("lets in a client with the cluster's certificate (every test above ran over it)", async () => {
    const tls = cluster().started.connection().tls!
    const outcome = await handshake({ ca: Fs.readFileSync(tls.ca), cert: Fs.readFileSync(tls.cert), key: Fs.readFileSync(tls.key) })
    expect(outcome).toBe("secure")
  })

  it("refuses a client without a certificate, one with another CA's, and plain TCP", async () => {
    const tls = cluster().started.connection().tls!
    const ca = Fs.readFileSync(tls.ca)
    expect(await handshake({ ca })).not.toBe("secure")
    const rogue = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-rogue-ca-"))
    try {
      const material = await Effect.runPromise(TlsMaterial.make(rogue, ["127.0.0.1"]))
      const outcome = await handshake({ ca, cert: Fs.readFileSync(material.cert), key: Fs.readFileSync(material.key) })
      expect(outcome).not.toBe("secure")
    } finally {
      Fs.rmSync(rogue, { recursive: true, force: true })
    }
    const plain = await new Promise<string>((resolve) => {
      const socket = Net.connect(runnerAddress(), () => socket.write(Buffer.from("plain bytes, no handshake\n")))
      socket.on("data", () => resolve("answered"))
      socket.once("close", () => resolve("closed"))
      socket.once("error", (error) => resolve(`refused: ${error.message}`))
      setTimeout(() => resolve("timeout"), 5000)
    })
    expect(plain).not.toBe("answered")
  })
})

describe("stream messages to actors on runners", () => {
  it("deliver exactly the produced elements, in order, then the typed failure, on any thread of either runner or placed by shard", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 40 }),
        fc.boolean(),
        // -1: placed by shard (one Effect Cluster stream request); 0..3: pinned (through the batching entity).
        fc.integer({ min: -1, max: 3 }),
        (items, chunk, fail, worker) =>
          run(Effect.gen(function*() {
            const streamer = yield* ActorSystem.spawn(Streamer, {}, worker < 0 ? {} : { worker })
            const got: Array<number> = []
            const exit = yield* Effect.exit(Stream.runForEach(streamer.stream("emit", { items, chunk, fail }), (n) => Effect.sync(() => got.push(n))))
            expect(got).toEqual(items)
            if (fail) expect(exit._tag === "Failure" && JSON.stringify(exit.cause)).toContain('"Stopped"')
            else expect(exit._tag).toBe("Success")
          }))
      ),
      { numRuns: 12 }
    ), 120_000)

  it("keep the producer at most its buffer ahead of a slow consumer in another process, and stop it when the consumer stops", () =>
    run(Effect.gen(function*() {
      // Runner 1, thread 1: the producer, and a probe on its thread that reads its count.
      const streamer = yield* ActorSystem.spawn(Streamer, {}, { worker: 3 })
      const probe = yield* ActorSystem.spawn(StreamProbe, {}, { worker: 3 })
      let consumed = 0
      let most = 0
      yield* Stream.runForEach(Stream.take(streamer.stream("counting", undefined), 40), () =>
        Effect.gen(function*() {
          consumed++
          // Each look is an ask across processes: a slow consumer, whom the producer could outrun without credit.
          most = Math.max(most, (yield* probe.ask("counted", undefined)).produced - consumed)
        }))
      let after = yield* probe.ask("counted", undefined)
      for (let i = 0; i < 100 && after.finalized === 0; i++) {
        yield* Effect.sleep("20 millis")
        after = yield* probe.ask("counted", undefined)
      }
      yield* Effect.sleep("100 millis")
      const later = yield* probe.ask("counted", undefined)
      expect(consumed).toBe(40)
      // The buffer, the element a producer holds while it waits for credit, and the one being consumed.
      expect(most).toBeLessThanOrEqual(BUFFER + 2)
      expect(after.finalized).toBe(1)
      expect(later.produced).toBe(after.produced)
    })), 60_000)

  it("keep the producer of an actor placed by shard at most its buffer ahead of a slow consumer, and stop it when the consumer stops", () =>
    run(Effect.gen(function*() {
      const { counted, path, settled } = countFile()
      const streamer = yield* ActorSystem.spawn(Streamer, {})
      expect(streamer.address.worker).toBe(-1)
      let consumed = 0
      let most = 0
      yield* Stream.runForEach(Stream.take(streamer.stream("countingInto", path), 40), () =>
        Effect.gen(function*() {
          consumed++
          // A slow consumer (each element waits a while), whom the producer could outrun without credit.
          yield* Effect.sleep("5 millis")
          most = Math.max(most, counted().produced - consumed)
        }))
      const { after, later } = yield* settled
      expect(consumed).toBe(40)
      // The buffer, the element a producer holds while it waits for credit, and the one being consumed.
      expect(most).toBeLessThanOrEqual(BUFFER + 2)
      expect(after.finalized).toBe(1)
      expect(later.produced).toBe(after.produced)
      // The actor is free again: its mailbox took the stream, and gave it back.
      expect(yield* streamer.ask("ping", undefined)).toBe(1)
    })), 60_000)

  it("reach an actor on another runner from an actor: the elements in order, the typed failure, whatever the placement", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 40 }),
        fc.boolean(),
        // The consumer on runner 0; the producer on runner 1 (either thread) or placed by shard (-1).
        fc.constantFrom(-1, 2, 3),
        (items, chunk, fail, worker) =>
          run(Effect.gen(function*() {
            const reader = yield* ActorSystem.spawn(StreamReader, {}, { worker: 0 })
            const streamer = yield* ActorSystem.spawn(Streamer, {}, worker < 0 ? {} : { worker })
            const { failure, got } = yield* reader.ask("collect", { to: streamer.address, items, chunk, fail })
            expect(got).toEqual(items)
            expect(failure).toBe(fail ? "Stopped" : null)
          }))
      ),
      { numRuns: 8 }
    ), 120_000)

  it("keep a producer on another runner at most its buffer ahead of a slow consumer actor, and stop it when the consumer stops", () =>
    run(Effect.gen(function*() {
      const { path, settled } = countFile()
      const reader = yield* ActorSystem.spawn(StreamReader, {}, { worker: 1 })
      const streamer = yield* ActorSystem.spawn(Streamer, {}, { worker: 2 })
      const { consumed, most } = yield* reader.ask("drainSlowly", { to: streamer.address, path, count: 40 })
      const { after, later } = yield* settled
      expect(consumed).toBe(40)
      expect(most).toBeLessThanOrEqual(BUFFER + 2)
      expect(after.finalized).toBe(1)
      expect(later.produced).toBe(after.produced)
    })), 60_000)
})
