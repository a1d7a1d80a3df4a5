/**
 * Spreads work over a set of actors: each job goes to the actor with the fewest
 * jobs outstanding (ties broken round-robin), so a slow worker gets less.
 */
import { Effect, Stream } from "effect"

export interface Balancer<R> {
  readonly members: ReadonlyArray<R>
  /** Run `f` on the least-loaded available member; the member counts as busy until `f` ends. */
  readonly run: <A, E, Req>(f: (member: R, index: number) => Effect.Effect<A, E, Req>) => Effect.Effect<A, E, Req>
  /** The stream `f` opens on the least-loaded available member (chosen when it is run); busy until it ends. */
  readonly stream: <A, E, Req>(f: (member: R, index: number) => Stream.Stream<A, E, Req>) => Stream.Stream<A, E, Req>
  /** Jobs outstanding per member, for monitoring. */
  readonly load: () => ReadonlyArray<number>
  /** Whether some member is available now (so that a retry can go there at once). */
  readonly anyAvailable: () => boolean
}

export interface Options<R> {
  /**
   * Whether a member can take work now (e.g. its worker is up): members that cannot are skipped while another
   * can, so work is not sent to a worker that is being restarted. Default: always.
   */
  readonly available?: (member: R) => boolean
}

/**
 * The least-loaded choice, written once for pools, pipelines and engine schedulers: among `candidates`, the one
 * with the fewest jobs outstanding (`load`); ties go to the first at or after `cursor` in index order, wrapping
 * around, so that equally loaded members take turns.
 */
export const leastLoaded = (candidates: ReadonlyArray<number>, load: (member: number) => number, cursor: number): number => {
  let best = candidates[0]!
  let bestLoad = Infinity
  let bestDistance = Infinity
  for (const member of candidates) {
    const l = load(member)
    const distance = member >= cursor ? member - cursor : member - cursor + 2 ** 31
    if (l < bestLoad || (l === bestLoad && distance < bestDistance)) {
      best = member
      bestLoad = l
      bestDistance = distance
    }
  }
  return best
}

export const make = <R>(members: ReadonlyArray<R>, options: Options<R> = {}): Balancer<R> => {
  if (members.length === 0) throw new RangeError("a balancer needs at least one member")
  const load = members.map(() => 0)
  const all = members.map((_, i) => i)
  const loadOf = (i: number) => load[i]!
  const available = options.available
  let cursor = 0
  const candidates = (): ReadonlyArray<number> => {
    if (available === undefined) return all
    const up = all.filter((i) => available(members[i]!))
    return up.length > 0 ? up : all
  }
  /** The member the next job goes to, counted busy from now. */
  const choose = (): number => {
    const i = leastLoaded(candidates(), loadOf, cursor)
    cursor = i + 1
    load[i]!++
    return i
  }
  return {
    members,
    load: () => load.slice(),
    anyAvailable: () => available === undefined || members.some(available),
    run: (f) =>
      Effect.suspend(() => {
        const i = choose()
        return Effect.ensuring(f(members[i]!, i), Effect.sync(() => load[i]!--))
      }),
    stream: (f) =>
      Stream.unwrap(Effect.sync(() => {
        const i = choose()
        return Stream.ensuring(f(members[i]!, i), Effect.sync(() => load[i]!--))
      }))
  }
}

/** A balancer over actor refs that skips refs whose worker is down (see `ActorSystem.Service.isUp`). */
export const ofRefs = <Ref extends { readonly address: { readonly worker: number } }>(
  refs: ReadonlyArray<Ref>,
  isUp: (worker: number) => boolean
): Balancer<Ref> => make(refs, { available: (ref) => isUp(ref.address.worker) })
