/**
 * A runner on a test host of its own: a network namespace with a veth pair and private addresses that this test
 * makes and removes, so that messages and mutual TLS cross a real interface rather than loopback. Runner 0 and
 * the client stay on this host (at the veth's host end); runner 1 runs inside the namespace, started as a user
 * starts a runner on another machine (`cluster.ts runner --slot 1 --listen ...`): its mounts show it the checkout at
 * another path and hide this one and the bundles this host built, so code reaches it by its path in the project. Nothing is sent to any
 * address but the two this test made. Without root or iproute2 it says why and skips.
 */
import { Effect, Exit, ManagedRuntime, Scope } from "effect"
import { execFileSync, spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Cluster from "../src/runtime/Cluster.ts"
import { ActorSystem } from "../src/runtime/index.ts"
import * as Postgres from "../src/runtime/internal/cluster/Postgres.ts"
import * as Layout from "../src/runtime/internal/Layout.ts"
import { Pool } from "../src/runtime/pool/index.ts"
import { Echo, Relay } from "./fixtures/Echo.ts"
import { square, squareWhere } from "./fixtures/tasks.ts"
import { leftovers, ownReapers } from "./support/cluster.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url))
const id = process.pid % 100_000
const ns = `afns${id}`
const hostEnd = `afh${id}`
const nsEnd = `afn${id}`
const subnet = `10.213.${process.pid % 250}`
const hostAddress = `${subnet}.1`
const nsAddress = `${subnet}.2`

const ip = (...args: Array<string>) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] })

/** Why this test cannot run here, or undefined when it can (it tries making and removing a namespace). */
const cannot = ((): string | undefined => {
  if (process.getuid?.() !== 0) return "it needs root to make a network namespace"
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" })
  } catch {
    return "iproute2 (`ip`) is not installed"
  }
  try {
    ip("netns", "add", ns)
    ip("netns", "delete", ns)
    return undefined
  } catch (error) {
    return `network namespaces cannot be made here: ${String((error as { stderr?: unknown }).stderr ?? error).trim()}`
  }
})()
if (cannot !== undefined) console.log(`cluster-netns: skipped, because ${cannot}`)

