import { defineConfig } from "vitest/config"

// vitest 5's reporter calls Map.groupBy (Node >= 21) when it prints failures; on Node 20
// it would crash and hide them. This runs in vitest's main process only, not in tests.
if (typeof (Map as { groupBy?: unknown }).groupBy !== "function") {
  Object.defineProperty(Map, "groupBy", {
    configurable: true,
    writable: true,
    value: <K, V>(items: Iterable<V>, keyOf: (item: V, index: number) => K): Map<K, Array<V>> => {
      const groups = new Map<K, Array<V>>()
      let index = 0
      for (const item of items) {
        const key = keyOf(item, index++)
        const group = groups.get(key)
        if (group === undefined) groups.set(key, [item])
        else group.push(item)
      }
      return groups
    }
  })
}

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The suite's servers are insecure on purpose, so passing tests log a thousand security and
    // degradation warnings. Vitest keeps each test's console output and prints it only when that
    // test (or its suite) fails, so a failure stands out with its logs. `--silent=false` shows all.
    silent: "passed-only",
    // Redis-backed suites start their own servers; give process start-up and fault tests room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file starts its own redis-server processes; two cores are enough for two files at a time.
    maxWorkers: 2,
    fileParallelism: true
  }
})
