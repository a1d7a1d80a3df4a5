/**
 * What crosses processes on the Cluster tier: one Effect Cluster entity type, `Actorflow/Actor`, whose entities
 * are Actorflow actors, and the numbering that says where each lives.
 *
 * One generic entity serves every actor definition, so a runner needs to know no definition in advance: its main
 * thread only passes messages on to the thread that hosts the actor. The protocol's own Schemas are applied at
 * the two ends exactly as on the Threads tier (the sender encodes, the hosting thread decodes and checks), and
 * what they produce travels as V8's structured-clone bytes (`pack`), so a typed array arrives as a typed array,
 * as it would between threads.
 *
 * Where an actor lives is in its id: `id = placement * 2^45 + serial`, with placement 0 for an actor placed by
 * shard (shard group "default", moved to a survivor when its runner dies) and `r + 1` for one pinned to runner
 * slot r (shard group `runner-r`, which only that slot's runner holds). Any process can so route to an address
 * it was sent, without asking anyone.
 *
 * Init parameters live with the spawner. A runner that receives a message for an actor it does not host answers
 * `NotStarted`; the process that spawned the actor keeps its `Spawn` and sends it again, then the message
 * (after a failover or a runner restart). Anyone else (another actor that was sent the
 * address) gets a `WorkerDied` and may retry once the spawner has restarted it. So an actor restarted this way
 * starts again from its init parameters, as on a restarted worker thread.
 *
 * A persisted message (`Actor.Persisted`) is one Effect Cluster persisted request, `Persist`, whose primary key
 * is the message's key: Effect Cluster saves it in Postgres before delivering it, answers a second request with
 * the same key (and actor, and so entity) with the first one's saved reply, or waits for it while it runs, and
 * redelivers it from storage to whichever runner holds the actor's shard when the one handling it died. Its
 * reply is saved for good, so it is never `NotStarted`: the request carries its spawner's `Spawn`, and a runner
 * that does not host the actor starts it first. It is uninterruptible from the client's side: an asker that
 * gives up leaves the work to run, and asking again with the key gets its reply.
 */
import { Cause, Predicate, Schema } from "effect"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as V8 from "node:v8"
import { SpawnFailed, describe } from "../../ActorError.ts"
import { CodeUnavailable } from "../../Code.ts"

/** The entity type every actor is an entity of. */
export const TYPE = "Actorflow/Actor"

const SERIAL = 2 ** 45

/** The shard group of actors placed by shard. */
export const AUTO_GROUP = "default"

/** The shard group only runner slot `slot` holds. */
export const groupOf = (slot: number): string => `runner-${slot}`

/** Every shard group of a cluster of `runners` slots (each process must agree on it). */
export const groups = (runners: number): Array<string> => [AUTO_GROUP, ...Array.from({ length: runners }, (_, r) => groupOf(r))]

/** The runner slot an actor is pinned to, or undefined for an actor placed by shard. */
export const slotOfId = (id: number): number | undefined => {
  const placement = Math.floor(id / SERIAL)
  return placement === 0 ? undefined : placement - 1
}

/** Makes ids for one process: a random start, so that two clients of one cluster do not collide. */
export const ids = () => {
  let serial = Math.floor(Math.random() * (SERIAL / 2))
  return (slot: number | undefined): number => (slot === undefined ? 0 : slot + 1) * SERIAL + (serial++ % SERIAL)
}

/**
 * A value as structured-clone bytes (what a MessagePort would carry between threads). Shared memory is the one
 * thing threads can share and processes cannot: it is refused with a message that says so.
 */
export const pack = (value: unknown): Uint8Array => {
  try {
    return V8.serialize(value)
  } catch (error) {
    if (String(error).includes("SharedArrayBuffer")) {
      throw new TypeError("shared memory (a SharedArrayBuffer) cannot cross processes: on the Cluster tier, send the data in messages")
    }
    throw error
  }
}
export const unpack = (bytes: Uint8Array): unknown => V8.deserialize(bytes)

/** The runner that got the message does not host the actor (see the module doc). */
export class NotStarted extends Schema.TaggedError<NotStarted>()("NotStarted", {
  id: Schema.Number
}) {}

export const isNotStarted = (u: unknown): u is NotStarted => Predicate.isTagged(u, "NotStarted")

/** A reply as it came off the hosting thread: `kind` and `source` as in `Wire.Kind.Ok` / `Kind.Err`. */
export const Reply = Schema.Struct({ kind: Schema.Number, source: Schema.Number, value: Schema.Uint8Array })
export type Reply = typeof Reply.Type

export const SpawnPayload = Schema.Struct({
  /** The definition's module URL and name (as in `Code.Locator`). */
  module: Schema.String,
  name: Schema.String,
  /** A digest of the module's source as the spawner has it: a runner with another version refuses. */
  digest: Schema.String,
  /** The encoded init parameters, packed. */
  init: Schema.Uint8Array,
  /** The runner thread (0-based) for a pinned actor; -1 lets the runner choose. */
  thread: Schema.Number,
  /** The worker the actor's address names (-1 for an actor placed by shard). */
  worker: Schema.Number
})
export type SpawnPayload = typeof SpawnPayload.Type

/**
 * Why a request ended when its runner interrupted it rather than answer: Effect Cluster answers a request whose
 * entity is ended on the runner (its shards moved away, the runner is closing) with an interrupt, which must
 * reach the asker as this runtime error, never as an interrupt of its own fiber nor as silence.
 */
export const RUNNER_INTERRUPTED = "its runner ended the request (its shards moved, or it is closing)"

