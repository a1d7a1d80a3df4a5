/**
 * Benchmarks of pool results as streams, on 2 worker threads, variants alternating within each round, medians
 * of rounds: `imap`'s first result over one chunk of slow items (each chunk's results stream as they are
 * computed) against that chunk's whole reply (`map` of the same chunk), and `imap` of 100k cheap items (streamed
 * chunks) against `map` of the same items (one reply per chunk), so that streaming is seen to cost nothing.
 */
import { Effect, Stream } from "effect"
import { Threads } from "../../runtime/index.ts"
import { Pool } from "../../runtime/pool/index.ts"
import { busy, square } from "./poolTasks.ts"
import type { Options, Row } from "./Row.ts"
import { median, roundsFor } from "./Row.ts"

const SECTION = "pool"

export const run = (options: Options): Effect.Effect<Array<Row>, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const quick = options.quick
    const pool = yield* Pool.make()
    const rounds = roundsFor(options, 7, 3)
    const slow = Array.from({ length: 8 }, () => 10)
    const cheap = Array.from({ length: quick ? 20_000 : 100_000 }, (_, i) => i)
    yield* pool.map(square, cheap)
    const first: Array<number> = []
    const whole: Array<number> = []
    const imap: Array<number> = []
    const map: Array<number> = []
    const ratios: Array<number> = []
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now()
      let at = 0
      yield* Stream.runDrain(Stream.tap(pool.imap(busy, slow, { chunkSize: slow.length }), () =>
        Effect.sync(() => {
          if (at === 0) at = performance.now() - t0
        })))
      first.push(at)
      t0 = performance.now()
      yield* pool.map(busy, slow, { chunkSize: slow.length })
      whole.push(performance.now() - t0)
      // Throughput, the two orders alternating between rounds.
      const timeImap = Effect.gen(function*() {
        const t = performance.now()
        yield* Stream.runDrain(pool.imap(square, cheap))
        return cheap.length / ((performance.now() - t) / 1000)
      })
      const timeMap = Effect.gen(function*() {
        const t = performance.now()
        yield* pool.map(square, cheap)
        return cheap.length / ((performance.now() - t) / 1000)
      })
      const [a, b] = r % 2 === 0 ? [yield* timeImap, yield* timeMap] : (([y, x]) => [x, y])([yield* timeMap, yield* timeImap])
      imap.push(a!)
      map.push(b!)
      ratios.push(a! / b!)
    }
    const spread = `per-round ratios ${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}`
    return [
      {
        section: SECTION,
        name: `imap first result, one chunk of ${slow.length} x 10 ms items`,
        value: median(first),
        unit: "ms",
        ratio: median(first) / median(whole),
        note: `vs the chunk's whole reply (map), ${median(whole).toFixed(0)} ms; lower is better`
      },
      {
        section: SECTION,
        name: `imap of ${cheap.length / 1000}k cheap items, streamed chunks`,
        value: median(imap),
        unit: "items/s",
        ratio: median(ratios),
        note: `vs map (one reply per chunk) ${Math.round(median(map))}/s; ${spread}`
      }
    ] satisfies Array<Row>
  })).pipe(Effect.provide(Threads.layer({ workers: 2 })))
