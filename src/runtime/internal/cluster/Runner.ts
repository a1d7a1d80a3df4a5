/**
 * A runner: one process of the cluster that holds a slot's shards and hosts actors on its own worker threads.
 *
 * Its main thread computes nothing: it renews its shard locks (which must happen within a second, or a healthy
 * runner drops its shards), answers the `Actorflow/Actor` entity's messages by passing them, still encoded, to
 * the thread that hosts the actor (a Threads tier inside the runner, whose threads are numbered across the
 * cluster: slot r's threads are workers r*T .. r*T+T-1), and passes its threads' messages for actors elsewhere
 * on through Effect Cluster (`forwarder`). An entity lives as long as its actor: closing the entity (a `Stop`,
 * its shard moving away, the runner closing) stops the actor; it is never passivated for being idle. Clients
 * send the messages of pinned actors in batches, through one `MuxServer` entity each.
 *
 * A persisted message (`Persist`, see `Protocol.ts`) may reach a runner that does not host its actor (a
 * redelivery after the actor's runner died): the runner starts the actor from the `Spawn` the message carries,
 * then passes the message on. One from a sender that is not the spawner carries none: it waits, as a tell does
 * (`Hosted`, at most `Hosted.HOLD_MS`), for the spawner to start the actor here (or is answered `ActorStopped`
 * at once when the spawner stopped it). Whatever it answers is saved as the key's reply.
 */
import { Duration, Effect, Exit, Layer, Predicate, Schema, Semaphore, Stream } from "effect"
import type { Fiber, Scope } from "effect"
import * as Entity from "effect/cluster/Entity"
import { RunnerStorage } from "effect/cluster/RunnerStorage"
import { ActorStopped, SpawnFailed, WorkerDied, describe, isSpawnFailed } from "../../ActorError.ts"
import type { ActorError } from "../../ActorError.ts"
import * as Codec from "../Codec.ts"
import * as Layout from "../Layout.ts"
import type { Forwarder, PortOrigin } from "../Host.ts"
import * as Tier from "../threads/Tier.ts"
import { Kind } from "../Wire.ts"
import * as ConnectionFile from "./ConnectionFile.ts"
import * as Health from "./Health.ts"
import { Hosted } from "./Hosted.ts"
import * as Meta from "./Meta.ts"
import * as MuxServer from "./MuxServer.ts"
import * as Postgres from "./Postgres.ts"
import * as Protocol from "./Protocol.ts"
import * as StreamRelay from "./StreamRelay.ts"
import * as Transport from "./Transport.ts"
import * as Version from "./Version.ts"

/** What a runner process is started with. @inline */
export interface Options {
  readonly file: string
  readonly slot: number
  /** Where to listen (default: the slot's address in the connection file). */
  readonly listen?: ConnectionFile.Endpoint | undefined
  /** The address others reach this runner at (default: `listen`). */
  readonly advertise?: ConnectionFile.Endpoint | undefined
  /** Allow listening on a non-loopback address without TLS. */
  readonly insecure?: boolean | undefined
}

/** The runner cannot join: the reason is one line for the user. */
export class RunnerRefused extends Schema.TaggedError<RunnerRefused>()("RunnerRefused", { message: Schema.String }) {}

export const isRunnerRefused = (u: unknown): u is RunnerRefused => Predicate.isTagged(u, "RunnerRefused")

/** Whether `host` is only reachable from this machine. */
export const isLoopback = (host: string) => host === "localhost" || host === "::1" || host.startsWith("127.")

type Client = (entityId: string) => {
  readonly Ask: (payload: { tag: string | number; payload: Uint8Array }) => Effect.Effect<Protocol.Reply, unknown>
  readonly Tell: (payload: { tag: string | number; payload: Uint8Array }) => Effect.Effect<void, unknown>
  readonly Stream: (payload: { tag: string | number; payload: Uint8Array; key: string }) => Stream.Stream<Protocol.StreamPart, unknown>
  readonly Credit: (payload: { key: string; count: number }, options: { readonly discard: true }) => Effect.Effect<void, unknown>
  readonly Persist: (payload: Protocol.PersistPayload) => Effect.Effect<Protocol.Reply, unknown>
}

/** The error a message gets when it cannot reach its actor's runner. */
export const unreachable = (id: number, threads: number, reason: string): WorkerDied => {
  const slot = Protocol.slotOfId(id)
  return new WorkerDied({ worker: slot === undefined ? -1 : slot * threads, reason })
}

