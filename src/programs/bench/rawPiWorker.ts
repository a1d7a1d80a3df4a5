/**
 * Baseline for the benchmark: a hand-written `worker_threads` π worker with no
 * framework at all — receives a range, counts its hits with the same kernel,
 * posts the count back; echoes numbers and typed arrays (moved back) for the message baselines.
 */
import { parentPort } from "node:worker_threads"
import * as Kernel from "../../actors/pi/kernel.ts"

Kernel.warmUp()
parentPort!.on("message", (message: { seed: number; start: number; count: number } | number | Float64Array<ArrayBuffer> | { copy: Float64Array }) => {
  if (typeof message === "number") return parentPort!.postMessage(message)
  // A typed array comes back moved (the transfer baseline); `{ copy }` comes back copied.
  if (message instanceof Float64Array) return parentPort!.postMessage(message, [message.buffer])
  if ("copy" in message) return parentPort!.postMessage(message.copy)
  parentPort!.postMessage(Kernel.countHits(message.seed, message.start, message.count))
})
