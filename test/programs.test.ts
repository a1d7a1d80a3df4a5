/**
 * The programs as a user runs them: bad flags get one line and a non-zero exit,
 * `--json` prints one parseable object per mode and nothing else, and every mode
 * agrees with the serial hit count.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import * as Program from "./support/program.ts"
import * as PiKernel from "../src/actors/pi/kernel.ts"

describe("pi.ts", () => {
  it.each([
    [["--samples", "-5"], "--samples"],
    [["--workers", "0"], "--workers"],
    [["--mode", "nope"], "--mode"]
  ])("%j is refused with one line and exit code 2", async (args, flag) => {
    const { code, stderr, stdout } = await Program.run(["src/programs/pi.ts", ...args])
    expect(code).toBe(2)
    expect(stdout).toBe("")
    const lines = Program.errorLines(stderr)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(flag)
  })

  it("--json prints one object per mode, all with the serial hit count", async () => {
    const { code, stdout } = await Program.run(["src/programs/pi.ts", "--samples", "2e5", "--workers", "2", "--seed", "17", "--json"])
    expect(code).toBe(0)
    const rows = stdout.trim().split("\n").map((line) => JSON.parse(line))
    expect(rows.map((r) => r.mode)).toEqual(["serial", "per-sample", "per-sample", "actors", "pipeline", "shared", "stream"])
    for (const row of rows) {
      expect(row).toMatchObject({ seed: 17, workers: expect.any(Number), seconds: expect.any(Number), samplesPerSecond: expect.any(Number) })
      expect(row.hits).toBe(PiKernel.countHits(17, 0, row.samples))
      expect(row.pi).toBe((4 * row.hits) / row.samples)
    }
  })
})

describe("bench.ts", () => {
  it("--rounds 0 is refused with one line and exit code 2", async () => {
    const { code, stderr, stdout } = await Program.run(["src/programs/bench.ts", "--rounds", "0"])
    expect(code).toBe(2)
    expect(stdout).toBe("")
    const lines = Program.errorLines(stderr)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("--rounds")
  })

  it("--rounds sets every figure's rounds (here 2, where --quick alone runs 1)", async () => {
    const { code, stdout } = await Program.run(["src/programs/bench.ts", "--only", "halo", "--quick", "--rounds", "2", "--json"])
    expect(code).toBe(0)
    const notes = stdout.trim().split("\n").map((line) => JSON.parse(line).note as string | undefined).filter((note) => note?.includes("rounds"))
    expect(notes.length).toBeGreaterThan(0)
    for (const note of notes) expect(note).toContain("over 2 rounds")
  }, 60_000)
})

describe("a program whose reader leaves", () => {
  it("stops quietly when stdout is closed (`| head -1`, `| true`): no EPIPE, no stack trace", async () => {
    const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url))
    const child = spawn(tsx, ["src/programs/pi.ts", "--samples", "2e6", "--workers", "2", "--json"], {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += chunk))
    // The reader is gone before the program writes its rows: every write meets a closed pipe.
    child.stdout.destroy()
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)))
    expect(stderr).not.toMatch(/EPIPE|\n\s+at /)
    expect(code).not.toBe(null)
  }, 60_000)
})
