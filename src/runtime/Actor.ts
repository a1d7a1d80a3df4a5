/**
 * Actor definitions: a name, a Schema-typed protocol and a behaviour, written once
 * and run unchanged on every tier (Local fibers, worker threads, ...).
 *
 * A definition lives in a module that workers can import, so it records that
 * module's URL (`import.meta.url`). Workers find the definition again through
 * `Code`, which `make` registers it with under (module, name).
 *
 * ```ts
 * export const Counter = Actor.make("Counter", {
 *   module: import.meta.url,
 *   init: Schema.Struct({ start: Schema.Number }),
 *   protocol: {
 *     add: Actor.message({ payload: Schema.Number, success: Schema.Number })
 *   },
 *   behaviour: ({ start }) => Effect.sync(() => {
 *     let total = start
 *     return { add: (n) => Effect.sync(() => (total += n)) }
 *   })
 * })
 * ```
 *
 * A definition whose handlers run long kernels names their warm-up (`warmUp`): it runs once per thread before the
 * first actor of the definition starts there.
 */
import type { Effect, Scope, Stream } from "effect"
import { Predicate, Schema } from "effect"
import type { ActorError } from "./ActorError.ts"
import * as Code from "./Code.ts"

/** A schema whose values can be encoded and decoded without services. */
export type Codec = Schema.Codec<any, any, never, never>

/** One message of a protocol: its payload, its reply and its typed error. */
export interface Message<P extends Codec = Codec, S extends Codec = Codec, E extends Codec = Codec> {
  readonly payload: P
  readonly success: S
  readonly error: E
  /**
   * An interleaved message does not hold the mailbox while its handler is suspended: the actor goes on with
   * the next messages, and the reply is sent whenever the handler ends. For asks that wait for something the
   * actor's other messages bring about (e.g. "reply once step T is done"). Its synchronous part still runs
   * in turn; after it suspends, its handler must not assume the actor's state stays as it was.
   */
  readonly interleave: boolean
  /** Set for a message declared with `stream`: its reply is a stream of `success` elements. */
  readonly stream?: StreamOptions | undefined
  /** Set for a message declared `persisted`: work that runs once per key (see `Persisted`). */
  readonly persisted?: Persisted | undefined
}

/**
 * A message that names a piece of work which must run once: two messages to one actor, of one tag, with the
 * same `key` are the same piece of work. The first runs the handler; the others (a retry after a failure,
 * another sender) get its reply, without running the handler again, also while it still runs. A sender that
 * stops waiting (an interruption, a timeout) does not cancel the work: it runs to its end, and asking again
 * with the key gets its reply.
 *
 * Where the replies are kept decides how long "once" lasts. On the Cluster tier, in the cluster's Postgres
 * (Effect Cluster's persisted messages, keyed by `key`): across clients, retries and the death of the runner
 * that hosts the actor, whose messages are redelivered to the runner that takes its shards (the handler runs
 * again there if it had not replied: at-least-once execution, one reply per key). On the Local and Threads
 * tiers, which have no storage, in the actor's memory: the last `remember` keys, for the life of the actor.
 */
export interface Persisted {
  /** The work's identity, from the payload: a string (anything else fails the ask with `MalformedMessage`). */
  readonly key: (payload: any) => string
  /** How many replies an actor keeps in memory where no storage keeps them (Local, Threads); default 4096. */
  readonly remember: number
}

/** How a stream message's elements cross threads (see `stream`). */
export interface StreamOptions {
  /**
   * Elements the producer may send ahead of the consumer: the asker's buffer, in elements. The producer runs
   * only while it has credit; the asker returns credit as its consumer takes elements.
   */
  readonly buffer: number
}

/** A message whose reply is a stream (see `stream`). */
export interface StreamMessage<P extends Codec = Codec, A extends Codec = Codec, E extends Codec = Codec> extends Message<P, A, E> {
  readonly stream: StreamOptions
}

/**
 * Declare a message; `success` defaults to `Schema.Void`, `error` to `Schema.Never`. With `persisted`, the
 * message is work that runs once per key (see `Persisted`): `persisted: { key: (order) => order.id }`.
 */
