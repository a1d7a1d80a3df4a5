/**
 * Test support for the Cluster tier: a cluster of runner processes with its own embedded Postgres, in a
 * temporary folder, started once per test file and stopped at its end (with every process it started), and a
 * managed runtime whose `ActorSystem` is a client of it.
 */
import { Effect, Exit, ManagedRuntime, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import { afterAll, beforeAll, expect } from "vitest"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Cluster from "../../src/runtime/Cluster.ts"
import type { ActorSystem } from "../../src/runtime/ActorSystem.ts"

export interface TestCluster {
  readonly started: Cluster.Started
  readonly runtime: ManagedRuntime.ManagedRuntime<ActorSystem, Cluster.ClusterUnavailable>
  /** Seconds the cluster took to start (Postgres and every runner joined). */
  readonly startSeconds: number
  /** The folder it owns (Postgres data, connection file): every process it started names it. */
  readonly dir: string
  readonly dispose: () => Promise<void>
}

export const start = async (options: Partial<Cluster.StartOptions> = {}): Promise<TestCluster> => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-cluster-test-"))
  const scope = Effect.runSync(Scope.make())
  const t0 = performance.now()
  try {
    const started = await Effect.runPromise(
      Scope.provide(Cluster.start({ runners: 2, threads: 2, dir, ...options }), scope)
    )
    const startSeconds = (performance.now() - t0) / 1000
    const runtime = ManagedRuntime.make(Cluster.layer({ file: started.file }))
    const dispose = async () => {
      await runtime.dispose()
      await Effect.runPromise(Scope.close(scope, Exit.void))
      Fs.rmSync(dir, { recursive: true, force: true })
    }
    return { started, runtime, startSeconds, dir, dispose }
  } catch (error) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    Fs.rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

/** Processes of ours still running whose command line mentions `what` (for "nothing left behind" checks). */
export const leftovers = (what: ReadonlyArray<string>): Array<string> =>
  ChildProcess.execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" })
    .split("\n")
    .filter((line) => what.some((w) => line.includes(w)))

/**
 * The Postgres reapers this process started that still run. Only ours: another test file (or checkout) may run
 * a cluster at the same time, and its reapers are its own business.
 */
export const ownReapers = (): Array<string> =>
  leftovers(["actorflow-reaper"]).filter((line) => Number(line.trim().split(/\s+/)[1]) === process.pid)

export const run = <A, E>(cluster: TestCluster, effect: Effect.Effect<A, E, ActorSystem | Scope.Scope>): Promise<A> =>
  cluster.runtime.runPromise(Effect.scoped(effect))


/**
 * A cluster for the whole test file: started before its tests, stopped after them, and checked to have left no
 * process behind. `cluster()` is the running cluster; `run` runs a scoped effect on its client.
 */
export const use = (options: Partial<Cluster.StartOptions> = {}) => {
  let current: TestCluster | undefined
  beforeAll(async () => {
    current = await start(options)
    console.log(`cluster of ${options.runners ?? 2} runners × ${options.threads ?? 2} thread${(options.threads ?? 2) === 1 ? "" : "s"}${options.tls ? " (mutual TLS)" : ""} started in ${current.startSeconds.toFixed(1)} s`)
  }, 120_000)
  afterAll(async () => {
    if (current === undefined) return
    await current.dispose()
    expect([...leftovers([current.dir]), ...ownReapers()]).toEqual([])
  }, 60_000)
  const cluster = (): TestCluster => current!
  return {
    cluster,
    run: <A, E>(effect: Effect.Effect<A, E, ActorSystem | Scope.Scope>): Promise<A> => run(cluster(), effect)
  }
}
