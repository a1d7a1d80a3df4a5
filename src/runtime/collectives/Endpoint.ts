/**
 * The endpoint: one small actor per member of a group, placed on the member's worker, that does the member's part
 * of every collective — it waits for its children's partials, combines them in rank order, passes its own partial
 * up to its parent, and passes results (or, for a scan, prefixes) down to its children (see `Tree`). Members talk
 * only to their own endpoint (an interleaved `call`); endpoints talk to each other with one-way `up` / `down`
 * tells, directly worker to worker.
 *
 * Calls are numbered per endpoint within an *epoch* (a run): the n-th collective of every member of one epoch is
 * the same collective, so tells carry (epoch, n); those of a later epoch that arrive early are kept, those of an
 * earlier one dropped. Members must make the same calls in the same order (MPI's rule); a disagreement is found
 * when partials meet (`CollectiveMismatch`).
 *
 * Why nothing hangs: an endpoint that has waited `PROBE_MS` for a peer pings it; a peer whose worker died (the
 * ask fails) or that restarted (a new incarnation, drawn at start) breaks the group, and every endpoint is told,
 * so each pending and later call fails with `CollectiveBroken`. A restarted endpoint is not wired and refuses
 * calls. Values cross between endpoints in their encoded form; an endpoint decodes them to combine them.
 */
import { Deferred, Effect, Option, Schema } from "effect"
import { Actor, ActorError, Code } from "../index.ts"
import { CollectiveBroken, CollectiveError, CollectiveMismatch, ReducerUnavailable } from "./Errors.ts"
import * as Reducer from "./Reducer.ts"
import * as Tree from "./Tree.ts"

const Int = Schema.Number.check(Schema.isInt())

/** An actor's address, as it travels in messages. */
export const Address = Actor.AddressSchema

export const Op = Schema.Literals(["barrier", "broadcast", "reduce", "allreduce", "allgather", "scan"])
export type Op = typeof Op.Type

/** A reducer by reference. */
export const Locator = Schema.Struct({ module: Schema.String, name: Schema.String })

export const Peer = Schema.Struct({ address: Address, incarnation: Schema.Number })

/** How long an endpoint waits for a peer before it checks that the peer is still there. */
export const PROBE_MS = 1_000

const protocol = {
  /** This endpoint's incarnation (a random number drawn when it started). */
  hello: Actor.message({ payload: Schema.Void, success: Schema.Number }),
  /** Every rank's endpoint and incarnation, indexed by rank. */
  wire: Actor.message({ payload: Schema.Struct({ peers: Schema.Array(Peer) }) }),
  /**
   * The member's part of one collective: `value` is its encoded contribution (ignored where the op takes none).
   * Replies with the encoded result (`reduce`: `null` off the root, else `{ value }`).
   */
  call: Actor.message({
    payload: Schema.Struct({ epoch: Int, op: Op, root: Int, reducer: Schema.NullOr(Locator), value: Schema.Unknown }),
    success: Schema.Unknown,
    error: CollectiveError,
    interleave: true
  }),
  /** A child's partial for collective `seq` of `epoch`; `key` names the collective, to catch mismatches. */
  up: Actor.message({ payload: Schema.Struct({ epoch: Int, seq: Int, from: Int, key: Schema.String, value: Schema.Unknown }) }),
  /** A result (or a scan's prefix) for collective `seq` of `epoch`. */
  down: Actor.message({ payload: Schema.Struct({ epoch: Int, seq: Int, value: Schema.Unknown }) }),
  /** The group is broken (see the module doc). */
  broken: Actor.message({ payload: Schema.Struct({ reason: Schema.String }) }),
  ping: Actor.message({ payload: Schema.Void, success: Schema.Number })
}

type Protocol = typeof protocol
type Ref = Actor.Ref<Protocol>

interface State {
  readonly ups: Map<number, { readonly key: string; readonly value: unknown }>
  down: { readonly value: unknown } | undefined
  wake: Deferred.Deferred<void> | undefined
}

type Tell = { readonly kind: "up"; readonly seq: number; readonly from: number; readonly key: string; readonly value: unknown } | {
  readonly kind: "down"
  readonly seq: number
  readonly value: unknown
}

const codecs = new WeakMap<Reducer.Any, { readonly decode: (u: unknown) => unknown; readonly encode: (a: unknown) => unknown }>()
const codecOf = (reducer: Reducer.Any) => {
  let codec = codecs.get(reducer)
  if (codec === undefined) {
    codec = { decode: Schema.decodeUnknownSync(reducer.schema), encode: Schema.encodeUnknownSync(reducer.schema) }
    codecs.set(reducer, codec)
  }
  return codec
}

