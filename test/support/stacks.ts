/**
 * Test support for remote stacks: where `test/fixtures/throwing.ts` throws (its lines marked `THROWS:`), a
 * pattern for a frame at one of those lines, and a stack split into its own part and its first cause.
 */
import * as Fs from "node:fs"

const source = Fs.readFileSync(new URL("../fixtures/throwing.ts", import.meta.url), "utf8").split("\n")

/** The 1-based line of the fixture marked `THROWS: what` (0 if none: tests check it is found). */
export const lineOf = (what: string): number => source.findIndex((line) => line.includes(`THROWS: ${what}`)) + 1

export const outer = lineOf("outer")
export const root = lineOf("root")

/** A frame in the fixture's source at `line` (any column). */
export const at = (line: number) => new RegExp(`fixtures/throwing\\.ts:${line}:\\d+`)

/** The stack's own part and its first cause, split at `Caused by:`. */
export const split = (stack: string) => {
  const [own = "", ...causes] = stack.split("\nCaused by: ")
  return { own, cause: causes[0] ?? "" }
}