/** Why a request to a runner ended without a typed failure: `RUNNER_INTERRUPTED`, or the defect, in one line. */
export const whyEnded = (cause: Cause.Cause<unknown>): string =>
  Cause.hasInterruptsOnly(cause) ? RUNNER_INTERRUPTED : describe(Cause.squash(cause))

/** `tag` is the message's tag, or its index in the protocol as threads send it (see `Wire`). */
const Message = Schema.Struct({ tag: Schema.Union([Schema.String, Schema.Number]), payload: Schema.Uint8Array })

export const Spawn = Rpc.make("Spawn", { payload: SpawnPayload, error: SpawnFailed })
export const Ask = Rpc.make("Ask", { payload: Message, success: Reply, error: NotStarted })
export const Tell = Rpc.make("Tell", { payload: Message, error: NotStarted })
export const Stop = Rpc.make("Stop", {})

/**
 * A stream message (`Actor.stream`) to an actor placed by shard is one Effect Cluster stream request, `Stream`,
 * answered in parts: the elements that came off the hosting thread since the last part (encoded, packed), and
 * last its end, the `Reply` a thread sends at the end of a stream (`Kind.Ok`, or its typed failure). Its
 * producer runs on credit, as on threads: the client returns what its consumer took with `Credit`, naming
 * the stream by the `key` it chose for it (see `StreamRelay`).
 */
export const StreamPart = Schema.Struct({ items: Schema.NullOr(Schema.Uint8Array), end: Schema.NullOr(Reply) })
export type StreamPart = typeof StreamPart.Type

export const StreamMessage = Rpc.make("Stream", {
  payload: { ...Message.fields, key: Schema.String },
  success: StreamPart,
  error: NotStarted,
  stream: true
})

export const Credit = Rpc.make("Credit", { payload: { key: Schema.String, count: Schema.Number } })

export const Persist = Rpc.make("Persist", {
  payload: {
    /** The message's key (`Actor.Persisted.key`): the request's primary key. */
    key: Schema.String,
    /** The message's tag, or its index in the protocol (from a thread, see `Wire.Kind.Keyed`). */
    tag: Schema.Union([Schema.String, Schema.Number]),
    payload: Schema.Uint8Array,
    /** How to start the actor where it does not run: its spawner's `Spawn` (null from any other sender). */
    spawn: Schema.NullOr(SpawnPayload)
  },
  success: Reply,
  primaryKey: ({ key }) => key
}).annotate(ClusterSchema.Persisted, true).annotate(ClusterSchema.Uninterruptible, "client")

export type PersistPayload = typeof Persist.payloadSchema.Type

/**
 * A `Persist` request's payload, as the entity client takes it: an instance of the payload class `Rpc.make`
 * made for the primary key (a plain object would carry no key, and not be deduplicated).
 */
export const persistPayload = (fields: PersistPayload): PersistPayload =>
  new (Persist.payloadSchema as unknown as new(fields: PersistPayload) => PersistPayload)(fields)

/**
 * Batches of messages between one client and one runner (see `Mux.ts` and `MuxServer.ts`), one request type
 * for both ways (`Ship`, below, shares the entity type): `Frames` carries the client's frames (asks, tells,
 * cancels, as in `Wire.ts`; packed batches), numbered `seq` within the client's `session` so that the runner handles them in order even with two requests
 * in flight, and is answered with the replies the runner holds (`Exchanged`). Its entities are pinned: one per
 * client and runner slot.
 */
export const Exchanged = Schema.Struct({
  /** The replies, packed frames. */
  replies: Schema.Uint8Array,
  /** How many of this client's asks the runner was still running when it answered. */
  running: Schema.Number
})
export type Exchanged = typeof Exchanged.Type

export const Frames = Rpc.make("Frames", {
  payload: { session: Schema.Number, seq: Schema.Number, batches: Schema.Array(Schema.Uint8Array) },
  success: Exchanged
})

/**
 * Makes a module's bundle in the runner's own cache (a runner on another machine has no access to the client's):
 * answered with the bundle's name there (`Code.Shipped.via`). Sent by `ship` before any actor uses the code.
 */
export const Ship = Rpc.make("Ship", {
  payload: { module: Schema.String, name: Schema.String, digest: Schema.String },
  success: Schema.String,
  error: CodeUnavailable
})

export type ShipPayload = typeof Ship.payloadSchema.Type

export const MUX_TYPE = "Actorflow/Runner"

/** The id of the batching entity between the client `nonce` and runner slot `slot`. */
export const muxId = (slot: number, nonce: number): string => String((slot + 1) * SERIAL + (nonce % SERIAL))

/** The id of the entity that answers `Ship` on runner slot `slot` (one for every client: it keeps no state). */
export const shipId = (slot: number): string => muxId(slot, SERIAL - 1)

/**
 * Pinned by client and runner slot. No client span per request: a `Frames` request is plumbing, started from no
 * fiber of the user's (Actorflow's own tracing rides in the frames), and the span's ids would only add about 70
 * bytes to each request's 315 (measured at one ask in flight).
 */
export const MuxEntity = Entity.make(MUX_TYPE, [Frames, Ship]).annotate(
  ClusterSchema.ShardGroup,
  (entityId) => groupOf(slotOfId(Number(entityId)) ?? 0)
).annotate(ClusterSchema.ClientTracingEnabled, false)

export const ActorEntity = Entity.make(TYPE, [Spawn, Ask, Tell, Stop, Persist, StreamMessage, Credit]).annotate(
  ClusterSchema.ShardGroup,
  (entityId) => {
    const slot = slotOfId(Number(entityId))
    return slot === undefined ? AUTO_GROUP : groupOf(slot)
  }
)
