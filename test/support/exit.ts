/**
 * Test support: the typed failure inside an Exit (the first `Fail` reason), or
 * undefined for a success, a defect or an interruption.
 */
import { Exit } from "effect"

export const failureOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail")?.error : undefined