/** A reply for a runtime error, as a hosting thread would have sent it. */
export const runtimeReply = (error: ActorError): Protocol.Reply => ({
  kind: Kind.Err,
  source: 1,
  value: Protocol.pack(Codec.runtimeError.encode(error))
})

/**
 * Passes a runner thread's messages for actors elsewhere on through Effect Cluster, and their replies back; a
 * message to a pinned actor whose runner is down fails with `WorkerDied` instead of waiting for it. A stream
 * message goes as a stream request (see `StreamRelay`), whose elements are passed back as they come, and the
 * asking thread's credit on to the producer's runner.
 */
const forwarder = (client: () => Client, health: () => Health.Health | undefined, threads: number): Forwarder => {
  const inflight = new Map<PortOrigin, Map<number, { interruptUnsafe: () => void }>>()
  /** The streams passed on, by asking thread and request: how to give their producer credit. */
  const credits = new Map<PortOrigin, Map<number, (count: number) => void>>()
  const streamKey = StreamRelay.keys()
  return {
    credit: (origin, reqId, count) => credits.get(origin)?.get(reqId)?.(count),
    deliver: (origin, reqId, actorId, tag, encoded, stream, key) => {
      const entity = client()(String(actorId))
      const payload = { tag, payload: Protocol.pack(encoded) }
      const slot = Protocol.slotOfId(actorId)
      const bound = <A>(effect: Effect.Effect<A, unknown>) => {
        const h = health()
        return h === undefined ? effect : h.whileUp(slot, effect, () => unreachable(actorId, threads, "its runner is down"))
      }
      if (reqId === 0) {
        Effect.runFork(Effect.ignore(bound(entity.Tell(payload)))).addObserver(() => origin.acknowledge(actorId))
        return
      }
      let fiber: Fiber.Fiber<Protocol.Reply | undefined, unknown>
      if (stream) {
        const { give, key } = streamKey(entity)
        let byStream = credits.get(origin)
        if (byStream === undefined) credits.set(origin, byStream = new Map())
        const streams = byStream
        streams.set(reqId, give)
        // Elements go back as they come; the end part's reply settles the ask below.
        let end: Protocol.Reply | undefined
        const parts = Stream.runForEach(entity.Stream({ ...payload, key }), (part) =>
          Effect.sync(() => {
            if (part.end !== null) end = part.end
            else origin.relayItems(reqId, actorId, Protocol.unpack(part.items!) as ReadonlyArray<unknown>)
          }))
        fiber = Effect.runFork(Effect.map(bound(parts), () => end))
        fiber.addObserver(() => streams.delete(reqId))
      } else if (key !== undefined) {
        // A persisted message: saved and deduplicated by Effect Cluster, as the client's are (see `Protocol`).
        fiber = Effect.runFork(bound(entity.Persist(Protocol.persistPayload({ key, tag, payload: payload.payload, spawn: null }))))
      } else {
        fiber = Effect.runFork(bound(entity.Ask(payload)))
      }
      let byReq = inflight.get(origin)
      if (byReq === undefined) inflight.set(origin, byReq = new Map())
      byReq.set(reqId, fiber)
      fiber.addObserver((exit) => {
        // Not there any more: the asker cancelled it, and wants no reply.
        if (!byReq.delete(reqId)) return
        if (Exit.isSuccess(exit)) {
          if (exit.value === undefined) return origin.runtimeError(reqId, unreachable(actorId, threads, "the stream ended without its end"))
          return origin.reply(reqId, exit.value.kind, exit.value.source, Protocol.unpack(exit.value.value))
        }
        const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
        if (failure?.error instanceof WorkerDied) return origin.runtimeError(reqId, failure.error)
        const reason = failure === undefined
          ? Protocol.whyEnded(exit.cause)
          : Protocol.isNotStarted(failure.error)
          ? "the actor is not started on its runner (its spawner starts it again on its next message)"
          : describe(failure.error)
        origin.runtimeError(reqId, unreachable(actorId, threads, reason))
      })
    },
    cancel: (origin, reqId) => {
      const byReq = inflight.get(origin)
      const fiber = byReq?.get(reqId)
      byReq?.delete(reqId)
      fiber?.interruptUnsafe()
    }
  }
}

