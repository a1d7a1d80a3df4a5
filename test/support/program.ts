/**
 * Test support: run a program as a user would (`tsx src/programs/NAME.ts ...`)
 * and collect its exit code, stdout and stderr.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))
const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url))

export interface Outcome {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `args` start with the program's path, e.g. `["src/programs/pi.ts", "--json"]`. */
export const run = (args: ReadonlyArray<string>): Promise<Outcome> =>
  new Promise((resolve) => {
    execFile(tsx, args, { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr })
    })
  })

/** The lines a user sees on stderr, without npm's own configuration warnings. */
export const errorLines = (stderr: string): Array<string> =>
  stderr.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("npm warn"))
