/**
 * Test support: run a program as a user would (`tsx src/programs/NAME.ts ...`)
 * and collect its exit code, stdout and stderr.
 */
import { execFile, execFileSync, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))
const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url))

export interface Outcome {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `args` start with the program's path, e.g. `["src/programs/pi.ts", "--json"]`. */
export const run = (args: ReadonlyArray<string>, options: { readonly timeoutMs?: number } = {}): Promise<Outcome> =>
  new Promise((resolve) => {
    execFile(tsx, args, { cwd: root, timeout: options.timeoutMs ?? 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr })
    })
  })

/** The lines a user sees on stderr, without npm's own configuration warnings. */
export const errorLines = (stderr: string): Array<string> =>
  stderr.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("npm warn"))

/** A program running in a pseudo-terminal (through util-linux `script`), driven by what is typed into it. */
export interface Terminal {
  /** Everything the program wrote so far. */
  readonly output: () => string
  readonly type: (text: string) => void
  /** Wait until the output (from `from` on) matches `pattern`; fails after `ms`. */
  readonly until: (pattern: RegExp, options?: { readonly ms?: number; readonly from?: number }) => Promise<void>
  readonly exited: Promise<number | null>
  readonly kill: () => void
}

/** Whether `script` is there to give a program a terminal (it is on Debian; tests that need one say why they skip). */
export const hasTerminal = (): boolean => {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

export const inTerminal = (args: ReadonlyArray<string>): Terminal => {
  const command = [tsx, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ")
  const child = spawn("script", ["-qfc", command, "/dev/null"], { cwd: root })
  let output = ""
  child.stdout.on("data", (data: Buffer) => {
    output += data.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return {
    output: () => output,
    type: (text) => child.stdin.write(text),
    until: async (pattern, options = {}) => {
      const deadline = Date.now() + (options.ms ?? 60_000)
      while (!pattern.test(output.slice(options.from ?? 0))) {
        if (Date.now() > deadline) throw new Error(`no ${pattern} in the terminal output:\n${output}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    exited,
    kill: () => child.kill("SIGKILL")
  }
}
