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
import { SpawnFailed, describe } from "./ActorError.ts"
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
import * as Retry from "./Retry.ts"
import * as ThreadSlots from "./ThreadSlots.ts"

export interface Options extends Policy {
  /** Number of worker threads; default: available cores. */
  readonly workers?: number
  /** V8 heap limits for each worker (a worker exceeding them dies and is restarted). */
  readonly resourceLimits?: ResourceLimits
  /** Batch messages per destination (default true); turn off only to measure what batching saves. */
  readonly batching?: boolean
}

/** How long stopping an actor waits for its worker to confirm. */
const STOP_TIMEOUT_MS = 2_000

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
    const router = new Router(MAIN, { batching })
    const placement = new Placement(count)
    let nextId = 1

    const supervisor: Supervisor = new Supervisor(count, options, {
      boot: (slot) => {
        // Every thread gets a fresh thread slot: locks and barriers held by a dead thread report it.
        const threadSlot = ThreadSlots.allocate()
        const worker = new Worker(basePath, {
          workerData: { index: slot.index, batching, slots: ThreadSlots.current().handle, slot: threadSlot } satisfies WorkerData,
          // Workers load a plain bundle: inheriting a TypeScript loader from the parent only slows their boot.
          execArgv: [],
          ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
          stdout: false,
          stderr: false
        })
        ThreadSlots.watch(worker, threadSlot)
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
      }
    })
    supervisor.startAll()
    yield* Effect.addFinalizer(() => supervisor.close)

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
        const worker = placement.choose(spawnOptions?.worker)
        const id = nextId++
        const spec: SpawnSpec = { code, init: encodedInit }
        const slot = supervisor.slots[worker]!
        // A worker being restarted takes new actors once it is back; one that dies mid-spawn is restarted, and
        // the spawn then simply happens on its successor.
        const attempt = Effect.andThen(Deferred.await(slot.up), Effect.suspend(() => router.request(worker, Kind.Spawn, id, spec)))
        yield* Retry.onWorkerDeath(attempt, { times: 3 }).pipe(Effect.mapError((error) => fail(describe(error))))
        placement.record(worker, id, spec)
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            placement.forget(worker, id)
            // Bounded: a worker stuck in a long synchronous call cannot answer, and closing the scope must not
            // hang on it (the layer's own close terminates such a worker).
            return supervisor.isClosing
              ? Effect.void
              : Effect.ignore(Effect.timeoutOption(router.request(worker, Kind.Stop, id, 0), STOP_TIMEOUT_MS))
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
      restarts: () => supervisor.restarts()
    }
    return service
  })

export const layer = (options: Options = {}): Layer.Layer<ActorSystem> => Layer.effect(ActorSystem, make(options))