/** The entity behind every actor this runner hosts (see the module doc). */
const entityLayer = (tier: Tier.Tier, slot: number, threads: number, hosted: Hosted) => {
  let nextThread = 0
  const start = (id: number, spawn: Protocol.SpawnPayload): Effect.Effect<number, SpawnFailed> =>
    Effect.gen(function*() {
      const fail = (detail: string) => new SpawnFailed({ actor: spawn.name, detail })
      const module = Layout.localModule(spawn.module)
      const differs = Version.moduleDiffers(module, spawn.digest, `runner ${slot}`)
      if (differs !== undefined) return yield* fail(differs)
      const code = yield* Effect.mapError(tier.service.ship({ module, name: spawn.name }), (error) => fail(error.detail))
      const thread = spawn.thread >= 0 ? spawn.thread % threads : nextThread++ % threads
      yield* Effect.mapError(
        tier.host(thread, id, { code, init: Protocol.unpack(spawn.init), ...(spawn.worker < 0 ? { worker: spawn.worker } : {}) }),
        (error) => (isSpawnFailed(error) ? error : fail(describe(error)))
      )
      return thread
    })

  return Protocol.ActorEntity.toLayer(
    Effect.gen(function*() {
      const address = yield* Entity.CurrentAddress
      const id = Number(address.entityId)
      const starting = yield* Semaphore.make(1)
      let thread: number | undefined
      /** Whether its spawner stopped it here (a persisted message without a `Spawn` then has nothing to wait for). */
      let stopped = false
      /** Its streams being relayed (see `StreamRelay`). */
      const credits: StreamRelay.Credits = new Map()
      const stop = Effect.sync(() => {
        if (thread !== undefined) tier.unhost(thread, id)
        thread = undefined
        hosted.delete(id)
      })
      yield* Effect.addFinalizer(() => stop)
      const spawn = (payload: Protocol.SpawnPayload) =>
        starting.withPermits(1)(Effect.suspend(() =>
          thread !== undefined ? Effect.void : Effect.map(start(id, payload), (t) => {
            thread = t
            stopped = false
            hosted.set(id, t)
          })
        ))
      /** Pass a message on to the actor's thread; its reply, or the runtime error that ended it there. */
      const forward = (thread: number, payload: { readonly tag: string | number; readonly payload: Uint8Array }) =>
        tier.router.sender.forward(thread, id, payload.tag, Protocol.unpack(payload.payload)).pipe(
          Effect.map((reply): Protocol.Reply => ({ kind: reply.kind, source: reply.source, value: Protocol.pack(reply.value) })),
          Effect.catch((error) => Effect.succeed(runtimeReply(new WorkerDied({ worker: slot * threads + thread, reason: error.reason }))))
        )
      return Protocol.ActorEntity.of({
        Spawn: ({ payload }) => spawn(payload),
        Ask: ({ payload }) =>
          Effect.suspend(() => thread === undefined ? Effect.fail(new Protocol.NotStarted({ id })) : forward(thread, payload)),
        Stream: ({ payload }) =>
          Stream.suspend(() => {
            if (thread === undefined) return Stream.fail(new Protocol.NotStarted({ id }))
            const at = thread
            return StreamRelay.relay({
              sender: tier.router.sender,
              thread: at,
              actorId: id,
              tag: payload.tag,
              encoded: Protocol.unpack(payload.payload),
              key: payload.key,
              credits,
              died: (reason) => runtimeReply(new WorkerDied({ worker: slot * threads + at, reason }))
            })
          }),
        Persist: ({ payload }) =>
          Effect.gen(function*() {
            if (thread === undefined && payload.spawn !== null) {
              const spawned = yield* Effect.exit(spawn(payload.spawn))
              if (Exit.isFailure(spawned)) {
                const failure = spawned.cause.reasons.find((reason) => reason._tag === "Fail")
                return runtimeReply(failure !== undefined ? failure.error as unknown as ActorError : unreachable(id, threads, describe(spawned.cause)))
              }
            }
            if (thread === undefined && stopped) return runtimeReply(new ActorStopped({ actor: `#${id}` }))
            // Without a spawn to start it from, it waits for the spawner to start the actor here (see `Hosted`).
            const at = thread !== undefined
              ? thread
              : yield* Effect.callback<number | undefined>((resume) => hosted.whenHosted(id, (t) => resume(Effect.succeed(t))))
            return at === undefined
              ? runtimeReply(unreachable(id, threads, "the actor is not started on its runner, and this persisted message came from a process that cannot start it"))
              : yield* forward(at, payload)
          }),
        Tell: ({ payload }) => {
          const deliver = (thread: number | undefined) =>
            thread !== undefined && tier.router.sender.forwardTell(thread, id, payload.tag, Protocol.unpack(payload.payload))
              ? Effect.void
              : Effect.fail(new Protocol.NotStarted({ id }))
          // A pinned actor's spawner starts it here again as soon as this runner is back: its tells wait for that
          // (see `Hosted`). One placed by shard is started again only when its spawner hears `NotStarted`.
          if (thread !== undefined || Protocol.slotOfId(id) === undefined) return Effect.suspend(() => deliver(thread))
          return Effect.callback<void, Protocol.NotStarted>((resume) => hosted.whenHosted(id, (t) => resume(deliver(t))))
        },
        Credit: ({ payload }) =>
          Effect.sync(() => {
            credits.get(payload.key)?.(payload.count)
          }),
        Stop: () =>
          Effect.andThen(stop, Effect.sync(() => {
            stopped = true
          }))
      })
    }),
    // An actor lives until it is stopped: its messages may all come through the batching entity, which this
    // entity does not see, so it must not be passivated for being idle.
    { concurrency: "unbounded", mailboxCapacity: "unbounded", maxIdleTime: Duration.infinity }
  )
}

