/**
 * Spreads work over a set of actors: each job goes to the actor with the fewest
 * jobs outstanding (ties broken round-robin), so a slow worker gets less.
 */
import { Effect } from "effect"

export interface Balancer<R> {
  readonly members: ReadonlyArray<R>
  /** Run `f` on the least-loaded member; the member counts as busy until `f` ends. */
  readonly run: <A, E, Req>(f: (member: R, index: number) => Effect.Effect<A, E, Req>) => Effect.Effect<A, E, Req>
  /** Jobs outstanding per member, for monitoring. */
  readonly load: () => ReadonlyArray<number>
}

export const make = <R>(members: ReadonlyArray<R>): Balancer<R> => {
  if (members.length === 0) throw new RangeError("a balancer needs at least one member")
  const load = members.map(() => 0)
  let cursor = 0
  const pick = (): number => {
    let best = cursor % members.length
    for (let k = 1; k < members.length; k++) {
      const i = (cursor + k) % members.length
      if (load[i]! < load[best]!) best = i
    }
    cursor = best + 1
    return best
  }
  return {
    members,
    load: () => load.slice(),
    run: (f) =>
      Effect.suspend(() => {
        const i = pick()
        load[i]!++
        return Effect.ensuring(f(members[i]!, i), Effect.sync(() => load[i]!--))
      })
  }
}