describe.skipIf(cannot !== undefined)("a runner in a network namespace of its own", () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-netns-test-"))
  let scope: Scope.Closeable
  let started: Cluster.Started
  let remote: ChildProcess
  let remotePort = 0
  /** Start the far runner (again), listening on `port`, with an empty bundle cache of its own. */
  let startFar: (port: number) => Promise<void>
  /** Whether the far runner sees the checkout at another path (`far`) and none of this host's bundles (see `beforeAll`). */
  let hidden = false
  const far = Path.join(Os.tmpdir(), `actorflow-far-checkout-${id}`)
  let runtime: ManagedRuntime.ManagedRuntime<ActorSystem.ActorSystem, Cluster.ClusterUnavailable>

  beforeAll(async () => {
    ip("netns", "add", ns)
    ip("link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd)
    ip("link", "set", nsEnd, "netns", ns)
    ip("addr", "add", `${hostAddress}/30`, "dev", hostEnd)
    ip("link", "set", hostEnd, "up")
    ip("netns", "exec", ns, "ip", "addr", "add", `${nsAddress}/30`, "dev", nsEnd)
    ip("netns", "exec", ns, "ip", "link", "set", nsEnd, "up")
    ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")

    scope = Effect.runSync(Scope.make())
    started = await Effect.runPromise(
      Scope.provide(Cluster.start({ runners: 2, threads: 1, dir, host: hostAddress, tls: true, slots: [0] }), scope)
    )
    const port = remotePort = await Postgres.freePort()
    // The namespace's own mounts show the runner there the checkout at another path, with an empty bundle cache,
    // and hide it at this one: as on another machine with its own copy of the project somewhere else.
    const cache = Layout.cacheDir()
    try {
      // Both mounts the far runner needs: an empty folder over a path, and the checkout shown at another path.
      ip("netns", "exec", ns, "sh", "-c", 'mount -t tmpfs actorflow-probe "$0" && umount "$0" && mkdir -p "$2" && mount --bind "$1" "$2" && umount "$2"', cache, root, far)
      hidden = true
    } catch (error) {
      console.log(`cluster-netns: the far runner shares this host's checkout path and bundle cache, because mounts cannot be made in its namespace: ${String((error as { stderr?: unknown }).stderr ?? error).trim()}`)
    }
    startFar = async (port: number) => {
      const runner = ["src/programs/cluster.ts", "runner", "--file", started.file, "--slot", "1", "--listen", `${nsAddress}:${port}`]
      const relocate = [
        'root="$0"; far="$1"; cache="$2"; shift 2',
        'mkdir -p "$far" && mount --bind "$root" "$far" && mount -t tmpfs actorflow-far-cache "$far/$cache"',
        'mount -t tmpfs actorflow-hidden "$root" && cd "$far" && exec "$@"'
      ].join(" && ")
      remote = spawn("ip", hidden
        ? ["netns", "exec", ns, "sh", "-c", relocate, root, far, Path.relative(root, cache), "node_modules/.bin/tsx", ...runner]
        : ["netns", "exec", ns, tsx, ...runner], { cwd: root })
      await new Promise<void>((resolve, reject) => {
        let out = ""
        let err = ""
        remote.stdout!.on("data", (chunk) => {
          out += String(chunk)
          if (out.includes("joined")) resolve()
        })
        remote.stderr!.on("data", (chunk) => (err += String(chunk)))
        remote.once("exit", (code) => reject(new Error(`the runner in ${ns} exited with ${code}: ${err}`)))
      })
    }
    await startFar(port)
    runtime = ManagedRuntime.make(Cluster.layer({ file: started.file }))
  }, 120_000)

  afterAll(async () => {
    await runtime?.dispose()
    remote?.kill("SIGTERM")
    await new Promise((resolve) => setTimeout(resolve, 1000))
    try {
      for (const pid of execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).split("\n").filter(Boolean)) process.kill(Number(pid), "SIGKILL")
    } catch {}
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
    try {
      ip("netns", "delete", ns)
    } catch {}
    try {
      ip("link", "delete", hostEnd)
    } catch {}
    Fs.rmSync(dir, { recursive: true, force: true })
    // Only the far runner's namespace mounted the checkout there: here it is an empty folder (and never emptied).
    try {
      Fs.rmdirSync(far)
    } catch {}
    expect([...leftovers([dir]), ...ownReapers()]).toEqual([])
  }, 60_000)

  it("asks cross the interface both ways, over mutual TLS, from the client and from another runner", async () => {
    const result = await runtime.runPromise(Effect.scoped(Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      expect([0, 1].map(system.isUp)).toEqual([true, true])
      const far = yield* ActorSystem.spawn(Echo, { prefix: "far:" }, { worker: 1 })
      const relay = yield* ActorSystem.spawn(Relay, {}, { worker: 0 })
      return [yield* far.ask("echo", "hi"), yield* relay.ask("forward", { to: far.address, text: "relayed" })] as const
    })))
    expect(result).toEqual(["far:hi", { reply: "far:relayed", from: 0 }])
    const inside = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).split("\n").filter(Boolean)
    expect(inside.length).toBeGreaterThan(0)
  }, 60_000)

  it("code reaches the far runner by its path in the project: from its own copy elsewhere it builds its own bundle, and a pool map there equals Array.map", async () => {
    const xs = Array.from({ length: 40 }, (_, i) => i - 7)
    const out = await runtime.runPromise(Effect.scoped(Effect.gen(function*() {
      const pool = yield* Pool.make()
      // Chunks of 5 on both runners: 8 chunks, the far runner takes its share.
      return yield* pool.map(square, xs, { chunkSize: 5 })
    })))
    expect(out).toEqual(xs.map((x) => x * x))
    console.log(`cluster-netns: a pool map ran on the far runner ${hidden ? `from its copy of the checkout at ${far}, with bundles it built itself` : "(sharing this host's checkout and bundles)"}`)
  }, 60_000)

  it("the far runner restarted with an empty bundle cache (its machine rebooted) rejoins: a pool made before maps there again", async () => {
    const xs = Array.from({ length: 40 }, (_, i) => 3 * i - 20)
    const [before, after, inside] = await runtime.runPromise(Effect.scoped(Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      const pool = yield* Pool.make()
      /** A step that must end within 40 s, else the test fails naming it (never a silent hang). */
      const step = <A, E>(name: string, effect: Effect.Effect<A, E>) =>
        effect.pipe(Effect.timeoutOrElse({ duration: "40 seconds", orElse: () => Effect.die(new Error(`${name} did not end within 40 s`)) }))
      const before = yield* step("the first map", pool.map(square, xs, { chunkSize: 5 }))
      // SIGKILL of everything in the namespace: the far runner, and tsx's process around it.
      const killed = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).split("\n").filter(Boolean)
      for (const pid of killed) process.kill(Number(pid), "SIGKILL")
      expect(killed.length).toBeGreaterThan(0)
      yield* step("seeing the far runner down", Effect.gen(function*() {
        while (system.isUp(1)) yield* Effect.sleep("50 millis")
      }))
      yield* step("starting the far runner again", Effect.promise(async () => startFar(remotePort = await Postgres.freePort())))
      yield* step("seeing it up", system.awaitUp(1))
      // Its pool workers start again there; the tasks' bundle must be built there anew, in its empty cache.
      const after = yield* step("the map after it rejoined", pool.map(squareWhere, xs, { chunkSize: 5 }))
      return [before, after, execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).split("\n").filter(Boolean).map(Number)] as const
    })))
    expect(before).toEqual(xs.map((x) => x * x))
    expect(after.map((r) => r.square)).toEqual(before)
    // Some chunks ran in the restarted far runner's process (not all on the runner that stayed).
    expect(after.some((r) => inside.includes(r.pid))).toBe(true)
  }, 150_000)

  it("plain TCP to the namespaced runner's TLS port gets no answer", async () => {
    const [host, port] = [nsAddress, remotePort]
    const outcome = await new Promise<string>((resolve) => {
      const socket = Net.connect({ host, port }, () => socket.write("plain\n"))
      socket.on("data", () => resolve("answered"))
      socket.once("close", () => resolve("closed"))
      socket.once("error", (error) => resolve(`refused: ${error.message}`))
      setTimeout(() => resolve("timeout"), 5000)
    })
    expect(outcome).not.toBe("answered")
  })
})
