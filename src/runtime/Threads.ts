/**
 * The Threads tier: actors live on N worker threads (default: one per core), talk to the main thread and to
 * each other over MessagePorts, and are supervised.
 *
 * The service joins four parts, each in `internal/threads/`: a `Supervisor` (start, restart with backoff,
 * terminate), the `Mesh` (a direct channel between every two workers), `Placement` (which worker an actor
 * goes to, and what lives where) and the bundles workers load (`WorkerBundle`): the base bundle holds Effect
 * and this runtime, and `ship` builds one small bundle per user module.
 *
 * When a worker dies (process.exit, an uncaught throw, resource limits) only the asks it held fail, with
 * `WorkerDied`; it is restarted and its actors are spawned again from their init parameters, under the same
 * addresses. Closing the layer's scope terminates every worker and waits until each has exited.
 */
import { Deferred, Effect, Layer } from "effect"
import * as Os from "node:os"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"
import type { ResourceLimits } from "node:worker_threads"
import type * as Actor from "./Actor.ts"
import { SpawnFailed, describe, isWorkerDied } from "./ActorError.ts"
import type { WorkerLost } from "./ActorError.ts"
import { ActorSystem } from "./ActorSystem.ts"
import type { Service } from "./ActorSystem.ts"
import { CodeUnavailable } from "./Code.ts"
import * as Codec from "./internal/Codec.ts"
import { Router } from "./internal/Router.ts"
import * as Mesh from "./internal/threads/Mesh.ts"
import { Placement } from "./internal/threads/Placement.ts"
import { Supervisor } from "./internal/threads/Supervisor.ts"
import type { Policy } from "./internal/threads/Supervisor.ts"
import { MAIN } from "./internal/threads/worker.ts"
import type { WorkerData } from "./internal/threads/worker.ts"
import * as WorkerBundle from "./internal/threads/WorkerBundle.ts"
import { Kind } from "./internal/Wire.ts"
import type { SpawnSpec } from "./internal/Wire.ts"
import * as ThreadSlots from "./ThreadSlots.ts"

export interface Options extends Policy {
  /** Number of worker threads; default: available cores. */
  readonly workers?: number
  /** V8 heap limits for each worker (a worker exceeding them dies and is restarted). */
  readonly resourceLimits?: ResourceLimits
  /** Batch messages per destination (default true); turn off only to measure what batching saves. */
  readonly batching?: boolean
}

/** Live worker threads of every Threads instance, so tests can check that none outlive their scope. */
const live = new Set<Worker>()
export const liveWorkers = (): number => live.size

