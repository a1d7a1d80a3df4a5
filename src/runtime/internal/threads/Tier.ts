/**
 * The Threads tier's machinery: N supervised worker threads, the mesh between them, placement, and the main
 * thread's router. `Threads.layer` offers it as the `ActorSystem` service; a cluster runner uses it too, with
 * the handles below that the public service does not have: its threads are numbered across the cluster
 * (`Extra.cluster`), its main thread passes on their messages for actors in other processes (`Extra.forward`),
 * and it starts actors from already-encoded spawn requests (`host` / `unhost`).
 *
 * When a worker dies (process.exit, an uncaught throw, resource limits) only the asks it held fail, with
 * `WorkerDied`; it is restarted and its actors are spawned again from their init parameters, under the same
 * addresses. Closing the scope terminates every worker and waits until each has exited.
 *
 * What user code writes on a worker arrives as `Output` messages, on the same port as, and so before, the
 * replies of the runs that wrote it; it goes to the `Output.CurrentSink` of the context the tier was built in.
 */
import { Deferred, Effect } from "effect"
import type { Scope } from "effect"
import * as Os from "node:os"
import { Worker } from "node:worker_threads"
import type { ResourceLimits } from "node:worker_threads"
import type * as Actor from "../../Actor.ts"
import { SpawnFailed, describe, isSpawnFailed, isWorkerDied } from "../../ActorError.ts"
import type { WorkerLost } from "../../ActorError.ts"
import type { Service } from "../../ActorSystem.ts"
import * as Output from "../../Output.ts"
import * as ThreadSlots from "../../ThreadSlots.ts"
import type * as Capture from "../Capture.ts"
import type { Recorder } from "../../Trace.ts"
import * as Codec from "../Codec.ts"
import type { Forwarder } from "../Host.ts"
import * as Layout from "../Layout.ts"
import { Router } from "../Router.ts"
import type { Batch } from "../Tracing.ts"
import { Kind } from "../Wire.ts"
import type { SpawnSpec } from "../Wire.ts"
import * as Inspector from "./Inspector.ts"
import * as Mesh from "./Mesh.ts"
import { Placement } from "./Placement.ts"
import { Supervisor } from "./Supervisor.ts"
import type { Policy } from "./Supervisor.ts"
import { MAIN } from "./worker.ts"
import type { WorkerData } from "./worker.ts"
import * as WorkerBundle from "./WorkerBundle.ts"

/** The Threads tier's options (also those of a cluster runner's threads). @inline */
export interface Options extends Policy {
  /** Number of worker threads; default: available cores. */
  readonly workers?: number
  /** V8 heap limits for each worker (a worker exceeding them dies and is restarted). */
  readonly resourceLimits?: ResourceLimits
  /** Batch messages per destination (default true); turn off only to measure what batching saves. */
  readonly batching?: boolean
  /**
   * Record handler runs, sends, mailbox waits and cross-thread spans into this recorder (see `Trace.ts`); off
   * when omitted, and then nothing is recorded anywhere.
   */
  readonly trace?: Recorder
  /**
   * Start every worker under the inspector, on loopback: `true` for ports 9230, 9231, … (worker 0, 1, …), or
   * `{ host, port, wait }`; each worker writes where it listens (see `Inspector.ts`).
   */
  readonly inspect?: boolean | Inspector.Options
}

/** What a cluster runner adds (see the module doc). */
export interface Extra {
  readonly cluster?: { readonly first: number; readonly count: number }
  readonly forward?: Forwarder
}

export interface Tier {
  readonly service: Service
  readonly router: Router
  /** Start the actor `spec` names on `worker` under `id` (recorded there, so a restart brings it back). */
  readonly host: (worker: number, id: number, spec: SpawnSpec) => Effect.Effect<void, unknown>
  /** Stop the actor `id` on `worker`, without waiting for its answer (the tier's close waits for them all). */
  readonly unhost: (worker: number, id: number) => void
}

/** Live worker threads of every Threads instance, so tests can check that none outlive their scope. */
const live = new Set<Worker>()
export const liveWorkers = (): number => live.size

