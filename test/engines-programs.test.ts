/**
 * The engines programs as a user runs them: the tour's `--json` steps reproduce the chapter's session and the
 * particle simulation matches serial bit for bit; the console evaluates against live engines; bad flags get one
 * line and exit code 2.
 */
import { describe, expect, it } from "vitest"
import * as Program from "./support/program.ts"


describe("engines.ts", () => {
  it("--json prints the session step by step, ending with particles equal to serial", async () => {
    const { code, stdout } = await Program.run(["src/programs/engines.ts", "--engines", "4", "--particles", "3000", "--dt", "0.01", "--repeat", "1", "--json"])
    expect(code).toBe(0)
    const steps = stdout.trim().split("\n").map((line) => JSON.parse(line))
    const byName = Object.fromEntries(steps.map((s) => [s.name, s.result]))
    expect(byName["ids"]).toEqual([0, 1, 2, 3])
    expect(byName["pull"]).toEqual([1, 1, 1, 1])
    expect(byName["push"]).toEqual([2, 2, 2, 2])
    expect(byName["scatter"]).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10]])
    expect(byName["gather"]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(byName["apply (direct)"]).toEqual([4, 4, 4, 4])
    expect(byName["apply (load-balanced)"]).toBe(4)
    const squares = Array.from({ length: 100 }, (_, i) => i * i)
    expect(byName["map (direct)"]).toEqual(squares)
    expect(byName["map (load-balanced)"]).toEqual(squares)
    expect(byName["remote"]).toEqual([4, 4, 4, 4])
    expect(byName["parallel"]).toEqual(squares)
    expect(byName["error summary"]).toMatch(/^4 of 4 engines failed in execute:\n\[0:execute\] TypeError/)
    const particles = steps.at(-1)
    expect(particles).toMatchObject({ name: "particles", particles: 3000, steps: 1000, engines: 4, matchesSerial: true })
    expect(particles.speedup).toBeGreaterThan(0)
  })

  it.each([
    [["--engines", "0"], "--engines"],
    [["--particles", "-1"], "--particles"],
    [["--bogus"], "--bogus"]
  ])("%j is refused with one line and exit code 2", async (args, flag) => {
    const { code, stderr, stdout } = await Program.run(["src/programs/engines.ts", ...args])
    expect(code).toBe(2)
    expect(stdout).toBe("")
    const lines = Program.errorLines(stderr)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(flag)
  })
})

describe("console.ts", () => {
  it("evaluates against live engines", async () => {
    const { code, stdout } = await Program.run([
      "src/programs/console.ts",
      "--engines", "3",
      "--eval", "[rc.ids, await dview.apply((x) => x * x, 3), await lview.apply((x) => x + 1, 1), (await rc.view({ step: 2 }).pull('nothing').catch((e) => e.message)).split('\\n')[0]]",
      "--json"
    ])
    expect(code).toBe(0)
    expect(JSON.parse(stdout.trim())).toMatchObject({ value: [[0, 1, 2], [9, 9, 9], 2, "2 of 2 engines failed in pull:"] })
  })

  it("reports a function that cannot be shipped in one line, exit code 1", async () => {
    const { code, stderr } = await Program.run(["src/programs/console.ts", "--eval", "await dview.apply((x) => x * k, 2)"])
    expect(code).toBe(1)
    const lines = Program.errorLines(stderr)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/captures outer variables \(k\)/)
  })

  it("prints every engine's line of a failure under --eval, not only the first", async () => {
    const { code, stderr } = await Program.run(["src/programs/console.ts", "--engines", "2", "--eval", "await dview.pull('nothing')"])
    expect(code).toBe(1)
    const lines = Program.errorLines(stderr)
    expect(lines[0]).toMatch(/2 of 2 engines failed in pull/)
    expect(lines.some((line) => line.startsWith("[0:pull] NameError"))).toBe(true)
    expect(lines.some((line) => line.startsWith("[1:pull] NameError"))).toBe(true)
  })

  it.runIf(Program.hasTerminal())("Ctrl-C ends a long await in the REPL, interrupts the work on the engines, and the REPL goes on", async () => {
    const terminal = Program.inTerminal(["src/programs/console.ts", "--engines", "2"])
    try {
      await terminal.until(/engines> /)
      // 400 tasks of 50 ms on 2 engines: 10 s of work.
      terminal.type("await lview.map((ms) => { const end = Date.now() + ms; while (Date.now() < end) {} return ms }, Array(400).fill(50), { chunkSize: 1 })\r")
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const typed = terminal.output().length
      terminal.type("\x03")
      await terminal.until(/interrupted by `SIGINT`/, { ms: 5_000, from: typed })
      terminal.type("JSON.stringify(rc.queueStatus())\r")
      await terminal.until(/"queued":0,"inflight":0,"down":false\},\{"engine":1,"queued":0,"inflight":0/, { ms: 5_000, from: typed })
      terminal.type("1 + 41\r")
      await terminal.until(/42/, { ms: 5_000, from: typed })
      terminal.type(".exit\r")
      expect(await terminal.exited).toBe(0)
    } finally {
      terminal.kill()
    }
  })
})