export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const count = options.workers ?? Os.availableParallelism()
    if (!Number.isInteger(count) || count < 1) {
      return yield* Effect.die(new RangeError(`workers must be a positive integer, got ${count}`))
    }
    const basePath = yield* Effect.promise(() => WorkerBundle.baseBundle())
    const batching = options.batching ?? true
    const router = new Router(MAIN, { batching, cancelled: (worker) => supervisor.suspect(worker) })
    const placement = new Placement(count)
    let nextId = 1

    const supervisor: Supervisor = new Supervisor(count, options, {
      boot: (slot) => {
        // Every thread gets its own thread id: locks and barriers held by a dead thread report it.
        const threadId = ThreadSlots.allocate()
        let worker: Worker
        try {
          worker = new Worker(basePath, {
            workerData: { index: slot.index, batching, slots: ThreadSlots.current().handle, slot: threadId } satisfies WorkerData,
            // Workers load a plain bundle: inheriting a TypeScript loader from the parent only slows their boot.
            execArgv: [],
            ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
            stdout: false,
            stderr: false
          })
        } catch (error) {
          ThreadSlots.markDead(threadId)
          throw error
        }
        ThreadSlots.watch(worker, threadId)
        live.add(worker)
        worker.once("exit", () => live.delete(worker))
        return worker
      },
      started: (slot) => {
        const worker = slot.worker!
        router.connect(slot.index, (frames) => worker.postMessage(frames))
        worker.on("message", (message: unknown) => {
          if (Array.isArray(message)) router.receive(slot.index, message)
        })
        Mesh.join(slot, supervisor.slots)
        // Actors that lived here before a restart come back under the same addresses.
        for (const [actorId, spec] of placement.on(slot.index)) {
          Effect.runFork(Effect.ignore(router.request(slot.index, Kind.Spawn, actorId, spec)))
        }
      },
      died: (slot, reason) => {
        router.disconnect(slot.index, reason)
        Mesh.leave(slot, supervisor.slots, reason)
      },
      lost: (_slot, error) => router.sender.lose(error)
    })
    // Registered before the start, so that a start that fails half-way still terminates what it started.
    /** Stops sent to actors whose scope closed and not answered yet, and who waits for the last answer. */
    let stopping = 0
    let stopped: Deferred.Deferred<void> | undefined
    const stopDone = () => {
      if (--stopping === 0 && stopped !== undefined) Deferred.doneUnsafe(stopped, Effect.void)
    }
    // Registered before the start, so that a start that fails half-way still terminates what it started. The
    // tier's close lets the stops already sent finish first (a stuck worker is cut short by the watchdog).
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        if (stopping === 0) return supervisor.close
        stopped = Deferred.makeUnsafe<void>()
        return Effect.andThen(Deferred.await(stopped), supervisor.close)
      })
    )
    yield* supervisor.startAll

    const connect: Service["connect"] = (definition, address) => router.ref(definition, address)

    const ship: Service["ship"] = ({ module, name }) =>
      WorkerBundle.isRuntimeModule(module)
        ? Effect.succeed({ module, name, via: "" })
        : Effect.tryPromise({
          try: () => WorkerBundle.moduleBundle(module),
          catch: (error) =>
            new CodeUnavailable({ module, name, stage: "ship", detail: `cannot bundle ${module} for the workers: ${describe(error)}` })
        }).pipe(Effect.map((bundle) => ({ module, name, via: pathToFileURL(bundle).href })))

    const spawn: Service["spawn"] = (definition, init, spawnOptions) =>
      Effect.gen(function*() {
        const fail = (detail: string) => new SpawnFailed({ actor: definition.name, detail })
        const encodedInit = yield* Effect.try({
          try: () => Codec.forDefinition(definition as unknown as Actor.Any).init.encode(init),
          catch: (error) => fail(`init: ${describe(error)}`)
        })
        const code = yield* Effect.mapError(ship(definition), (error) => fail(error.detail))
        const worker = placement.choose(spawnOptions?.worker, (k) => supervisor.slots[k]!.lost === undefined)
        const id = nextId++
        const spec: SpawnSpec = { code, init: encodedInit }
        // A worker being restarted takes new actors once it is back; one that dies mid-spawn is restarted, and
        // the spawn then happens on its successor (a few times at most); a lost worker takes none.
        const attempt = Effect.andThen(supervisor.awaitUp(worker), Effect.suspend(() => router.request(worker, Kind.Spawn, id, spec)))
        const retried = Effect.catchIf(attempt, isWorkerDied, () =>
          Effect.catchIf(attempt, isWorkerDied, () => attempt))
        yield* Effect.mapError(retried, (error) => fail(describe(error)))
        placement.record(worker, id, spec)
        // Closing the actor's scope sends its stop and does not wait for the answer, so that closing many actors
        // costs one batch per worker, not a round trip each; the tier's own close waits for the answers.
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            placement.forget(worker, id)
            if (supervisor.isClosing || !supervisor.isUp(worker)) return
            // A worker that does not answer because it is stuck in a synchronous call is terminated by the
            // supervisor after `stuckAfterMs`, which ends this request with WorkerDied.
            supervisor.suspect(worker)
            stopping++
            router.sender.post(worker, Kind.Stop, id, 0, stopDone)
          })
        )
        return router.ref(definition, { id, name: definition.name, worker })
      })

    const service: Service = {
      workers: count,
      concurrent: true,
      description: `${count} worker thread${count === 1 ? "" : "s"}`,
      spawn,
      connect,
      ship,
      restarts: () => supervisor.restarts(),
      isUp: (worker) => supervisor.isUp(worker),
      awaitUp: (worker) => supervisor.awaitUp(worker)
    }
    return service
  })

/** The tier as a Layer; it fails with `WorkerLost` when a worker cannot be started at all. */
export const layer = (options: Options = {}): Layer.Layer<ActorSystem, WorkerLost> => Layer.effect(ActorSystem, make(options))
