/**
 * The programs as a user runs them: bad flags get one line and a non-zero exit,
 * `--json` prints one parseable object per mode and nothing else, and every mode
 * agrees with the serial hit count.
 */
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
