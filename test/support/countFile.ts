/**
 * The file a `Streamer`'s `countingInto` producer writes its count to (`fixtures/Streamer.ts`): how a test on
 * the runners' machine watches a producer it shares no memory with, in another process.
 */
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface Count {
  readonly produced: number
  readonly finalized: number
  readonly pid: number
}

export const countFile = () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-stream-count-"))
  const path = Path.join(dir, "count.json")
  const counted = (): Count => JSON.parse(Fs.readFileSync(path, "utf8"))
  /** Once the producer's finalizer ran (or 2 s passed): its count then, and 100 ms later. The file goes. */
  const settled = Effect.gen(function*() {
    for (let i = 0; i < 100 && counted().finalized === 0; i++) yield* Effect.sleep("20 millis")
    const after = counted()
    yield* Effect.sleep("100 millis")
    const later = counted()
    Fs.rmSync(dir, { recursive: true, force: true })
    return { after, later }
  })
  return { path, counted, settled }
}
