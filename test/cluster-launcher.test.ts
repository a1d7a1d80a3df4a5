/**
 * The launcher as a user runs it: `cluster.ts start` writes the connection file once its runners answer,
 * `status` lists them, `pi.ts --cluster FILE` computes the serial count there, `stop` ends it all; a launcher
 * killed with SIGKILL leaves runners and Postgres that exit on their own; bad input gets one line and exit 1.
 */
import { execFileSync, spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { countHits } from "../src/actors/pi/kernel.ts"
import { leftovers } from "./support/cluster.ts"
import * as Program from "./support/program.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url))
const dirs: Array<string> = []
const launchers: Array<ChildProcess> = []

afterAll(async () => {
  for (const launcher of launchers) launcher.kill("SIGKILL")
  for (const dir of dirs) {
    for (const line of leftovers([dir])) process.kill(Number(line.trim().split(/\s+/)[0]), "SIGKILL")
  }
  await until(() => dirs.every((dir) => leftovers([dir]).length === 0), 20_000)
  for (const dir of dirs) Fs.rmSync(dir, { recursive: true, force: true })
}, 30_000)

const running = (pid: number): boolean => {
  try {
    const state = execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" }).trim()
    return state !== "" && !state.startsWith("Z")
  } catch {
    return false
  }
}

const until = async (done: () => boolean, ms: number): Promise<boolean> => {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (done()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return done()
}

/** Start a launcher; resolves with its first stdout line (the --json summary) once the cluster is up. */
const launch = (args: ReadonlyArray<string>) => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-launcher-test-"))
  dirs.push(dir)
  const file = Path.join(dir, "cluster.json")
  const child = spawn(tsx, ["src/programs/cluster.ts", "start", "--file", file, "--json", ...args], { cwd: root })
  launchers.push(child)
  let stderr = ""
  child.stderr.on("data", (chunk) => (stderr += String(chunk)))
  const up = new Promise<{ file: string; runners: Array<{ slot: number; address: string; pid: number }> }>((resolve, reject) => {
    let out = ""
    child.stdout.on("data", (chunk) => {
      out += String(chunk)
      const newline = out.indexOf("\n")
      if (newline >= 0) resolve(JSON.parse(out.slice(0, newline)))
    })
    child.once("exit", (code) => reject(new Error(`launcher exited with ${code}: ${stderr}`)))
  })
  return { dir, file, child, up }
}

describe("cluster.ts", () => {
  it("start, status, pi --cluster equal to serial, stop: nothing left", async () => {
    const { child, dir, file, up } = launch(["--runners", "2", "--threads", "1", "--keep-replies", "12h"])
    const summary = await up
    expect(summary.file).toBe(file)
    expect(summary.runners.map((r) => r.slot)).toEqual([0, 1])
    expect(Fs.statSync(file).mode & 0o077).toBe(0)

    const status = await Program.run(["src/programs/cluster.ts", "status", "--file", file, "--json"])
    expect(status.code).toBe(0)
    const slots = status.stdout.trim().split("\n").map((line) => JSON.parse(line))
    expect(slots.map((s) => [s.slot, s.up])).toEqual([[0, true], [1, true]])

    const pi = await Program.run(["src/programs/pi.ts", "--cluster", file, "--mode", "actors", "--samples", "3e6", "--seed", "7", "--json"])
    expect(Program.errorLines(pi.stderr)).toEqual([])
    const row = JSON.parse(pi.stdout.trim())
    expect(row.workers).toBe(2)
    expect(row.hits).toBe(countHits(7, 0, 3e6))

    // Halo regions exchanging messages across the runners: the serial reference's bits.
    const halo = await Program.run(["src/programs/halo.ts", "--cluster", file, "--particles", "1500", "--steps", "15", "--json"])
    expect(Program.errorLines(halo.stderr)).toEqual([])
    const haloRows = halo.stdout.trim().split("\n").map((line) => JSON.parse(line))
    expect(haloRows.map((r) => [r.mode, r.tier, r.matchesSerial])).toEqual([["serial", "-", true], ["messages", "cluster", true]])

    const stop = await Program.run(["src/programs/cluster.ts", "stop", "--file", file])
    expect(stop.code).toBe(0)
    expect(stop.stdout).toContain("stopped")
    expect(await until(() => child.exitCode !== null, 10_000)).toBe(true)
    expect(Fs.existsSync(file)).toBe(false)
    expect(await until(() => leftovers([dir]).length === 0, 10_000)).toBe(true)
    expect(leftovers([dir])).toEqual([])
  }, 120_000)

  it("a launcher killed with SIGKILL leaves runners and Postgres that exit on their own", async () => {
    const { dir, file, up } = launch(["--runners", "2", "--threads", "1"])
    const summary = await up
    expect(leftovers([dir]).length).toBeGreaterThanOrEqual(3)
    // The launcher itself (tsx runs the program in a child process of its own): its pid is in the file.
    const launcher = JSON.parse(Fs.readFileSync(file, "utf8")).launcher as number
    process.kill(launcher, "SIGKILL")
    const gone = await until(() => leftovers([dir]).length === 0, 20_000)
    expect(leftovers([dir])).toEqual([])
    expect(gone).toBe(true)
    // Gone, or a zombie waiting for an init process that does not reap (as in some containers): not running.
    for (const runner of summary.runners) expect(running(runner.pid)).toBe(false)
  }, 120_000)

  it("bad input gets one line naming it and exit 1 (a bad flag: 2), and starts nothing", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-launcher-test-"))
    dirs.push(dir)
    const garbage = Path.join(dir, "garbage.json")
    Fs.writeFileSync(garbage, "{ not json")
    const cases: Array<[Array<string>, RegExp]> = [
      [["src/programs/cluster.ts", "start", "--file", Path.join(dir, "a.json"), "--pg", "postgres://me:secret@127.0.0.1:1/db"], /cannot reach Postgres at postgres:\/\/me:\*\*\*@127\.0\.0\.1:1/],
      [["src/programs/cluster.ts", "start", "--file", Path.join(dir, "b.json"), "--host", "0.0.0.0"], /without TLS/],
      [["src/programs/cluster.ts", "status", "--file", garbage], /connection file .*garbage\.json/],
      [["src/programs/pi.ts", "--cluster", Path.join(dir, "missing.json"), "--mode", "actors"], /connection file .*missing\.json: no such file/],
      [["src/programs/cluster.ts", "stop", "--file", garbage], /connection file/]
    ]
    for (const [args, pattern] of cases) {
      const outcome = await Program.run(args)
      const lines = Program.errorLines(outcome.stderr)
      expect(outcome.code, args.join(" ")).toBe(1)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(pattern)
      expect(lines[0]).not.toContain("secret")
    }
    // A bad flag, as in every program: one line, exit code 2.
    const flag = await Program.run(["src/programs/cluster.ts", "start", "--file", Path.join(dir, "c.json"), "--keep-replies", "a week"])
    expect([flag.code, Program.errorLines(flag.stderr).length]).toEqual([2, 1])
    expect(Program.errorLines(flag.stderr)[0]).toContain("--keep-replies")
    expect(leftovers([dir])).toEqual([])
  }, 120_000)
})
