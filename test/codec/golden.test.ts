/**
 * The golden fixture proves that stored bytes stay readable: `fixtures/golden.json`
 * holds envelopes written once (by the Node version it names) and every Node
 * version in CI must decode them to the same values and, where the format is
 * deterministic, write the same bytes again.
 *
 * Regenerate (only when the format changes on purpose, with a new envelope version):
 *   UPDATE_GOLDEN=1 npx vitest run test/codec/golden.test.ts
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { inflateSync } from "node:zlib"
import { Codec } from "../../src/codec/Codec.js"
import { Serializer } from "../../src/codec/Serializer.js"
import { unwrap } from "../../src/internal/envelope.js"
import { type GoldenCase, goldenCases } from "./fixtures/values.js"

interface GoldenEntry {
  readonly name: string
  readonly serializer: "json" | "structured"
  readonly compressed: boolean
  readonly hex: string
}
interface GoldenFile {
  readonly description: string
  readonly writtenBy: string
  readonly entries: ReadonlyArray<GoldenEntry>
}

const FIXTURE = new URL("./fixtures/golden.json", import.meta.url)

const codecFor = (serializer: GoldenCase["serializer"], compressed: boolean) =>
  Codec.make({
    serializer: serializer === "json" ? Serializer.json : Serializer.structured,
    compressionThreshold: compressed ? 0 : Number.MAX_SAFE_INTEGER
  })

const encodeHex = (c: Pick<GoldenCase, "serializer" | "compressed" | "value">): string =>
  Buffer.from(Effect.runSync(codecFor(c.serializer, c.compressed).encode("golden", c.value)).bytes).toString("hex")

if (process.env.UPDATE_GOLDEN === "1") {
  const file: GoldenFile = {
    description: "Envelopes written by the effect-redis-cache codec; test/codec/golden.test.ts decodes them on every Node version in CI.",
    writtenBy: `node ${process.version}`,
    entries: goldenCases.map((c) => ({ name: c.name, serializer: c.serializer, compressed: c.compressed, hex: encodeHex(c) }))
  }
  fs.writeFileSync(FIXTURE, `${JSON.stringify(file, null, 2)}\n`)
}

const golden = JSON.parse(fs.readFileSync(FIXTURE, "utf8")) as GoldenFile
const cases = new Map(goldenCases.map((c) => [c.name, c]))
const reader = Codec.make()

describe("golden fixture", () => {
  it("covers every golden value, each serializer plain and compressed", () => {
    assert.deepStrictEqual(golden.entries.map((e) => e.name), goldenCases.map((c) => c.name))
    const kinds = new Set(golden.entries.map((e) => `${e.serializer}/${e.compressed}`))
    assert.deepStrictEqual([...kinds].sort(), ["json/false", "json/true", "structured/false", "structured/true"])
  })

  for (const entry of golden.entries) {
    const expected = cases.get(entry.name)
    it(`${entry.name}: decodes to the same value`, () => {
      assert.isDefined(expected)
      const bytes = Buffer.from(entry.hex, "hex")
      const envelope = unwrap(bytes)
      assert.strictEqual(envelope.compressed, entry.compressed)
      assert.strictEqual(envelope.serializerId, entry.serializer === "json" ? 1 : 2)
      expect(Effect.runSync(reader.decode(entry.name, bytes))).toStrictEqual(expected?.value)
    })

    it(`${entry.name}: is written the same way today`, () => {
      assert.isDefined(expected)
      const today = encodeHex({ serializer: entry.serializer, compressed: entry.compressed, value: expected?.value })
      if (!entry.compressed) {
        assert.strictEqual(today, entry.hex)
        return
      }
      // deflate output may differ between zlib builds (Node 20 and 24 bundle different
      // ones): compare the header and the inflated payload, not the compressed bytes
      const stored = unwrap(Buffer.from(entry.hex, "hex"))
      const fresh = unwrap(Buffer.from(today, "hex"))
      assert.deepStrictEqual(
        { ...fresh, payload: Buffer.from(inflateSync(fresh.payload)) },
        { ...stored, payload: Buffer.from(inflateSync(stored.payload)) }
      )
    })
  }
})
