/**
 * effect-redis-cache: a fast, safe two-tier cache for Effect v4.
 *
 * @packageDocumentation
 * @since 0.1.0
 */
export {
  Cache,
  type CacheResolverOptions,
  type CacheService,
  type CacheStats,
  type CacheStatus,
  type ResilienceStats,
  defaultReconnectSchedule,
  type GetOrSetManyOptions,
  type GetOrSetOptions,
  type SetManyEntry,
  type SetOptions
} from "./Cache.js"
export * from "./CacheOptions.js"
export { CacheClient } from "./CacheClient.js"
export {
  Invalidation,
  type InvalidationMechanism,
  type InvalidationOptions,
  type InvalidationService,
  type InvalidationStatus,
  type BusChange,
  type PendingKeys
} from "./coherence/Invalidation.js"
export { Codec, type CodecOptions, type CodecService, type Decoded, type EncodeMeta, type Encoded } from "./codec/Codec.js"
export { Compression, zstdAvailable } from "./codec/Compression.js"
export { Serializer, UnsupportedValueError } from "./codec/Serializer.js"
export * from "./errors.js"
export * from "./events/CacheEvents.js"
export { MemoryTier, type MemoryTierOptions, type MemoryTierStats } from "./tiers/MemoryTier.js"
export { type RedisRead, RedisReplyError, RedisTier, type RedisTierOptions, type RedisTierStatus } from "./tiers/RedisTier.js"
export * from "./monitoring/CacheMonitor.js"
export { CacheTracingOptions, sha256KeyHash } from "./monitoring/Tracing.js"
export * as CacheMetrics from "./monitoring/CacheMetrics.js"
export { cacheAclCommands, cacheAclCommandsFor, cacheAclRule } from "./security/aclRule.js"
export { CacheSecurity, type CacheSecurityOptions, type CacheSecurityService } from "./security/CacheSecurity.js"
export {
  classifyConnectionError,
  type ConnectionSettings,
  redactUrl,
  redisConnectionOptions
} from "./security/connectionOptions.js"
export {
  PemSource,
  SecretPemSource,
  SecurityConfig,
  securityConfigFromEnv,
  securityEnvVariables,
  type SecurityLevel,
  TlsVersion,
  validateSecurityConfig
} from "./security/SecurityConfig.js"
export {
  type AuthMethod,
  computeSecurityScore,
  type SecurityEvent,
  type SecurityReport,
  type SecurityStatus,
  type SecurityTestResult,
  type SecurityValidationResult,
  type Vulnerability
} from "./security/SecurityResult.js"
export * from "./ai/AIResponseCache.js"
export {
  AI_KEY_PREFIX,
  type AIKeyOptions,
  type GeneratedKey,
  generateKey,
  keyInputIssues,
  operationKeyPrefix,
  pythonStr
} from "./ai/CacheKeyGenerator.js"
export { type AICacheLayer, CacheFactory, type CacheLayer, layerFromEnv } from "./factory/CacheFactory.js"
export * from "./factory/FactoryOptions.js"
export * from "./factory/presets.js"
export { cacheEnvVariables, configFromEnv, type ConfigSource, type ResolvedCacheConfig } from "./factory/config.js"
export { CacheKeyValueStore, type CacheKeyValueStoreOptions } from "./adapters/KeyValueStore.js"
export {
  CacheBackingPersistence,
  type CacheBackingPersistenceOptions,
  storeNamespace
} from "./adapters/BackingPersistence.js"
export { CacheRedis } from "./adapters/RedisService.js"