/** How long a closing tier waits for its actors' stops before it terminates the workers. */
const CLOSE_GRACE_MS = 500

/** How long a closing traced tier waits for its workers' last trace batches. */
const TRACE_FLUSH_MS = 2000

export const make = (options: Options = {}, extra: Extra = {}): Effect.Effect<Tier, WorkerLost, Scope.Scope> =>
  Effect.gen(function*() {
    const count = options.workers ?? Os.availableParallelism()
    if (!Number.isInteger(count) || count < 1) {
      return yield* Effect.die(new RangeError(`workers must be a positive integer, got ${count}`))
    }
    const inspect = Inspector.settings(options.inspect, count)
    if (typeof inspect === "string") return yield* Effect.die(new RangeError(inspect))
    const basePath = yield* Effect.promise(() => WorkerBundle.baseBundle())
    // Where the workers' output goes (see Output.ts): read once, as the tier starts.
    const sink = yield* Output.CurrentSink
    const batching = options.batching ?? true
    const recorder = options.trace
    const mainTrace = recorder?.mainThread()
    const router = new Router(MAIN, {
      batching: batching ? "adaptive" : "off",
      cancelled: (worker) => supervisor.suspect(worker),
      ...(extra.forward ? { forward: extra.forward } : {}),
      ...(mainTrace ? { trace: mainTrace } : {})
    })
    /** Workers whose last trace batch the closing tier waits for. */
    const flushing = new Map<number, Deferred.Deferred<void>>()
    const traced = (slot: number, batch: Batch) => {
      recorder!.add(batch)
      if (batch.last === true) {
        const done = flushing.get(slot)
        flushing.delete(slot)
        if (done !== undefined) Deferred.doneUnsafe(done, Effect.void)
      }
    }
    /** A traced tier's last records: every running worker's, then the main thread's. */
    const flushTrace = Effect.suspend(() => {
      if (recorder === undefined) return Effect.void
      const waits = supervisor.slots.filter((slot) => slot.worker !== undefined && supervisor.isUp(slot.index)).map((slot) => {
        const done = Deferred.makeUnsafe<void>()
        flushing.set(slot.index, done)
        slot.worker!.postMessage({ _tag: "TraceFlush" })
        return Deferred.await(done)
      })
      return Effect.andThen(
        Effect.timeoutOption(Effect.all(waits, { concurrency: "unbounded", discard: true }), TRACE_FLUSH_MS),
        Effect.sync(() => recorder.add(mainTrace!.take(true)))
      )
    })
    const placement = new Placement(count)
    let nextId = 1

    const supervisor: Supervisor = new Supervisor(count, options, {
      boot: (slot) => {
        // Every thread gets its own thread id: locks and barriers held by a dead thread report it.
        const threadId = ThreadSlots.allocate()
        // A tier may live for weeks: its bundle must not look unused to another process's pruning.
        WorkerBundle.markUsed(basePath)
        let worker: Worker
        const entry = WorkerBundle.workerEntry(basePath)
        try {
          worker = new Worker(entry.filename, {
            eval: entry.eval,
            workerData: {
              actorflow: true,
              ...(entry.script ? { script: entry.script } : {}),
              index: slot.index,
              batching,
              cacheDir: Layout.cacheDir(),
              slots: ThreadSlots.current().handle,
              slot: threadId,
              ...(extra.cluster ? { cluster: extra.cluster } : {}),
              ...(recorder ? { trace: true } : {}),
              ...(inspect ? { inspect: Inspector.forWorker(inspect, slot.index) } : {})
            } satisfies WorkerData,
            // Workers load a plain bundle: inheriting a TypeScript loader from the parent only slows their boot.
            // Not `--enable-source-maps` either: it decodes the whole map at boot (see SourceMap.ts).
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
        router.connect(slot.index, (frames, transfer) => worker.postMessage(frames, transfer))
        worker.on("message", (message: unknown) => {
          if (Array.isArray(message)) router.receive(slot.index, message)
          else if ((message as Capture.Message)._tag === "Output") {
            const { origin, stream, text } = message as Capture.Message
            sink.write(stream === 0 ? "stdout" : "stderr", origin, text)
          } else if (recorder !== undefined && (message as Batch | undefined)?._tag === "Trace") traced(slot.index, message as Batch)
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
    /** Stops sent to actors whose scope closed and not answered yet, and who waits for the last answer. */
    let stopping = 0
    let stopped: Deferred.Deferred<void> | undefined
    const stopDone = () => {
      if (--stopping === 0 && stopped !== undefined) Deferred.doneUnsafe(stopped, Effect.void)
    }
    // Registered before the start, so that a start that fails half-way still terminates what it started. The
    // tier's close lets the stops already sent finish first, for at most `CLOSE_GRACE_MS`: a worker blocked in a
    // call that never yields is terminated then (a program must exit promptly on Ctrl-C).
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        if (stopping === 0) return Effect.andThen(flushTrace, supervisor.close)
        stopped = Deferred.makeUnsafe<void>()
        return Effect.andThen(Effect.timeoutOption(Deferred.await(stopped), CLOSE_GRACE_MS), Effect.andThen(flushTrace, supervisor.close))
      })
    )
    yield* supervisor.startAll

    const connect: Service["connect"] = (definition, address) => router.ref(definition, address)

    const ship: Service["ship"] = (code) => WorkerBundle.ship(code, "the workers")

    /** Start the actor `spec` names on `worker` under `id`, and record it there for restarts. */
    const host = (worker: number, id: number, spec: SpawnSpec): Effect.Effect<void, unknown> => {
      // A worker being restarted takes new actors once it is back; one that dies mid-spawn is restarted, and
      // the spawn then happens on its successor (a few times at most); a lost worker takes none.
      const attempt = Effect.andThen(supervisor.awaitUp(worker), Effect.suspend(() => router.request(worker, Kind.Spawn, id, spec)))
      const retried = Effect.catchIf(attempt, isWorkerDied, () =>
        Effect.catchIf(attempt, isWorkerDied, () => attempt))
      return Effect.tap(retried, () => Effect.sync(() => placement.record(worker, id, spec)))
    }

    /** Stop the actor `id` on `worker` without waiting for the answer (the tier's close waits for them all). */
    const unhost = (worker: number, id: number): void => {
      placement.forget(worker, id)
      if (supervisor.isClosing || !supervisor.isUp(worker)) return
      // A worker that does not answer because it is stuck in a synchronous call is terminated by the
      // supervisor after `stuckAfterMs`, which ends this request with WorkerDied.
      supervisor.suspect(worker)
      stopping++
      router.sender.post(worker, Kind.Stop, id, 0, stopDone)
    }

    const spawn: Service["spawn"] = (definition, init, spawnOptions) =>
      Effect.gen(function*() {
        const fail = (detail: string) => new SpawnFailed({ actor: definition.name, detail })
        const encodedInit = yield* Codec.encodeInit(definition as unknown as Actor.Any, init)
        const code = yield* Effect.mapError(ship(definition), (error) => fail(error.detail))
        const worker = placement.choose(spawnOptions?.worker, (k) => supervisor.slots[k]!.lost === undefined)
        const id = nextId++
        yield* Effect.mapError(host(worker, id, { code, init: encodedInit }), (error) => isSpawnFailed(error) ? error : fail(describe(error)))
        // Closing the actor's scope sends its stop and does not wait for the answer, so that closing many actors
        // costs one batch per worker, not a round trip each; the tier's own close waits for the answers.
        yield* Effect.addFinalizer(() => Effect.sync(() => unhost(worker, id)))
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
      awaitUp: (worker) => supervisor.awaitUp(worker),
      ready: Effect.forEach(supervisor.slots, (slot) => supervisor.awaitReady(slot.index), { discard: true }),
      recycle: (worker) => Effect.as(supervisor.recycle(worker), true),
      status: () => {
        const waiting = router.sender.waiting()
        return supervisor.slots.map((slot) => {
          const w = waiting.get(slot.index) ?? { asks: 0, control: 0 }
          return `worker ${slot.index}: ${supervisor.describe(slot.index)}; main awaits ${w.asks} ask(s), ${w.control} spawn/stop(s) there`
        })
      }
    }
    return { service, router, host, unhost }
  })

