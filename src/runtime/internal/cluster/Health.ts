/**
 * Which runner slots are up, as one process of the cluster sees it, and the bound on waiting for a slot that is
 * not: Effect Cluster keeps a message for a shard group whose only runner died until a runner with that group
 * returns, so every message to a pinned actor runs under `whileUp`, which fails it as soon as its slot is seen
 * down.
 *
 * A slot is up when a runner holding its shard group is registered as healthy in runner storage and accepts a
 * TCP connection at its address; the connection probe notices a killed runner within one poll, before the
 * survivors have marked it unhealthy. Polled every `POLL_MS`.
 */
import { Deferred, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import type { RunnerStorage } from "effect/cluster/RunnerStorage"
import * as Net from "node:net"
import * as Protocol from "./Protocol.ts"

export const POLL_MS = 250
const PROBE_TIMEOUT_MS = 1000

export interface SlotState {
  readonly slot: number
  /** The address its runner registered (undefined: no runner holds the slot). */
  readonly address: string | undefined
  readonly up: boolean
}

export interface Health {
  readonly isUp: (slot: number) => boolean
  readonly anyUp: () => boolean
  /** Wait until slot `slot` is up (any slot when undefined). */
  readonly awaitUp: (slot: number | undefined) => Effect.Effect<void>
  /** Run `effect`, failing with `down()` if slot `slot` is seen down first (no bound for an actor placed by shard). */
  readonly whileUp: <A, E, R, E2>(slot: number | undefined, effect: Effect.Effect<A, E, R>, down: () => E2) => Effect.Effect<A, E | E2, R>
  /** Times a slot came back after being down. */
  readonly restarts: () => number
  readonly slots: () => ReadonlyArray<SlotState>
}

/** Whether a TCP connection to host:port opens within the probe timeout. */
const probe = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/** Where each slot's runner is, from runner storage (healthy registrations only). */
const registered = (storage: RunnerStorage["Service"], runners: number) =>
  Effect.map(storage.getRunners, (list) => {
    const out: Array<{ host: string; port: number } | undefined> = Array.from({ length: runners }, () => undefined)
    for (const [runner, healthy] of list) {
      if (!healthy) continue
      for (let slot = 0; slot < runners; slot++) {
        if (runner.groups.includes(Protocol.groupOf(slot))) out[slot] = { host: runner.address.host, port: runner.address.port }
      }
    }
    return out
  })

export const make = (storage: RunnerStorage["Service"], runners: number): Effect.Effect<Health, never, Scope.Scope> =>
  Effect.gen(function*() {
    const state: Array<SlotState> = Array.from({ length: runners }, (_, slot) => ({ slot, address: undefined, up: false }))
    const everUp = state.map(() => false)
    let restarts = 0
    /** Completed when the slot goes down (replaced when it comes up). */
    const down = state.map(() => Deferred.makeUnsafe<void>())
    /** Completed when the slot comes up (replaced when it goes down). */
    const up = state.map(() => Deferred.makeUnsafe<void>())
    let anyUp = Deferred.makeUnsafe<void>()

    const poll = Effect.gen(function*() {
      const where = yield* Effect.orElseSucceed(registered(storage, runners), () => state.map(() => undefined))
      const alive = yield* Effect.promise(() =>
        Promise.all(where.map((at) => (at === undefined ? Promise.resolve(false) : probe(at.host, at.port))))
      )
      for (let slot = 0; slot < runners; slot++) {
        const at = where[slot]
        const now = alive[slot]!
        const was = state[slot]!.up
        state[slot] = { slot, address: at === undefined ? undefined : `${at.host}:${at.port}`, up: now }
        if (now && !was) {
          if (everUp[slot]) restarts++
          everUp[slot] = true
          Deferred.doneUnsafe(up[slot]!, Effect.void)
          down[slot] = Deferred.makeUnsafe<void>()
        } else if (!now && was) {
          Deferred.doneUnsafe(down[slot]!, Effect.void)
          up[slot] = Deferred.makeUnsafe<void>()
        }
      }
      if (state.some((s) => s.up)) Deferred.doneUnsafe(anyUp, Effect.void)
      else if (Deferred.isDoneUnsafe(anyUp)) anyUp = Deferred.makeUnsafe<void>()
    })
    yield* poll
    yield* Effect.forkScoped(Effect.repeat(poll, Schedule.spaced(POLL_MS)))

    const isUp = (slot: number) => state[slot]?.up === true
    return {
      isUp,
      anyUp: () => state.some((s) => s.up),
      awaitUp: (slot) => Effect.suspend(() => Deferred.await(slot === undefined ? anyUp : up[slot]!)),
      whileUp: (slot, effect, onDown) =>
        slot === undefined
          ? effect
          : Effect.suspend(() =>
            isUp(slot)
              ? Effect.raceFirst(effect, Effect.flatMap(Deferred.await(down[slot]!), () => Effect.fail(onDown())))
              : Effect.fail(onDown())
          ),
      restarts: () => restarts,
      slots: () => state
    }
  })
