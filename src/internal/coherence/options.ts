/**
 * The settings of an invalidation link, resolved from the cache's options.
 */
import type { Duration, Option, Schedule } from "effect"
import type { SecurityConfig } from "../../security/SecurityConfig.js"
import type { RedisTopology } from "../../tiers/RedisTopology.js"

/** Settings of a link. */
export interface LinkOptions {
  readonly mechanism: "tracking" | "bus"
  readonly redisUrl: string
  /** Where the data connection goes: the subscriber follows it (subscriberTarget.ts). */
  readonly topology: RedisTopology
  readonly security: Option.Option<SecurityConfig>
  readonly keyPrefix: string
  readonly cacheName: string
  readonly connectTimeoutMillis: number
  readonly commandTimeoutMillis: number
  readonly reconnectSchedule: Schedule.Schedule<unknown, unknown>
  readonly pingInterval: Duration.Duration
}
