// The API reference builds from the doc comments without a single warning (`npm run docs` writes it to
// docs/api/; here it goes to a temporary folder): a broken {@link}, or a public type that refers to one the
// reference leaves out, fails here, naming it.
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { expect, it } from "vitest"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")

it("npm run docs: the API reference builds without warnings", async () => {
  const out = Fs.mkdtempSync(Path.join(Os.tmpdir(), "actorflow-api-"))
  try {
    const outcome = await new Promise<{ code: number; output: string }>((resolve) =>
      execFile(
        process.execPath,
        [Path.join(root, "node_modules", "typedoc", "bin", "typedoc"), "--out", out, "--treatWarningsAsErrors", "--logLevel", "Warn"],
        { cwd: root, timeout: 180_000 },
        (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, output: stdout + stderr })
      )
    )
    expect(outcome.output.trim()).toBe("")
    expect(outcome.code).toBe(0)
    expect(Fs.existsSync(Path.join(out, "index.html"))).toBe(true)
  } finally {
    Fs.rmSync(out, { recursive: true, force: true })
  }
}, 180_000)
