/**
 * Baseline for the benchmark: a hand-written `worker_threads` π worker with no
 * framework at all — receives a range, counts its hits with the same kernel,
 * posts the count back.
 */
import { parentPort } from "node:worker_threads"
import * as Kernel from "../../actors/pi/kernel.ts"

Kernel.warmUp()
parentPort!.on("message", (message: { seed: number; start: number; count: number } | number) => {
  if (typeof message === "number") return parentPort!.postMessage(message)
  parentPort!.postMessage(Kernel.countHits(message.seed, message.start, message.count))
})
