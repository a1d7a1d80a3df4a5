/**
 * The typed failures of collectives. A group is *broken* for good once one of its endpoints is gone (its worker
 * died, so the endpoint restarted without its wiring) or its members disagreed about what they were doing:
 * every member's pending and later collectives fail with `CollectiveBroken` instead of waiting forever.
 */
import { Predicate, Schema } from "effect"

/** The group cannot go on: a member's endpoint died or restarted, or members called different collectives. */
export class CollectiveBroken extends Schema.TaggedError<CollectiveBroken>()("CollectiveBroken", {
  rank: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `collective group broken (seen from rank ${this.rank}): ${this.reason}`
  }
}

/** Members called different collectives (or with different roots or reducers) at the same point of a run. */
export class CollectiveMismatch extends Schema.TaggedError<CollectiveMismatch>()("CollectiveMismatch", {
  rank: Schema.Number,
  seq: Schema.Number,
  expected: Schema.String,
  got: Schema.String
}) {
  override get message(): string {
    return `rank ${this.rank}, collective #${this.seq}: this member called ${this.expected}, another ${this.got} ` +
      `(every member must make the same collective calls in the same order)`
  }
}

/** A reducer could not be found on a member's worker (list it in `Group.make`'s `reducers`). */
export class ReducerUnavailable extends Schema.TaggedError<ReducerUnavailable>()("ReducerUnavailable", {
  reducer: Schema.String,
  detail: Schema.String
}) {}

export type CollectiveError = CollectiveBroken | CollectiveMismatch | ReducerUnavailable

export const CollectiveError = Schema.Union([CollectiveBroken, CollectiveMismatch, ReducerUnavailable])

export const isCollectiveBroken = (u: unknown): u is CollectiveBroken => Predicate.isTagged(u, "CollectiveBroken")
export const isCollectiveMismatch = (u: unknown): u is CollectiveMismatch => Predicate.isTagged(u, "CollectiveMismatch")
export const isReducerUnavailable = (u: unknown): u is ReducerUnavailable => Predicate.isTagged(u, "ReducerUnavailable")
