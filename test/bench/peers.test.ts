/**
 * How the benchmark pairs each peer's row with this cache's (bench/lib/peers.ts) and prints
 * them (bench/lib/report.ts): by scenario and size, this cache's ops/s over the peer's, in
 * size, scenario and peer order whatever order the rows were measured in.
 */
import { assert, describe, it } from "@effect/vitest"
import type { CaseResult } from "../../bench/lib/harness.js"
import { parsePeerCaseId, peerCaseId, peerComparisons } from "../../bench/lib/peers.js"
import { renderPeers } from "../../bench/lib/report.js"

const row = (id: string, size: "100B" | "2KB", opsPerSec: number): CaseResult => ({
  id,
  label: id,
  size,
  opsPerSec,
  roundOpsPerSec: [opsPerSec],
  p50Us: 100,
  p99Us: 2000,
  latency: "per-op",
  opsPerRound: 1,
  rounds: 1
})

// Measured as the suite measures them: the libraries taking turns, size by size.
const cases = [
  row("l2.get.100.plain", "100B", 1),
  row(peerCaseId("bentocache", "l2.100"), "2KB", 4000),
  row(peerCaseId("cache", "l2.100"), "2KB", 6000),
  row(peerCaseId("cacheable", "l1"), "100B", 100_000),
  row(peerCaseId("cache", "l1"), "100B", 5_000_000),
  row(peerCaseId("cacheable", "l2.100"), "100B", 10_000),
  row(peerCaseId("bentocache", "l2.100"), "100B", 20_000),
  row(peerCaseId("cache", "l2.100"), "100B", 30_000),
  row(peerCaseId("cacheable", "mts.seq"), "100B", 500)
]

describe("bench peers", () => {
  it("reads the library and scenario back from a row's id, and nothing from other rows", () => {
    assert.deepStrictEqual(parsePeerCaseId("peers.bentocache.l2.100"), { library: "bentocache", scenario: "l2.100" })
    assert.strictEqual(parsePeerCaseId("l2.get.100.plain"), undefined)
    assert.strictEqual(parsePeerCaseId("peers.other.l1"), undefined)
    assert.strictEqual(parsePeerCaseId("peers.cache.l3"), undefined)
  })

  it("pairs each peer row with this cache's row of the same scenario and size", () => {
    const pairs = peerComparisons(cases).map((c) => [c.size, c.scenario, c.library, c.ratio])
    assert.deepStrictEqual(pairs, [
      ["100B", "l1", "cacheable", 50],
      ["100B", "l2.100", "bentocache", 1.5],
      ["100B", "l2.100", "cacheable", 3],
      ["100B", "mts.seq", "cacheable", undefined],
      ["2KB", "l2.100", "bentocache", 1.5]
    ])
  })

  it("prints one table row per peer row, and no table without peers", () => {
    const lines = renderPeers(cases)
    assert.strictEqual(lines.filter((line) => line.startsWith("| ") && !line.startsWith("| ---")).length, 1 + 5)
    assert.include(lines.find((line) => line.includes("cacheable") && line.includes("L1 hit"))!, "| 50.00x |")
    assert.deepStrictEqual(renderPeers([row("l2.get.100.plain", "100B", 1)]), [])
  })
})
