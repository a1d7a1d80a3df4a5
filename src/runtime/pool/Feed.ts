/**
 * A pool's input, read a chunk at a time as the pool has room: any iterable or async iterable, endless ones too.
 * At most one chunk is being filled at a time, so the memory an input costs is that of its chunks in flight.
 *
 * An input that throws part-way does not lose what it gave before: the items read so far go out as a last chunk,
 * followed by a `Failed` piece, which the pool turns into `InputFailed` once those items' results are in.
 * Stopping early (a `take`, an interruption) closes the iterator (`return()`), as a `for … of` would.
 */
import { Effect, Stream } from "effect"
import type { Partition } from "../index.ts"

/** What pools accept as input. */
export type Input<A> = Iterable<A> | AsyncIterable<A>

export type Piece<A> =
  | { readonly _tag: "Chunk"; readonly items: Array<A>; readonly start: number }
  | { readonly _tag: "Failed"; readonly read: number; readonly error: unknown }

export const isAsync = <A>(input: Input<A>): input is AsyncIterable<A> =>
  typeof (input as Partial<AsyncIterable<A>>)[Symbol.asyncIterator] === "function"

interface Filled<A> {
  readonly items: Array<A>
  readonly done: boolean
  readonly failed: { readonly error: unknown } | undefined
}

/** The input cut into chunks of the sizes `chunker` asks for, as it is read. */
export const pieces = <A>(input: Input<A>, chunker: Partition.Chunker): Stream.Stream<Piece<A>> =>
  Stream.suspend(() => {
    const async = isAsync(input)
    const iterator: Iterator<A> | AsyncIterator<A> = async ? input[Symbol.asyncIterator]() : (input as Iterable<A>)[Symbol.iterator]()
    // Plain loops: one Effect per chunk, not per item.
    const fillSync = (size: number): Filled<A> => {
      const items: Array<A> = []
      try {
        while (items.length < size) {
          const next = (iterator as Iterator<A>).next()
          if (next.done === true) return { items, done: true, failed: undefined }
          items.push(next.value)
        }
      } catch (error) {
        return { items, done: true, failed: { error } }
      }
      return { items, done: false, failed: undefined }
    }
    const fillAsync = async (size: number): Promise<Filled<A>> => {
      const items: Array<A> = []
      try {
        while (items.length < size) {
          const next = await (iterator as AsyncIterator<A>).next()
          if (next.done === true) return { items, done: true, failed: undefined }
          items.push(next.value)
        }
      } catch (error) {
        return { items, done: true, failed: { error } }
      }
      return { items, done: false, failed: undefined }
    }
    let read = 0
    let finished = false
    let failure: Piece<A> | undefined
    const next: Effect.Effect<readonly [Piece<A>, undefined] | undefined> = Effect.suspend(() => {
      if (failure !== undefined) {
        const piece = failure
        failure = undefined
        return Effect.succeed([piece, undefined] as const)
      }
      if (finished) return Effect.succeed(undefined)
      const size = chunker.next()
      const filled = async ? Effect.promise(() => fillAsync(size)) : Effect.sync(() => fillSync(size))
      return Effect.map(filled, ({ done, failed, items }) => {
        finished = done
        if (failed !== undefined) failure = { _tag: "Failed", read: read + items.length, error: failed.error }
        if (items.length === 0) {
          const piece = failure
          failure = undefined
          return piece === undefined ? undefined : [piece, undefined] as const
        }
        const start = read
        read += items.length
        return [{ _tag: "Chunk", items, start }, undefined] as const
      })
    })
    return Stream.unfold(undefined, () => next).pipe(
      // Like `for … of`: an input left before its end is closed (a generator's `finally` runs).
      Stream.ensuring(Effect.sync(() => {
        if (!finished) void Promise.resolve(iterator.return?.()).catch(() => {})
      }))
    )
  })
