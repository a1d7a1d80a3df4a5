/**
 * Persisted messages (`Actor.Persisted`): the one place a message's key is taken from its payload, and the
 * memory of keys an actor keeps where no storage keeps them (Local and Threads; see `Cell`).
 *
 * The memory is bounded: it keeps the replies of the last `remember` keys of each message (evicting the oldest
 * answered key first) plus the keys still running, which the mailbox bounds. An interruption (the actor
 * stopping) is not a reply: it is forgotten, so that the work runs again if it is asked for again.
 */
import { Cause, Exit } from "effect"
import type * as Actor from "../Actor.ts"
import { MalformedMessage, describe, isActorStopped } from "../ActorError.ts"

/** The message's key for `payload`, or the `MalformedMessage` that says why there is none. */
export const keyOf = (actor: string, tag: string, persisted: Actor.Persisted, payload: unknown): string | MalformedMessage => {
  let key: unknown
  try {
    key = persisted.key(payload)
  } catch (error) {
    return new MalformedMessage({ actor, message: tag, detail: `persisted key: ${describe(error)}` })
  }
  if (typeof key !== "string") {
    return new MalformedMessage({ actor, message: tag, detail: `persisted key: a string was expected, got ${key === null ? "null" : typeof key}` })
  }
  return key
}

/** Whether an outcome is the work's reply (kept), rather than the actor going away under it (forgotten). */
export const isReply = (exit: Exit.Exit<unknown, unknown>): boolean => {
  if (Exit.isSuccess(exit)) return true
  if (Cause.hasInterruptsOnly(exit.cause)) return false
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  return failure === undefined || !isActorStopped(failure.error)
}

interface Entry<W> {
  /** The reply, once there is one. */
  exit: Exit.Exit<unknown, unknown> | undefined
  /** Those who asked while it ran. */
  waiters: Array<W>
}

/** One actor's memory of keys, for one message (tag); `W` is whoever waits for a reply. */
export class Memory<W> {
  /** In insertion order: answered keys move to the end, the oldest answered one goes first. */
  private readonly entries = new Map<string, Entry<W>>()
  private answered = 0

  constructor(private readonly remember: number) {}

  /**
   * The key arrives: "run" when it is new (the caller runs the work and calls `done`), its reply when it has
   * one, or "waiting" when its work runs (`waiter`, if any, is then answered by `done`).
   */
  arrive(key: string, waiter: W | undefined): "run" | "waiting" | Exit.Exit<unknown, unknown> {
    const entry = this.entries.get(key)
    if (entry === undefined) {
      this.entries.set(key, { exit: undefined, waiters: [] })
      return "run"
    }
    if (entry.exit !== undefined) return entry.exit
    if (waiter !== undefined) entry.waiters.push(waiter)
    return "waiting"
  }

  /** Stop waiting (the asker gave up); the work goes on. Whether such a waiter was found. */
  withdraw(found: (waiter: W) => boolean): boolean {
    for (const entry of this.entries.values()) {
      const at = entry.waiters.findIndex(found)
      if (at >= 0) {
        entry.waiters.splice(at, 1)
        return true
      }
    }
    return false
  }

  /** The work of `key` ended with `exit`: keep it if it is a reply; returns those waiting for it. */
  done(key: string, exit: Exit.Exit<unknown, unknown>): ReadonlyArray<W> {
    const entry = this.entries.get(key)
    if (entry === undefined || entry.exit !== undefined) return []
    this.entries.delete(key)
    if (isReply(exit)) {
      this.entries.set(key, { exit, waiters: [] })
      this.answered++
      if (this.answered > this.remember) this.evictOldest()
    }
    return entry.waiters
  }

  /** Keys remembered now (answered or running). */
  get size(): number {
    return this.entries.size
  }

  private evictOldest(): void {
    for (const [key, entry] of this.entries) {
      if (entry.exit !== undefined) {
        this.entries.delete(key)
        this.answered--
        return
      }
    }
  }
}
