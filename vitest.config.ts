import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Redis-backed suites start their own servers; give process start-up and fault tests room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file starts its own redis-server processes; two cores are enough for two files at a time.
    maxWorkers: 2,
    fileParallelism: true
  }
})
