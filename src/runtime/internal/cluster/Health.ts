/**
 * Which runner slots are up, as one process of the cluster sees it, and the bound on waiting for a slot that is
 * not: Effect Cluster keeps a message for a shard group whose only runner died until a runner with that group
 * returns, so every message to a pinned actor runs under `whileUp`, which fails it as soon as its slot is seen
 * down.
 *
 * A slot is up when a runner holding its shard group is registered in runner storage and accepts a TCP
 * connection at its address; the connection probe notices a killed runner within one poll, before the
 * survivors have marked it unhealthy. Polled every `POLL_MS`.
 */
import { Effect, Schedule } from "effect"
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
  /**
   * Run `effect`, failing with `down()` if slot `slot` is seen down first; for an actor placed by shard
   * (`slot` undefined), if every slot is (its shard moves to a survivor as long as there is one).
   */
  readonly whileUp: <A, E, R, E2>(slot: number | undefined, effect: Effect.Effect<A, E, R>, down: () => E2) => Effect.Effect<A, E | E2, R>
  /** Call `listener` on every change from now on: a slot went up or down. */
  readonly onChange: (listener: (slot: number, up: boolean) => void) => void
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

/**
 * Where each slot's runner is, from runner storage: a healthy registration's address if there is one, else
 * any. Liveness is the probe's to say: a runner that restarts at its old address is marked unhealthy by the
 * others for a moment after it is back, which must not count as its going down again.
 */
const registered = (storage: RunnerStorage["Service"], runners: number) =>
  Effect.map(storage.getRunners, (list) => {
    const out: Array<{ host: string; port: number; healthy: boolean } | undefined> = Array.from({ length: runners }, () => undefined)
    for (const [runner, healthy] of list) {
      for (let slot = 0; slot < runners; slot++) {
        if (!runner.groups.includes(Protocol.groupOf(slot)) || out[slot]?.healthy === true) continue
        out[slot] = { host: runner.address.host, port: runner.address.port, healthy }
      }
    }
    return out
  })

export const make = (storage: RunnerStorage["Service"], runners: number): Effect.Effect<Health, never, Scope.Scope> =>
  Effect.gen(function*() {
    const state: Array<SlotState> = Array.from({ length: runners }, (_, slot) => ({ slot, address: undefined, up: false }))
    const everUp = state.map(() => false)
    let restarts = 0
    /** Who waits for a slot to go down / come up (index `runners`: every slot down / any slot up). */
    const onDown = Array.from({ length: runners + 1 }, () => new Set<() => void>())
    const onUp = Array.from({ length: runners + 1 }, () => new Set<() => void>())
    const ALL = runners
    const changes = new Set<(slot: number, up: boolean) => void>()
    const fire = (set: Set<() => void>) => {
      const callbacks = [...set]
      set.clear()
      for (const callback of callbacks) callback()
    }
    /** An effect that ends when `set` fires (and stops listening when interrupted). */
    const when = <A, E>(set: Set<() => void>, then: Effect.Effect<A, E>) =>
      Effect.callback<A, E>((resume) => {
        const callback = () => resume(then)
        set.add(callback)
        return Effect.sync(() => set.delete(callback))
      })

    const poll = Effect.gen(function*() {
      const where = yield* Effect.orElseSucceed(registered(storage, runners), () => state.map(() => undefined))
      const alive = yield* Effect.promise(() =>
        Promise.all(where.map((at) => (at === undefined ? Promise.resolve(false) : probe(at.host, at.port))))
      )
      const anyBefore = state.some((s) => s.up)
      for (let slot = 0; slot < runners; slot++) {
        const at = where[slot]
        const now = alive[slot]!
        const was = state[slot]!.up
        state[slot] = { slot, address: at === undefined ? undefined : `${at.host}:${at.port}`, up: now }
        if (now && !was) {
          if (everUp[slot]) restarts++
          everUp[slot] = true
          // Listeners first (they reconnect), then whoever waits: a waiter may go on at once, in this very call.
          for (const listener of changes) listener(slot, true)
          fire(onUp[slot]!)
        } else if (!now && was) {
          for (const listener of changes) listener(slot, false)
          fire(onDown[slot]!)
        }
      }
      const anyNow = state.some((s) => s.up)
      if (anyNow && !anyBefore) fire(onUp[ALL]!)
      if (!anyNow && anyBefore) fire(onDown[ALL]!)
    })
    yield* poll
    yield* Effect.forkScoped(Effect.repeat(poll, Schedule.spaced(POLL_MS)))

    const isUp = (slot: number) => state[slot]?.up === true
    return {
      isUp,
      anyUp: () => state.some((s) => s.up),
      awaitUp: (slot) =>
        Effect.suspend(() =>
          (slot === undefined ? state.some((s) => s.up) : isUp(slot)) ? Effect.void : when(onUp[slot ?? ALL]!, Effect.void)
        ),
      whileUp: (slot, effect, down) =>
        Effect.suspend(() => {
          if (!(slot === undefined ? state.some((s) => s.up) : isUp(slot))) return Effect.fail(down())
          return Effect.raceFirst(effect, when(onDown[slot ?? ALL]!, Effect.suspend(() => Effect.fail(down()))))
        }),
      onChange: (listener) => {
        changes.add(listener)
      },
      restarts: () => restarts,
      slots: () => state
    }
  })
