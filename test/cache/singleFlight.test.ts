import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { startRedisServer } from "../support/RedisServer.js"
import { redisCache } from "../support/cache.js"

const CALLERS = 1_000
const ROUNDS = 20

const lookups = {
  "answers at once": (count: () => void) => Effect.sync(count).pipe(Effect.as("value")),
  "answers later": (count: () => void) => Effect.sync(count).pipe(Effect.andThen(Effect.sleep("5 millis")), Effect.as("value")),
  "fails at once": (count: () => void) => Effect.sync(count).pipe(Effect.andThen(Effect.fail("backend down" as const))),
  "fails later": (count: () => void) =>
    Effect.sync(count).pipe(Effect.andThen(Effect.sleep("5 millis")), Effect.andThen(Effect.fail("backend down" as const))),
  "dies": (count: () => void) => Effect.sync(count).pipe(Effect.andThen(Effect.die(new Error("bug"))))
} as const

describe("getOrSet: one lookup per cold key on layerRedis", () => {
  for (const enableL1 of [true, false]) {
    for (const [name, make] of Object.entries(lookups)) {
      it.live(`${CALLERS} concurrent callers, a lookup that ${name}, L1 ${enableL1 ? "on" : "off"}: it runs once per round`, () =>
        Effect.scoped(Effect.gen(function*() {
          const server = yield* startRedisServer()
          const cache = yield* redisCache({ redisUrl: server.url, enableL1 })
          for (let round = 0; round < ROUNDS; round++) {
            let runs = 0
            const lookup = make(() => runs++)
            const key = `cold:${round}`
            const exits = yield* Effect.all(
              Array.from({ length: CALLERS }, () => Effect.exit(cache.getOrSet(key, lookup))),
              { concurrency: "unbounded" }
            )
            assert.strictEqual(runs, 1, `round ${round}: the lookup ran ${runs} times`)
            const succeeded = exits.filter(Exit.isSuccess).length
            if (name.startsWith("answers")) assert.strictEqual(succeeded, CALLERS)
            else {
              // every caller sees the failure; nothing is cached
              assert.strictEqual(succeeded, 0)
              assert.strictEqual(yield* server.cli("EXISTS", `cache:${key}`), "0")
            }
          }
        })))
    }
  }
})