export const message = <P extends Codec, S extends Codec = Schema.Void, E extends Codec = Schema.Never>(spec: {
  readonly payload: P
  readonly success?: S
  readonly error?: E
  readonly interleave?: boolean
  readonly persisted?: {
    readonly key: (payload: P["Type"]) => string
    readonly remember?: number
  }
}): Message<P, S, E> => {
  const persisted = spec.persisted
  if (persisted !== undefined) {
    if (typeof persisted.key !== "function") throw new TypeError("Actor.message: persisted.key must be a function of the payload")
    const remember = persisted.remember ?? 4096
    if (!Number.isInteger(remember) || remember < 1) {
      throw new RangeError(`Actor.message: persisted.remember must be a positive integer, got ${remember}`)
    }
  }
  return {
    payload: spec.payload,
    success: (spec.success ?? Schema.Void) as S,
    error: (spec.error ?? Schema.Never) as E,
    interleave: spec.interleave ?? false,
    ...(persisted === undefined ? {} : { persisted: { key: persisted.key, remember: persisted.remember ?? 4096 } })
  }
}

/**
 * Declare a message whose reply is a stream: the handler returns an Effect `Stream` of `element`s, and the asker
 * gets a `Stream` (`ref.stream(tag, payload)`) whose elements arrive as the producer makes them, with
 * backpressure across the thread boundary: the producer runs while it has credit, at most `buffer` elements
 * ahead of the consumer (default 64), so memory stays bounded whatever the producer's rate. A failure of the
 * producer's stream with its typed `error` fails the asker's stream with it; a consumer that stops early (an
 * interruption, `Stream.take`) interrupts the producer where it runs. Like any message, a stream holds the
 * actor's mailbox until it ends, unless it is `interleave`d.
 */
export const stream = <P extends Codec, A extends Codec, E extends Codec = Schema.Never>(spec: {
  readonly payload: P
  readonly element: A
  readonly error?: E
  readonly buffer?: number
  readonly interleave?: boolean
}): StreamMessage<P, A, E> => {
  const buffer = spec.buffer ?? 64
  if (!Number.isInteger(buffer) || buffer < 1) throw new RangeError(`Actor.stream: buffer must be a positive integer, got ${buffer}`)
  return {
    payload: spec.payload,
    success: spec.element,
    error: (spec.error ?? Schema.Never) as E,
    interleave: spec.interleave ?? false,
    stream: { buffer }
  }
}

export type Protocol = Record<string, Message>

/** The tags of a protocol's messages answered with one reply (`ask`, `tell`). */
export type AskTag<P extends Protocol> = { readonly [K in keyof P]: P[K] extends StreamMessage ? never : K }[keyof P] & string
/** The tags of a protocol's stream messages (`stream`). */
export type StreamTag<P extends Protocol> = { readonly [K in keyof P]: P[K] extends StreamMessage ? K : never }[keyof P] & string

export type PayloadOf<M extends Message> = M["payload"]["Type"]
export type SuccessOf<M extends Message> = M["success"]["Type"]
export type ErrorOf<M extends Message> = M["error"]["Type"]

/**
 * One handler per message, each returning an Effect (a `Stream` for a stream message); the actor's state lives
 * in their closure.
 */
export type Handlers<P extends Protocol> = {
  readonly [K in keyof P]: P[K] extends StreamMessage
    ? (payload: PayloadOf<P[K]>) => Stream.Stream<SuccessOf<P[K]>, ErrorOf<P[K]>, never>
    : (payload: PayloadOf<P[K]>) => Effect.Effect<SuccessOf<P[K]>, ErrorOf<P[K]>, never>
}

/** A serialisable address of a running actor; post it anywhere, then `connect` to it. */
export interface Address {
  readonly id: number
  readonly name: string
  readonly worker: number
}

/** The schema of an `Address`, for messages that carry one (an actor handed to another, which connects to it). */
export const AddressSchema: Schema.Codec<Address> = Schema.Struct({ id: Schema.Number, name: Schema.String, worker: Schema.Number })

