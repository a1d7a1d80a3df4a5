import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Vitest's default is one fork less than the cores: on CI's 2 cores, one file at a time. Most files wait
    // (worker start, subprocesses, Postgres) more than they compute, so two at a time halve the wall time; the
    // suite is written to hold under that load (generous bounds, per-process checks).
    maxWorkers: 2
  }
})
