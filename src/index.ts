/**
 * effect-redis-cache: a fast, safe two-tier cache for Effect v4.
 *
 * @since 0.1.0
 */
export { Cache, type CacheService, type CacheStats, type CacheStatus, defaultReconnectSchedule, type SetOptions } from "./Cache.js"
export * from "./CacheOptions.js"
export { Codec, type CodecOptions, type Encoded } from "./codec/Codec.js"
export { Compression } from "./codec/Compression.js"
export { Serializer } from "./codec/Serializer.js"
export * from "./errors.js"
export * from "./events/CacheEvents.js"
export { MemoryTier, type MemoryTierOptions, type MemoryTierStats } from "./tiers/MemoryTier.js"
export { type RedisRead, RedisReplyError, RedisTier, type RedisTierOptions, type RedisTierStatus } from "./tiers/RedisTier.js"
export * from "./monitoring/CacheMonitor.js"