export const Endpoint: Actor.Definition<"CollectiveEndpoint", any, Protocol> = Actor.make("CollectiveEndpoint", {
  module: import.meta.url,
  init: Schema.Struct({ rank: Int, size: Int, reducers: Schema.Array(Code.Shipped) }),
  // Every other rank may send one up and one down per collective, a few collectives ahead.
  mailbox: 4096,
  protocol,
  behaviour: ({ rank, reducers, size }, context) =>
    Effect.gen(function*() {
      const incarnation = Math.floor(Math.random() * 2 ** 52)
      const table = new Map<string, Reducer.Any>()
      for (const shipped of reducers) {
        table.set(`${shipped.module}#${shipped.name}`, yield* Code.resolve(shipped, Reducer.isReducer, "reducer"))
      }
      const kids = Tree.children(rank, size)
      let peers: ReadonlyArray<{ readonly ref: Ref; readonly incarnation: number }> | undefined
      let broken: CollectiveBroken | CollectiveMismatch | undefined
      let epoch = -1
      let seq = 0
      let states = new Map<number, State>()
      const early = new Map<number, Array<Tell>>()

      const stateOf = (s: number): State => {
        let state = states.get(s)
        if (state === undefined) states.set(s, state = { ups: new Map(), down: undefined, wake: undefined })
        return state
      }
      const wake = (state: State) => {
        const waiting = state.wake
        state.wake = undefined
        if (waiting !== undefined) Deferred.doneUnsafe(waiting, Effect.void)
      }
      const deliver = (tell: Tell) => {
        const state = stateOf(tell.seq)
        if (tell.kind === "up") state.ups.set(tell.from, { key: tell.key, value: tell.value })
        else state.down = { value: tell.value }
        wake(state)
      }
      const receive = (at: number, tell: Tell) => {
        if (at < epoch) return
        if (at > epoch) {
          let kept = early.get(at)
          if (kept === undefined) early.set(at, kept = [])
          kept.push(tell)
          return
        }
        deliver(tell)
      }
      /** Start epoch `at`: calls are numbered afresh, and what arrived early for it is delivered. */
      const enter = (at: number) => {
        epoch = at
        seq = 0
        states = new Map()
        for (const e of [...early.keys()]) {
          if (e < at) early.delete(e)
        }
        const kept = early.get(at)
        early.delete(at)
        if (kept !== undefined) for (const tell of kept) deliver(tell)
      }

      /** Break the group: fail this endpoint's calls and tell every other endpoint. */
      const breakGroup = (error: CollectiveBroken | CollectiveMismatch): Effect.Effect<never, CollectiveBroken | CollectiveMismatch> =>
        Effect.suspend(() => {
          if (broken === undefined) {
            broken = error
            for (const state of states.values()) wake(state)
          }
          const reason = error._tag === "CollectiveBroken" ? error.reason : error.message
          const others = (peers ?? []).filter((_, r) => r !== rank)
          return Effect.andThen(
            Effect.forEach(others, (peer) => peer.ref.tell("broken", { reason }), { discard: true }),
            Effect.fail(broken)
          )
        })

      /** Checks that the peers this endpoint waits for are still the ones it was wired with. */
      const probe = (ranks: ReadonlyArray<number>): Effect.Effect<void, CollectiveBroken | CollectiveMismatch> =>
        Effect.forEach(ranks, (r) => {
          const peer = peers![r]!
          return peer.ref.ask("ping", undefined).pipe(
            Effect.matchEffect({
              onFailure: (error) => breakGroup(new CollectiveBroken({ rank, reason: `rank ${r}'s endpoint is gone: ${ActorError.describe(error)}` })),
              onSuccess: (seen) =>
                seen === peer.incarnation
                  ? Effect.void
                  : breakGroup(new CollectiveBroken({ rank, reason: `rank ${r}'s endpoint restarted (its worker died) and lost the group` }))
            })
          )
        }, { discard: true })

      /** Waits until `ready`, checking on the peers it waits for every `PROBE_MS`. */
      const waitFor = (state: State, ready: () => boolean, awaited: () => ReadonlyArray<number>) =>
        Effect.gen(function*() {
          while (broken === undefined && !ready()) {
            const woken = Deferred.makeUnsafe<void>()
            state.wake = woken
            const outcome = yield* Effect.timeoutOption(Deferred.await(woken), PROBE_MS)
            if (Option.isNone(outcome) && broken === undefined && !ready()) yield* probe(awaited())
          }
          if (broken !== undefined) return yield* Effect.fail(broken)
        })

      const findReducer = (locator: { readonly module: string; readonly name: string }): Effect.Effect<Reducer.Any, ReducerUnavailable> => {
        const found = table.get(`${locator.module}#${locator.name}`) ?? Code.lookup(locator.module, locator.name)
        return Reducer.isReducer(found) ? Effect.succeed(found) : Effect.fail(
          new ReducerUnavailable({
            reducer: locator.name,
            detail: `reducer ${locator.name} of ${locator.module} is not loaded on worker ${context.worker}: ` +
              `list it in Group.make's reducers`
          })
        )
      }

      const call = (c: typeof protocol.call.payload.Type) =>
        Effect.suspend(() => {
          if (broken !== undefined) return Effect.fail(broken)
          const wired = peers
          if (wired === undefined) {
            return Effect.fail(new CollectiveBroken({ rank, reason: `rank ${rank}'s endpoint is not wired (it restarted after its worker died)` }))
          }
          if (c.epoch < epoch) {
            return Effect.fail(new CollectiveBroken({ rank, reason: `a call of run ${c.epoch} after run ${epoch} began` }))
          }
          if (c.epoch > epoch) enter(c.epoch)
          const s = ++seq
          const at = epoch
          return Effect.ensuring(
            collective(c, s, at, wired),
            Effect.sync(() => {
              if (at === epoch) states.delete(s)
            })
          )
        })

      /** Collective `s` of epoch `at`, from this rank's side. */
      const collective = (
        c: typeof protocol.call.payload.Type,
        s: number,
        at: number,
        wired: ReadonlyArray<{ readonly ref: Ref; readonly incarnation: number }>
      ) =>
        Effect.gen(function*() {
          const state = stateOf(s)
          const reducer = c.reducer === null ? undefined : yield* findReducer(c.reducer)
          const codec = reducer === undefined ? undefined : codecOf(reducer)
          const key = `${c.op}(root ${c.root}${reducer === undefined ? "" : `, ${reducer.module}#${reducer.name}`})`
          const tell = (r: number, tag: "up" | "down", value: unknown) =>
            tag === "up"
              ? wired[r]!.ref.tell("up", { epoch: at, seq: s, from: rank, key, value })
              : wired[r]!.ref.tell("down", { epoch: at, seq: s, value })
          const awaitDown = (from: number) =>
            Effect.map(waitFor(state, () => state.down !== undefined, () => [from]), () => state.down!.value)

          // Up: the children's partials, combined after this rank's own value, in rank order.
          yield* waitFor(state, () => kids.every((k) => state.ups.has(k)), () => kids.filter((k) => !state.ups.has(k)))
          for (const k of kids) {
            const got = state.ups.get(k)!.key
            if (got !== key) return yield* breakGroup(new CollectiveMismatch({ rank, seq: s, expected: key, got }))
          }
          const child = (k: number) => state.ups.get(k)!.value
          const combine = reducer === undefined ? undefined : reducer.combine
          let acc: unknown
          const before: Array<unknown> = []
          switch (c.op) {
            case "barrier":
              acc = null
              break
            case "broadcast": {
              acc = rank === c.root ? { value: c.value } : null
              for (const k of kids) acc ??= child(k)
              break
            }
            case "allgather": {
              const all = [c.value]
              for (const k of kids) all.push(...(child(k) as Array<unknown>))
              acc = all
              break
            }
            default: {
              acc = codec!.decode(c.value)
              for (const k of kids) {
                before.push(acc)
                acc = combine!(acc, codec!.decode(child(k)))
              }
            }
          }
          const combined = c.op === "reduce" || c.op === "allreduce" || c.op === "scan"
          if (rank !== 0) yield* tell(Tree.parent(rank), "up", combined ? codec!.encode(acc) : acc)

          // Down: results from the root, or a scan's prefixes.
          switch (c.op) {
            case "reduce": {
              if (rank === 0) {
                const result = codec!.encode(acc)
                if (c.root === 0) return { value: result }
                yield* tell(c.root, "down", result)
                return null
              }
              return rank === c.root ? { value: yield* awaitDown(0) } : null
            }
            case "scan": {
              const prefix = rank === 0 ? undefined : { value: codec!.decode(yield* awaitDown(Tree.parent(rank))) }
              const own = codec!.decode(c.value)
              for (let j = 0; j < kids.length; j++) {
                yield* tell(kids[j]!, "down", codec!.encode(prefix === undefined ? before[j] : combine!(prefix.value, before[j])))
              }
              return codec!.encode(prefix === undefined ? own : combine!(prefix.value, own))
            }
            default: {
              const result = rank === 0 ? (c.op === "allreduce" ? codec!.encode(acc) : acc) : yield* awaitDown(Tree.parent(rank))
              for (const k of kids) yield* tell(k, "down", result)
              return c.op === "broadcast" ? (result as { readonly value: unknown }).value : result
            }
          }
        })

      return {
        hello: () => Effect.succeed(incarnation),
        wire: ({ peers: wiring }) =>
          Effect.sync(() => {
            peers = wiring.map((peer) => ({ ref: context.connect(Endpoint, peer.address), incarnation: peer.incarnation }))
          }),
        call,
        up: ({ epoch: at, from, key, seq: s, value }) => Effect.sync(() => receive(at, { kind: "up", seq: s, from, key, value })),
        down: ({ epoch: at, seq: s, value }) => Effect.sync(() => receive(at, { kind: "down", seq: s, value })),
        broken: ({ reason }) =>
          Effect.sync(() => {
            if (broken !== undefined) return
            broken = new CollectiveBroken({ rank, reason })
            for (const state of states.values()) wake(state)
          }),
        ping: () => Effect.succeed(incarnation)
      }
    })
})
