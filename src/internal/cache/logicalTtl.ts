/**
 * `exists` and `ttl` of a cache that keeps entries past their TTL (`staleFor`): Redis's
 * EXISTS and PTTL see the physical lifetime, TTL + staleFor, so these read the entry and
 * its envelope's logical expiry instead. An entry past it is absent, as for `get`.
 */
import { Effect, Option } from "effect"
import { unwrap } from "../envelope.js"
import type { RedisReplyError, RedisTier } from "../../tiers/RedisTier.js"
import type { CacheCore } from "./core.js"

/**
 * Milliseconds left before `key`'s TTL ends (its Redis PTTL when it records no logical
 * expiry), `Option.none()` when it is absent or past its TTL, `undefined` when Redis
 * could not be asked (the same answers as `RedisTier.pttl`).
 */
export const makeLogicalTtl = (core: CacheCore, tier: RedisTier["Service"]) =>
(key: string): Effect.Effect<Option.Option<number> | undefined, RedisReplyError> =>
  Effect.map(tier.read(key, true), (read) => {
    if (read._tag === "Unavailable") return undefined
    if (read._tag === "Miss") return Option.none()
    let expiresAt: number | undefined
    try {
      expiresAt = unwrap(read.bytes).expiresAt
    } catch {
      // not an envelope: get reports it; here it is an entry with its Redis TTL
    }
    if (expiresAt === undefined) return Option.some(read.pttlMillis)
    const left = expiresAt - core.clock.currentTimeMillisUnsafe()
    return left > 0 ? Option.some(Math.min(left, read.pttlMillis)) : Option.none()
  })