/**
 * Join the cluster of `options.file` as slot `options.slot` and serve until the scope closes. Returns the
 * address it listens at once its entity is registered.
 */
export const run = (options: Options): Effect.Effect<ConnectionFile.Endpoint, RunnerRefused | ConnectionFile.ConnectionFileInvalid, Scope.Scope> =>
  Effect.gen(function*() {
    const file = yield* ConnectionFile.read(options.file)
    const refuse = (message: string) => Effect.fail(new RunnerRefused({ message }))
    if (file.version !== Version.codeVersion()) {
      return yield* refuse(
        `this runner's code (version ${Version.codeVersion()}) differs from the cluster's (${file.version}): run the same checkout everywhere`
      )
    }
    const { runners, threads } = file.layout
    if (!Number.isInteger(options.slot) || options.slot < 0 || options.slot >= runners) {
      return yield* refuse(`slot ${options.slot} is not one of the cluster's ${runners} runner slots (0..${runners - 1})`)
    }
    const listen = options.listen ?? file.runners[options.slot]!
    const advertise = options.advertise ?? listen
    if (file.tls === undefined && !isLoopback(listen.host) && options.insecure !== true) {
      return yield* refuse(`listening on ${listen.host} without TLS would let anyone on the network in: start the cluster with --tls, or pass --insecure`)
    }
    const role: Transport.Role = { slot: options.slot, listen, advertise }
    // Checked before anything starts, so that a refused runner never registers.
    yield* Effect.mapError(Postgres.check(file.postgres.url), (error) => new RunnerRefused({ message: error.message }))
    yield* Meta.check(file).pipe(
      Effect.provide(Transport.postgres(file.postgres.url)),
      Effect.mapError((error) => new RunnerRefused({ message: Meta.isLayoutMismatch(error) ? error.message : describe(error) }))
    )

    let client: Client | undefined
    let health: Health.Health | undefined
    const tier = yield* Tier.make(
      { workers: threads },
      { cluster: { first: options.slot * threads, count: threads }, forward: forwarder(() => client!, () => health, threads) }
    ).pipe(Effect.mapError((error) => new RunnerRefused({ message: `runner ${options.slot} cannot start its threads: ${describe(error)}` })))
    const context = yield* Layer.build(Transport.sharding(file, role)).pipe(
      Effect.mapError((error) => new RunnerRefused({ message: `runner ${options.slot} cannot join: ${describe(error)}` }))
    )
    client = (yield* Effect.provide(Protocol.ActorEntity.client, context)) as unknown as Client
    health = yield* Effect.provide(Effect.gen(function*() {
      return yield* Health.make(yield* RunnerStorage, runners)
    }), context)
    /** The actors hosted here, and their threads (for the batching entity). */
    const hosted = new Hosted()
    yield* Effect.addFinalizer(() => Effect.sync(() => hosted.clear()))
    yield* Layer.build(
      Layer.mergeAll(entityLayer(tier, options.slot, threads, hosted), MuxServer.layer(tier, options.slot, threads, hosted)).pipe(
        Layer.provide(Layer.succeedContext(context))
      )
    )
    return advertise
  })
