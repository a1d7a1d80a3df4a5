/**
 * Pipelines composed in code: a source, stages connected by bounded buffers,
 * scatter to a set of actors, and an ordered gather / reduce — thin, typed
 * combinators over Effect Streams.
 *
 * ```ts
 * const hits = Pipeline.source(ranges, { capacity: 16 }).pipe(
 *   Pipeline.scatter(samplers, (sampler, range) => sampler.ask("sample", range), { inFlight: 4 }),
 *   Pipeline.reduce(0, (total, h) => total + h)
 * )
 * ```
 *
 * `scatter` keeps input order in its output, so a `reduce` over floats adds in
 * the same order for any worker count: the result is the serial one, bit for bit.
 */
import { Effect, Stream } from "effect"
import { Balancer } from "../index.ts"

/** A source stage over any iterable (lazy: items are pulled as the pipeline has room). */
export const source = <A>(items: Iterable<A>, options: { readonly capacity?: number } = {}): Stream.Stream<A> =>
  Stream.fromIterable(items).pipe(Stream.buffer({ capacity: options.capacity ?? 16 }))

/** A stage that transforms each item locally, with a bounded buffer after it. */
export const stage = <A, B, E2, R2>(f: (a: A) => Effect.Effect<B, E2, R2>, options: { readonly capacity?: number } = {}) =>
<E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<B, E | E2, R | R2> =>
  self.pipe(Stream.mapEffect(f), Stream.buffer({ capacity: options.capacity ?? 16 }))

/**
 * Scatter items over actors (or any members), least-loaded first, with at most
 * `inFlight` outstanding; results come out in input order unless `ordered: false`.
 */
export const scatter = <M, A, B, E2, R2>(
  members: ReadonlyArray<M> | Balancer.Balancer<M>,
  f: (member: M, item: A) => Effect.Effect<B, E2, R2>,
  options: { readonly inFlight?: number; readonly ordered?: boolean } = {}
) =>
<E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<B, E | E2, R | R2> => {
  const balancer = "run" in members ? members : Balancer.make(members)
  return self.pipe(
    Stream.mapEffect((item: A) => balancer.run((member) => f(member, item)), {
      concurrency: options.inFlight ?? balancer.members.length * 2,
      unordered: options.ordered === false
    })
  )
}

/** Gather every result, in order. */
export const gather = <B, E, R>(self: Stream.Stream<B, E, R>): Effect.Effect<Array<B>, E, R> => Stream.runCollect(self)

/** Fold the results in order (a fixed order, so float reductions are reproducible). */
export const reduce = <S, B>(initial: S, f: (state: S, item: B) => S) =>
<E, R>(self: Stream.Stream<B, E, R>): Effect.Effect<S, E, R> => Stream.runFold(self, () => initial, f)
