/**
 * A member's side of its group: MPI-style collectives, called from inside the member's behaviour (or from any
 * thread that holds a `Member`), each an Effect that succeeds once this member's part is done.
 *
 * ```ts
 * // in a behaviour, with `member` received in the actor's init or a message:
 * const comm = Comm.join(context, member, run)          // run: an epoch, increasing from one run to the next
 * const total = yield* comm.allreduce(Reducer.sum, localEnergy)
 * const first = yield* comm.scan(Reducer.sum, localCount)              // inclusive prefix over ranks 0..rank
 * const everyone = yield* comm.allgather(Schema.Number, localCount)    // indexed by rank
 * const dt = yield* comm.broadcast(Schema.Number, rank === 0 ? chosen : undefined)
 * yield* comm.barrier
 * ```
 *
 * Every member must make the same calls in the same order within a run. Results are combined over a fixed tree
 * of ranks (see `Tree`), so they are the same bits whatever the worker count and placement; `Reducer.serial`
 * gives them in one thread.
 */
import { Effect, Option, Schema } from "effect"
import { ActorError } from "../index.ts"
import type { Actor } from "../index.ts"
import { Address, Endpoint } from "./Endpoint.ts"
import type { Op } from "./Endpoint.ts"
import type { CollectiveError } from "./Errors.ts"
import type * as Reducer from "./Reducer.ts"

const Int = Schema.Number.check(Schema.isInt())

/** What a member needs to join its group: its rank, the group's size and its endpoint. Post it anywhere. */
export const Member = Schema.Struct({ rank: Int, size: Int, endpoint: Address })
export type Member = typeof Member.Type

/** What a collective can fail with: the group's errors, or the runtime's on the way to the member's endpoint. */
export type CommError = CollectiveError | ActorError.ActorError

export interface Comm {
  readonly rank: number
  readonly size: number
  /** Waits until every member has reached it. */
  readonly barrier: Effect.Effect<void, CommError>
  /** Every member gets `root`'s value (the others' are ignored: pass `undefined`). */
  readonly broadcast: <A>(schema: Schema.Codec<A, any, never, never>, value: A | undefined, root?: number) => Effect.Effect<A, CommError>
  /** The reduction of every member's value, at `root` only (`Option.none()` elsewhere). */
  readonly reduce: <A>(reducer: Reducer.Reducer<A>, value: A, root?: number) => Effect.Effect<Option.Option<A>, CommError>
  /** The reduction of every member's value, at every member. */
  readonly allreduce: <A>(reducer: Reducer.Reducer<A>, value: A) => Effect.Effect<A, CommError>
  /** Every member's value, indexed by rank, at every member. */
  readonly allgather: <A>(schema: Schema.Codec<A, any, never, never>, value: A) => Effect.Effect<Array<A>, CommError>
  /** The reduction of the values of ranks 0..rank (an inclusive prefix). */
  readonly scan: <A>(reducer: Reducer.Reducer<A>, value: A) => Effect.Effect<A, CommError>
}

/**
 * Join the group as `member`, through anything that can connect to actors (an actor's `context`, or the
 * `ActorSystem` service). `epoch` numbers runs: a new run starts the count of calls afresh, so a run that was
 * interrupted half-way does not confuse the next one (it must be larger than the last run's).
 */
export const join = (
  connector: { readonly connect: Actor.Context["connect"] },
  member: Member,
  epoch = 0
): Comm => {
  const endpoint = connector.connect(Endpoint, member.endpoint)
  const { rank, size } = member
  const checkRoot = (root: number) =>
    Number.isInteger(root) && root >= 0 && root < size
      ? undefined
      : Effect.die(new RangeError(`root must be a rank of the group (0..${size - 1}), got ${root}`))
  const encoded = (op: Op, schema: Schema.Codec<any, any, never, never>, value: unknown) =>
    Effect.try({
      try: () => (value === undefined ? null : Schema.encodeUnknownSync(schema)(value)),
      catch: (error) => new ActorError.MalformedMessage({ actor: "CollectiveEndpoint", message: op, detail: ActorError.describe(error) })
    })
  const send = (op: Op, root: number, reducer: Reducer.Any | undefined, value: unknown) =>
    endpoint.ask("call", {
      epoch,
      op,
      root,
      reducer: reducer === undefined ? null : { module: reducer.module, name: reducer.name },
      value
    })
  const decoded = <A>(op: Op, schema: Schema.Codec<A, any, never, never>, value: unknown) =>
    Effect.try({
      try: () => Schema.decodeUnknownSync(schema)(value),
      catch: (error) => new ActorError.MalformedMessage({ actor: "CollectiveEndpoint", message: op, detail: `result: ${ActorError.describe(error)}` })
    })
  const combined = <A>(op: "allreduce" | "scan", reducer: Reducer.Reducer<A>, value: A): Effect.Effect<A, CommError> =>
    encoded(op, reducer.schema, value).pipe(
      Effect.flatMap((v) => send(op, 0, reducer, v)),
      Effect.flatMap((out) => decoded(op, reducer.schema, out))
    )
  return {
    rank,
    size,
    barrier: Effect.asVoid(send("barrier", 0, undefined, null)),
    broadcast: (schema, value, root = 0) =>
      checkRoot(root) ?? encoded("broadcast", schema, rank === root ? value : undefined).pipe(
        Effect.flatMap((v) => send("broadcast", root, undefined, v)),
        Effect.flatMap((out) => decoded("broadcast", schema, out))
      ),
    reduce: (reducer, value, root = 0) =>
      checkRoot(root) ?? encoded("reduce", reducer.schema, value).pipe(
        Effect.flatMap((v) => send("reduce", root, reducer, v)),
        Effect.flatMap((out) =>
          out === null ? Effect.succeed(Option.none()) : Effect.map(decoded("reduce", reducer.schema, (out as { value: unknown }).value), Option.some)
        )
      ),
    allreduce: (reducer, value) => combined("allreduce", reducer, value),
    allgather: (schema, value) =>
      encoded("allgather", schema, value).pipe(
        Effect.flatMap((v) => send("allgather", 0, undefined, v)),
        Effect.flatMap((out) => decoded("allgather", Schema.Array(schema), out)),
        Effect.map((values) => [...values])
      ),
    scan: (reducer, value) => combined("scan", reducer, value)
  }
}
