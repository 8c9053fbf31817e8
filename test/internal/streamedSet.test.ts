import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Option, type Scope } from "effect"
import { Redis } from "ioredis"
import { Codec, type EnvelopeParts } from "../../src/codec/Codec.js"
import { Serializer } from "../../src/codec/Serializer.js"
import { encodeHeader, type Header } from "../../src/internal/envelope.js"
import { StreamedSet } from "../../src/internal/streamedSet.js"
import { connectRedis, redisConnectionOptions } from "../../src/security/connectionOptions.js"
import { CACHE_PREFIX, cacheUserConfig, SecurityFixture, startTlsServer } from "../security/fixtures.js"
import { redisCache } from "../support/cache.js"
import { wrap } from "../support/envelope.js"
import { startRedisServer } from "../support/RedisServer.js"

const fields: Header = { serializerId: 1, compressionId: 0, fingerprint: 0x01020304, writtenAt: 1_700_000_000_000 }
const header = encodeHeader(fields)
const partsOf = (payload: Uint8Array | string): EnvelopeParts => ({
  header,
  payload,
  storedSize: header.byteLength + (typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength)
})

const send = (client: Redis, key: string, parts: EnvelopeParts, ttlMillis: number): Promise<unknown> => {
  const command = new StreamedSet(key, parts, ttlMillis)
  client.sendCommand(command)
  return command.promise
}
const sendOrRefusal = (client: Redis, key: string, parts: EnvelopeParts) =>
  Effect.promise(() => send(client, key, parts, 60_000).then(() => "stored", (error: Error) => error.message))

const plainClient = (port: number): Effect.Effect<Redis, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 0 })),
    (client) => Effect.sync(() => client.disconnect())
  )

// Characters of one to four UTF-8 bytes, and bytes of every value.
const text = `{"t":"${"aé✓🎉".repeat(4000)}"}`
const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256))

/** Sends text and binary envelopes under non-ASCII keys, with other commands between them, and reads them back. */
const roundTrips = (client: Redis, prefix: string) =>
  Effect.gen(function*() {
    const cases = Array.from({ length: 12 }, (_, i) => ({
      key: `${prefix}ключ:${i}`,
      payload: i % 2 === 0 ? `${text}${i}` : Buffer.concat([bytes, Buffer.from([i])]),
      ttl: 60_000 + i * 1000
    }))
    // All sent before the first reply, each followed by a PTTL of its key: replies stay in
    // step with the commands, and each SET has landed before the next command runs.
    const replies = yield* Effect.promise(() =>
      Promise.all(cases.flatMap(({ key, payload, ttl }) => [send(client, key, partsOf(payload), ttl), client.pttl(key)]))
    )
    cases.forEach(({ key, ttl }, i) => {
      assert.strictEqual(String(replies[2 * i]), "OK")
      const pttl = Number(replies[2 * i + 1])
      assert.isTrue(pttl > ttl - 10_000 && pttl <= ttl, `${key}: ${pttl}`)
    })
    for (const { key, payload } of cases) {
      const stored = yield* Effect.promise(() => client.getBuffer(key))
      assert.isTrue(stored?.equals(wrap(fields, payload)), key)
    }
  })

describe("StreamedSet (real redis-server)", () => {
  it.live("stores exactly header then payload, text as UTF-8, under any key, with the TTL", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      yield* roundTrips(yield* plainClient(server.port), "")
    }))

  it.live("a refused SET fails alone and leaves the connection in step", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ args: ["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"] })
      const client = yield* plainClient(server.port)
      yield* server.cli(
        "EVAL",
        "for i = 1, 3000 do redis.call('SET', 'filler:' .. i, string.rep('x', 1000)) end return 1",
        "0"
      )
      const [refused, echoed] = yield* Effect.all([
        sendOrRefusal(client, "big", partsOf(text)),
        Effect.promise(() => client.echo("after"))
      ], { concurrency: "unbounded" })
      assert.include(refused, "OOM")
      assert.strictEqual(echoed, "after")
      assert.strictEqual(yield* Effect.promise(() => client.exists("big")), 0)
    }))
})

layer(SecurityFixture.layer, { excludeTestServices: true })("StreamedSet over TLS with an ACL user", (it) => {
  it.effect("writes the parts through the TLS socket; a key outside the user's prefix is refused alone", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const settings = yield* redisConnectionOptions(server.url, Option.some(cacheUserConfig(files)))
      const client = yield* connectRedis(server.url, settings)
      yield* roundTrips(client, CACHE_PREFIX)
      assert.include(yield* sendOrRefusal(client, "elsewhere", partsOf(bytes)), "NOPERM")
      assert.isTrue((yield* Effect.promise(() => client.exists(`${CACHE_PREFIX}ключ:0`))) === 1)
    }))

  it.effect("a cache over TLS stores large values of every payload kind and reads them back", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const security = cacheUserConfig(files)
      const value = (i: number) => ({ i, text: `é✓🎉 ${i} `.repeat(2000), n: [1.5, -2, i] })
      const uncompressed = 16 * 1024 * 1024
      const kinds = [
        ["json", { compressionThreshold: uncompressed }],
        ["json compressed", {}],
        ["structured", { serializer: Serializer.structured, compressionThreshold: uncompressed }]
      ] as const
      for (const [label, codecOptions] of kinds) {
        const options = { redisUrl: server.url, security, keyPrefix: CACHE_PREFIX, ...codecOptions }
        const writer = yield* redisCache({ ...options, cacheName: `writer-${label.replace(" ", "-")}` })
        const reader = yield* redisCache({ ...options, enableL1: false, cacheName: `reader-${label.replace(" ", "-")}` })
        const keys = Array.from({ length: 10 }, (_, i) => [i, `${label}:${i}`] as const)
        yield* Effect.forEach(keys, ([i, key]) => writer.set(key, value(i)), { concurrency: "unbounded", discard: true })
        yield* writer.set(`${label}:alone`, value(99))
        for (const [i, key] of [...keys, [99, `${label}:alone`] as const]) {
          assert.deepStrictEqual(yield* reader.get(key), Option.some(value(i)), `${label} ${key}`)
        }
      }
      // A stored JSON value is the codec's envelope byte for byte, plus the write time and the expiry (6 bytes each).
      const client = yield* connectRedis(server.url, yield* redisConnectionOptions(server.url, Option.some(security)))
      const stored = yield* Effect.promise(() => client.getBuffer(`${CACHE_PREFIX}json:3`))
      const encoded = yield* Codec.make({ compressionThreshold: uncompressed }).encode("k", value(3))
      assert.isTrue(stored !== null)
      assert.strictEqual(stored!.byteLength, encoded.storedSize + 12)
      assert.strictEqual(stored!.subarray(encoded.header.byteLength + 12).toString("utf8"), encoded.payload)
    }))
})