/** A typed handle on a running actor, usable from the thread that obtained it. */
export interface Ref<P extends Protocol> {
  readonly address: Address
  /** Send and wait for the reply (or the message's typed error, or a runtime error). */
  readonly ask: <K extends AskTag<P>>(
    tag: K,
    payload: PayloadOf<P[K]>
  ) => Effect.Effect<SuccessOf<P[K]>, ErrorOf<P[K]> | ActorError>
  /**
   * Ask once per payload, with at most `inFlight` asks outstanding (default: the actor's mailbox), and the
   * replies in the payloads' order: what `Effect.forEach(payloads, (p) => ref.ask(tag, p), { concurrency })`
   * does — one message per payload, each checked with its Schemas — without a fiber per ask, which is most of
   * what a small ask costs the asking thread. The first failure fails the whole (the asks still out are
   * cancelled); interrupting it cancels them all.
   */
  readonly askMany: <K extends AskTag<P>>(
    tag: K,
    payloads: Iterable<PayloadOf<P[K]>>,
    options?: { readonly inFlight?: number | undefined }
  ) => Effect.Effect<Array<SuccessOf<P[K]>>, ErrorOf<P[K]> | ActorError>
  /** Send one-way; waits only for mailbox room (backpressure), never for the handler. */
  readonly tell: <K extends AskTag<P>>(tag: K, payload: PayloadOf<P[K]>) => Effect.Effect<void>
  /**
   * Send a stream message; its elements arrive as the actor produces them (see `Actor.stream`). The message is
   * sent when the stream is run, once per run; ending the stream early stops the producer.
   */
  readonly stream: <K extends StreamTag<P>>(
    tag: K,
    payload: PayloadOf<P[K]>
  ) => Stream.Stream<SuccessOf<P[K]>, ErrorOf<P[K]> | ActorError>
}

/** What a behaviour sees of the runtime around it. */
export interface Context {
  /** This actor's own address (hand it to others so they can reach it). */
  readonly self: Address
  /** Index of the worker hosting this actor (0 on the Local tier). */
  readonly worker: number
  /** A typed ref to another actor from here: worker-to-worker channels on Threads, direct on Local. */
  readonly connect: <P extends Protocol>(definition: Definition<string, Codec, P>, address: Address) => Ref<P>
}

export interface Definition<Name extends string, Init extends Codec, P extends Protocol> {
  readonly _tag: "ActorDefinition"
  readonly name: Name
  readonly module: string
  readonly init: Init
  readonly protocol: P
  /** Mailbox bound: senders wait once this many messages are outstanding (backpressure). */
  readonly mailbox: number
  /**
   * Copy payloads and replies (structured clone) also where sender and actor share a thread (the Local tier,
   * two actors on one worker), where they otherwise pass by reference: neither side then sees the other's later
   * mutations, on any tier. For actors that keep what they are sent (engines' namespaces).
   */
  readonly isolated: boolean
  /**
   * Short calls of the actor's hot code, run once per thread before the first actor of this definition starts
   * there (on a worker thread, and on the Local tier's thread). V8 compiles a function from what its first calls
   * see: a long first call runs on-stack-replaced code, measured here up to 2.3x slower than what short calls
   * lead to. A handler that runs long (a kernel over millions of elements) should name its warm-up here, so
   * that a program's first run is as fast as its second.
   */
  readonly warmUp: (() => void) | undefined
  readonly behaviour: (init: Init["Type"], context: Context) => Effect.Effect<Handlers<P>, unknown, Scope.Scope>
}

export type Any = Definition<string, Codec, Protocol>
export type InitOf<D> = D extends Definition<any, infer I, any> ? I["Type"] : never
export type ProtocolOf<D> = D extends Definition<any, any, infer P> ? P : never

/** Define an actor. `module` must be `import.meta.url` of the module that makes it, at module level. */
export const make = <const Name extends string, Init extends Codec, const P extends Protocol>(
  name: Name,
  spec: {
    readonly module: string
    readonly init: Init
    readonly protocol: P
    readonly mailbox?: number
    readonly isolated?: boolean
    readonly warmUp?: () => void
    readonly behaviour: (init: Init["Type"], context: Context) => Effect.Effect<Handlers<P>, unknown, Scope.Scope>
  }
): Definition<Name, Init, P> =>
  Code.register(spec.module, name, {
    _tag: "ActorDefinition",
    name,
    module: spec.module,
    init: spec.init,
    protocol: spec.protocol,
    mailbox: spec.mailbox ?? 1024,
    isolated: spec.isolated ?? false,
    warmUp: spec.warmUp,
    behaviour: spec.behaviour
  } satisfies Definition<Name, Init, P>)

export const isDefinition = (u: unknown): u is Any => Predicate.isTagged(u, "ActorDefinition")
