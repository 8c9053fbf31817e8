/**
 * The monitor's analytics: the records it keeps and the statistics, warnings
 * and recommendations computed from them. Pure functions over plain data, so
 * `CacheMonitor` owns the state and the clock and this module owns the numbers.
 *
 * Shapes follow the original `CachePerformanceMonitor`'s dictionaries in
 * camelCase, with units in the names (`Millis`, `MiB` = 1024² bytes).
 *
 * @since 0.1.0
 */

/**
 * A cache operation the monitor records.
 *
 * @since 0.1.0
 */
export type CacheOperation = "get" | "set" | "delete" | "exists" | "ttl" | "clear" | "invalidate" | "getOrSet"

/**
 * The tier that answered an operation: `miss` when none had the key, `none`
 * for writes.
 *
 * @since 0.1.0
 */
export type AnsweringTier = "l1" | "l2" | "miss" | "none"

/**
 * A cache's mode. `Memory` is a memory-only cache by construction; the others
 * are the states of a Redis-backed cache.
 *
 * @since 0.1.0
 */
export type CacheMode = "Connected" | "MemoryOnly" | "Connecting" | "Memory"

/**
 * One recorded operation. `timestamp` is Unix milliseconds from Effect's `Clock`.
 *
 * @since 0.1.0
 */
export interface OperationRecord {
  readonly timestamp: number
  readonly operation: CacheOperation
  readonly tier: AnsweringTier
  readonly durationMillis: number
  readonly success: boolean
  readonly errorTag?: string
  readonly textLength: number
}

/**
 * One key generation of the AI cache.
 *
 * @since 0.1.0
 */
export interface KeyGenerationRecord {
  readonly timestamp: number
  readonly durationMillis: number
  readonly textLength: number
  readonly operation: string
  readonly additionalData: Readonly<Record<string, unknown>>
}

/**
 * One compression. `compressionRatio` is compressed / original (1 when the
 * original is empty): lower is better.
 *
 * @since 0.1.0
 */
export interface CompressionRecord {
  readonly timestamp: number
  readonly originalSize: number
  readonly compressedSize: number
  readonly compressionRatio: number
  readonly durationMillis: number
  readonly operation: string
}

/**
 * One snapshot of L1's size, taken by the monitor's snapshot fiber and on
 * each analytics read.
 *
 * @since 0.1.0
 */
export interface MemoryMeasurement {
  readonly timestamp: number
  readonly entries: number
  readonly bytes: number
  readonly maxEntries: number
  readonly maxBytes: number
  readonly avgEntrySizeBytes: number
  readonly processMemoryMiB: number
}

/**
 * One pattern invalidation.
 *
 * @since 0.1.0
 */
export interface InvalidationRecord {
  readonly timestamp: number
  readonly pattern: string
  readonly keysInvalidated: number
  readonly durationMillis: number
  readonly invalidationType: string
  readonly operationContext: string
}

/**
 * One switch between modes.
 *
 * @since 0.1.0
 */
export interface ModeChangeRecord {
  readonly timestamp: number
  readonly from: CacheMode
  readonly to: CacheMode
  readonly reason: string
  /** The cache that switched, when it has a name (a monitor may serve several). */
  readonly cacheName?: string
}

/**
 * One replay of the writes queued while Redis was away.
 *
 * @since 0.1.0
 */
export interface ReplayRecord {
  readonly timestamp: number
  readonly replayed: number
  readonly skipped: number
  readonly dropped: number
  readonly durationMillis: number
}

/**
 * Count, mean, median, p95, p99, max and min of a list of durations.
 *
 * @since 0.1.0
 */
export interface DurationSummary {
  readonly count: number
  readonly avgDurationMillis: number
  readonly medianDurationMillis: number
  readonly p95DurationMillis: number
  readonly p99DurationMillis: number
  readonly maxDurationMillis: number
  readonly minDurationMillis: number
}

/**
 * Key-generation timings.
 *
 * @since 0.1.0
 */
export interface KeyGenerationStats extends DurationSummary {
  readonly totalOperations: number
  readonly avgTextLength: number
  readonly maxTextLength: number
  /** Generations slower than the key-generation threshold. */
  readonly slowOperations: number
}

/**
 * Timings of the recorded operations, overall and per operation.
 *
 * @since 0.1.0
 */
export interface CacheOperationStats extends DurationSummary {
  readonly totalOperations: number
  /** Operations slower than the slow-operation threshold. */
  readonly slowOperations: number
  readonly failedOperations: number
  /** Failures by error tag. */
  readonly errorsByType: Readonly<Record<string, number>>
  readonly byOperationType: Readonly<Partial<Record<CacheOperation, DurationSummary>>>
}

/**
 * Compression efficiency. Ratios are compressed / original: the best is the smallest.
 *
 * @since 0.1.0
 */
export type CompressionStats =
  | { readonly noMeasurements: true }
  | {
    readonly noMeasurements: false
    readonly totalOperations: number
    readonly avgCompressionRatio: number
    readonly medianCompressionRatio: number
    readonly bestCompressionRatio: number
    readonly worstCompressionRatio: number
    readonly avgCompressionTimeMillis: number
    readonly maxCompressionTimeMillis: number
    readonly totalBytesProcessed: number
    readonly totalBytesSaved: number
    readonly overallSavingsPercent: number
  }

/**
 * L1's size now, against its bounds and the monitor's thresholds, and its trend.
 *
 * @since 0.1.0
 */
export type MemoryUsageStats =
  | {
    readonly noMeasurements: true
    readonly warningThresholdMiB: number
    readonly criticalThresholdMiB: number
  }
  | {
    readonly noMeasurements: false
    readonly current: {
      readonly entries: number
      readonly bytes: number
      readonly sizeMiB: number
      readonly maxEntries: number
      readonly maxBytes: number
      readonly avgEntrySizeBytes: number
      readonly processMemoryMiB: number
      /** bytes / maxBytes × 100. */
      readonly byteUtilizationPercent: number
      /** entries / maxEntries × 100. */
      readonly entryUtilizationPercent: number
      /** bytes / warning threshold × 100, as the original reports it. */
      readonly cacheUtilizationPercent: number
      readonly warningThresholdReached: boolean
    }
    readonly thresholds: {
      readonly warningThresholdMiB: number
      readonly criticalThresholdMiB: number
      readonly warningThresholdReached: boolean
      readonly criticalThresholdReached: boolean
    }
    /** Over the last 10 snapshots. */
    readonly trends: {
      readonly totalMeasurements: number
      readonly avgSizeMiB: number
      readonly maxSizeMiB: number
      readonly avgEntryCount: number
      readonly maxEntryCount: number
      /** Present with two or more snapshots spread over time. */
      readonly growthRateMiBPerHour?: number
    }
  }

/**
 * A memory warning with what to do about it.
 *
 * @since 0.1.0
 */
export interface MemoryWarning {
  readonly severity: "critical" | "warning" | "info"
  readonly message: string
  readonly recommendations: ReadonlyArray<string>
}

/**
 * The invalidation alert level: the events of the last hour against the thresholds.
 *
 * @since 0.1.0
 */
export type InvalidationAlertLevel = "normal" | "warning" | "critical"

/**
 * Invalidation frequency, patterns and efficiency.
 *
 * @since 0.1.0
 */
export type InvalidationStats =
  | {
    readonly noInvalidations: true
    readonly totalInvalidations: 0
    readonly totalKeysInvalidated: 0
    readonly warningThresholdPerHour: number
    readonly criticalThresholdPerHour: number
  }
  | {
    readonly noInvalidations: false
    readonly totalInvalidations: number
    readonly totalKeysInvalidated: number
    /** Counted over the retained events, so a window longer than the retention sees only the retention. */
    readonly rates: { readonly lastHour: number; readonly last24Hours: number; readonly averagePerHour: number }
    readonly thresholds: {
      readonly warningPerHour: number
      readonly criticalPerHour: number
      readonly currentAlertLevel: InvalidationAlertLevel
    }
    /** Over the last 50 events: the ten most common patterns, most common first, and the count per type. */
    readonly patterns: {
      readonly analyzedEvents: number
      readonly mostCommonPatterns: ReadonlyArray<{ readonly pattern: string; readonly count: number }>
      readonly invalidationTypes: Readonly<Record<string, number>>
    }
    readonly efficiency: {
      readonly avgKeysPerInvalidation: number
      readonly avgDurationMillis: number
      readonly maxDurationMillis: number
    }
  }

/**
 * A recommendation drawn from the invalidation statistics.
 *
 * @since 0.1.0
 */
export interface InvalidationRecommendation {
  readonly severity: "critical" | "warning" | "info"
  readonly issue:
    | "High invalidation frequency"
    | "Dominant invalidation pattern"
    | "Low invalidation efficiency"
    | "High invalidation impact"
  readonly message: string
  readonly suggestions: ReadonlyArray<string>
}

/**
 * Connection health: the current mode, switches, reconnects and replays since the last reset.
 *
 * @since 0.1.0
 */
export interface ConnectionStats {
  /**
   * The mode of the cache; with several caches, the least healthy of their modes
   * (MemoryOnly, then Connecting, Connected, Memory). Unknown until a cache reports one.
   */
  readonly currentMode: CacheMode | "Unknown"
  /** Each served cache's mode, by cache name (`default` for a cache without one). */
  readonly modes: Readonly<Record<string, CacheMode>>
  readonly modeChanges: number
  readonly reconnectAttempts: number
  readonly reconnectFailures: number
  readonly replayedWrites: number
  readonly skippedWrites: number
  readonly droppedWrites: number
}

/**
 * Everything at once, like the original's `get_performance_stats`. A section
 * is present only when it has data.
 *
 * @since 0.1.0
 */
export interface PerformanceStats {
  readonly timestamp: string
  readonly retentionHours: number
  /** hits / (hits + misses) × 100 over reads (gets), L1 hits included; 0 before any read. */
  readonly cacheHitRate: number
  /** Recorded operations plus L1 hits (which are counted, not recorded). */
  readonly totalCacheOperations: number
  readonly cacheHits: number
  readonly cacheMisses: number
  readonly l1Hits: number
  readonly l2Hits: number
  readonly serializationErrors: { readonly encode: number; readonly decode: number }
  readonly connection: ConnectionStats
  readonly keyGeneration?: KeyGenerationStats
  readonly cacheOperations?: CacheOperationStats
  readonly compression?: CompressionStats
  readonly memoryUsage?: MemoryUsageStats
  readonly invalidation?: InvalidationStats
}

/**
 * A recorded operation much slower than its baseline.
 *
 * @since 0.1.0
 */
export interface SlowOperation {
  readonly durationMillis: number
  readonly operationType: string
  readonly textLength: number
  readonly timestamp: string
  readonly timesSlower: number
}

/**
 * A compression much slower than its baseline.
 *
 * @since 0.1.0
 */
export interface SlowCompression {
  readonly compressionTimeMillis: number
  readonly originalSize: number
  readonly compressionRatio: number
  readonly operationType: string
  readonly timestamp: string
  readonly timesSlower: number
}

/**
 * Recent outliers per category. The baseline of a category is the mean of its
 * fastest 80 %; an item is listed when it takes at least baseline × multiplier.
 *
 * @since 0.1.0
 */
export interface SlowOperations {
  readonly keyGeneration: ReadonlyArray<SlowOperation>
  readonly cacheOperations: ReadonlyArray<SlowOperation>
  readonly compression: ReadonlyArray<SlowCompression>
}

/**
 * Every retained record and every counter, for archiving or offline analysis.
 *
 * @since 0.1.0
 */
export interface ExportedMetrics {
  readonly keyGenerationTimes: ReadonlyArray<KeyGenerationRecord>
  readonly cacheOperationTimes: ReadonlyArray<OperationRecord>
  readonly compressionRatios: ReadonlyArray<CompressionRecord>
  readonly memoryUsageMeasurements: ReadonlyArray<MemoryMeasurement>
  readonly invalidationEvents: ReadonlyArray<InvalidationRecord>
  readonly modeChanges: ReadonlyArray<ModeChangeRecord>
  readonly replays: ReadonlyArray<ReplayRecord>
  readonly cacheHits: number
  readonly cacheMisses: number
  readonly l1Hits: number
  readonly l2Hits: number
  readonly totalOperations: number
  readonly totalInvalidations: number
  readonly totalKeysInvalidated: number
  readonly serializationErrors: { readonly encode: number; readonly decode: number }
  readonly connection: ConnectionStats
  readonly exportTimestamp: string
}

/**
 * The thresholds the analytics compare against (resolved monitor options).
 *
 * @since 0.1.0
 */
export interface Thresholds {
  readonly memoryWarningBytes: number
  readonly memoryCriticalBytes: number
  readonly slowOperationMillis: number
  readonly slowKeyGenerationMillis: number
  readonly invalidationWarningPerHour: number
  readonly invalidationCriticalPerHour: number
}

// Four one-line functions over sorted arrays do not justify a statistics dependency.

const sum = (values: ReadonlyArray<number>): number => values.reduce((total, value) => total + value, 0)

const mean = (values: ReadonlyArray<number>): number => values.length === 0 ? 0 : sum(values) / values.length

const sortedAscending = (values: ReadonlyArray<number>): Array<number> => [...values].sort((a, b) => a - b)

/** Median of a sorted list: the middle value, or the mean of the two middle values. */
const medianOfSorted = (sorted: ReadonlyArray<number>): number => {
  if (sorted.length === 0) return 0
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Nearest-rank percentile of a sorted list: always an observed value (p95 of 1..100 is 95). */
const percentileOfSorted = (sorted: ReadonlyArray<number>, percent: number): number => {
  if (sorted.length === 0) return 0
  const rank = Math.ceil((percent / 100) * sorted.length)
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1]!
}

const MiB = 1024 * 1024
const hourMillis = 3_600_000
const recentInvalidationWindow = 50
const memoryTrendWindow = 10

const toIso = (millis: number): string => new Date(millis).toISOString()

const percent = (part: number, whole: number): number => whole > 0 && Number.isFinite(whole) ? (part / whole) * 100 : 0

/**
 * Count, mean, median, p95, p99, max and min of durations in milliseconds.
 *
 * @since 0.1.0
 */
export const summarizeDurations = (durations: ReadonlyArray<number>): DurationSummary => {
  const sorted = sortedAscending(durations)
  return {
    count: sorted.length,
    avgDurationMillis: mean(sorted),
    medianDurationMillis: medianOfSorted(sorted),
    p95DurationMillis: percentileOfSorted(sorted, 95),
    p99DurationMillis: percentileOfSorted(sorted, 99),
    maxDurationMillis: sorted.length === 0 ? 0 : sorted[sorted.length - 1]!,
    minDurationMillis: sorted.length === 0 ? 0 : sorted[0]!
  }
}

/**
 * Key-generation statistics, or `undefined` without records.
 *
 * @since 0.1.0
 */
export const keyGenerationStats = (
  records: ReadonlyArray<KeyGenerationRecord>,
  thresholds: Thresholds
): KeyGenerationStats | undefined => {
  if (records.length === 0) return undefined
  const durations = records.map((r) => r.durationMillis)
  const textLengths = records.map((r) => r.textLength)
  return {
    totalOperations: records.length,
    ...summarizeDurations(durations),
    avgTextLength: mean(textLengths),
    maxTextLength: Math.max(...textLengths),
    slowOperations: durations.filter((d) => d > thresholds.slowKeyGenerationMillis).length
  }
}

/**
 * Operation statistics, or `undefined` without records.
 *
 * @since 0.1.0
 */
export const cacheOperationStats = (
  records: ReadonlyArray<OperationRecord>,
  thresholds: Thresholds
): CacheOperationStats | undefined => {
  if (records.length === 0) return undefined
  const durations = records.map((r) => r.durationMillis)
  const durationsByOperation = new Map<CacheOperation, Array<number>>()
  const errorsByType: Record<string, number> = {}
  let failedOperations = 0
  for (const record of records) {
    const list = durationsByOperation.get(record.operation)
    if (list === undefined) durationsByOperation.set(record.operation, [record.durationMillis])
    else list.push(record.durationMillis)
    if (!record.success) {
      failedOperations++
      const tag = record.errorTag ?? "Unknown"
      errorsByType[tag] = (errorsByType[tag] ?? 0) + 1
    }
  }
  const byOperationType: Partial<Record<CacheOperation, DurationSummary>> = {}
  for (const [operation, list] of durationsByOperation) byOperationType[operation] = summarizeDurations(list)
  return {
    totalOperations: records.length,
    ...summarizeDurations(durations),
    slowOperations: durations.filter((d) => d > thresholds.slowOperationMillis).length,
    failedOperations,
    errorsByType,
    byOperationType
  }
}

/**
 * Compression statistics.
 *
 * @since 0.1.0
 */
export const compressionStats = (records: ReadonlyArray<CompressionRecord>): CompressionStats => {
  if (records.length === 0) return { noMeasurements: true }
  const ratios = sortedAscending(records.map((r) => r.compressionRatio))
  const times = records.map((r) => r.durationMillis)
  const totalOriginal = sum(records.map((r) => r.originalSize))
  const totalCompressed = sum(records.map((r) => r.compressedSize))
  const saved = totalOriginal - totalCompressed
  return {
    noMeasurements: false,
    totalOperations: records.length,
    avgCompressionRatio: mean(ratios),
    medianCompressionRatio: medianOfSorted(ratios),
    bestCompressionRatio: ratios[0]!,
    worstCompressionRatio: ratios[ratios.length - 1]!,
    avgCompressionTimeMillis: mean(times),
    maxCompressionTimeMillis: Math.max(...times),
    totalBytesProcessed: totalOriginal,
    totalBytesSaved: saved,
    overallSavingsPercent: percent(saved, totalOriginal)
  }
}

/**
 * Memory statistics from the L1 snapshots.
 *
 * @since 0.1.0
 */
export const memoryUsageStats = (
  measurements: ReadonlyArray<MemoryMeasurement>,
  thresholds: Thresholds
): MemoryUsageStats => {
  const latest = measurements[measurements.length - 1]
  if (latest === undefined) {
    return {
      noMeasurements: true,
      warningThresholdMiB: thresholds.memoryWarningBytes / MiB,
      criticalThresholdMiB: thresholds.memoryCriticalBytes / MiB
    }
  }
  const recent = measurements.slice(-memoryTrendWindow)
  const sizes = recent.map((m) => m.bytes)
  const entryCounts = recent.map((m) => m.entries)
  const first = recent[0]!
  const span = latest.timestamp - first.timestamp
  const warningThresholdReached = latest.bytes >= thresholds.memoryWarningBytes
  return {
    noMeasurements: false,
    current: {
      entries: latest.entries,
      bytes: latest.bytes,
      sizeMiB: latest.bytes / MiB,
      maxEntries: latest.maxEntries,
      maxBytes: latest.maxBytes,
      avgEntrySizeBytes: latest.avgEntrySizeBytes,
      processMemoryMiB: latest.processMemoryMiB,
      byteUtilizationPercent: percent(latest.bytes, latest.maxBytes),
      entryUtilizationPercent: percent(latest.entries, latest.maxEntries),
      cacheUtilizationPercent: percent(latest.bytes, thresholds.memoryWarningBytes),
      warningThresholdReached
    },
    thresholds: {
      warningThresholdMiB: thresholds.memoryWarningBytes / MiB,
      criticalThresholdMiB: thresholds.memoryCriticalBytes / MiB,
      warningThresholdReached,
      criticalThresholdReached: latest.bytes >= thresholds.memoryCriticalBytes
    },
    trends: {
      totalMeasurements: measurements.length,
      avgSizeMiB: mean(sizes) / MiB,
      maxSizeMiB: Math.max(...sizes) / MiB,
      avgEntryCount: mean(entryCounts),
      maxEntryCount: Math.max(...entryCounts),
      ...(recent.length >= 2 && span > 0
        ? { growthRateMiBPerHour: ((latest.bytes - first.bytes) / span) * hourMillis / MiB }
        : {})
    }
  }
}

/**
 * Memory warnings for the latest snapshot: critical or warning against the
 * byte thresholds, and info when L1 is over 90 % of its real entry or byte bound.
 *
 * @since 0.1.0
 */
export const memoryWarnings = (
  measurements: ReadonlyArray<MemoryMeasurement>,
  thresholds: Thresholds
): ReadonlyArray<MemoryWarning> => {
  const latest = measurements[measurements.length - 1]
  if (latest === undefined) return []
  const warnings: Array<MemoryWarning> = []
  const sizeMiB = (latest.bytes / MiB).toFixed(1)
  if (latest.bytes >= thresholds.memoryCriticalBytes) {
    warnings.push({
      severity: "critical",
      message: `L1 memory usage is ${sizeMiB} MiB, at or above the critical threshold of ${
        (thresholds.memoryCriticalBytes / MiB).toFixed(1)
      } MiB`,
      recommendations: [
        "Consider reducing cache TTL values",
        "Lower the L1 byte bound so eviction starts earlier",
        "Review and optimize large cached values (or enable compression)",
        "Consider increasing memory limits or scaling horizontally"
      ]
    })
  } else if (latest.bytes >= thresholds.memoryWarningBytes) {
    warnings.push({
      severity: "warning",
      message: `L1 memory usage is ${sizeMiB} MiB, at or above the warning threshold of ${
        (thresholds.memoryWarningBytes / MiB).toFixed(1)
      } MiB`,
      recommendations: [
        "Monitor cache growth closely",
        "Review cache key patterns for optimization",
        "Consider reducing the L1 size limit"
      ]
    })
  }
  const entryUtilization = percent(latest.entries, latest.maxEntries)
  if (entryUtilization > 90) {
    warnings.push({
      severity: "info",
      message: `L1 is ${entryUtilization.toFixed(1)}% full (${latest.entries}/${latest.maxEntries} entries)`,
      recommendations: [
        "L1 eviction is working as intended",
        "Consider raising maxEntries if the hit rate is good and memory allows"
      ]
    })
  }
  const byteUtilization = percent(latest.bytes, latest.maxBytes)
  if (byteUtilization > 90) {
    warnings.push({
      severity: "info",
      message: `L1 holds ${byteUtilization.toFixed(1)}% of its byte bound (${latest.bytes}/${latest.maxBytes} bytes)`,
      recommendations: [
        "L1 evicts by size from here on; watch the eviction rate",
        "Consider raising maxBytes or compressing large values"
      ]
    })
  }
  return warnings
}

/**
 * Invalidation frequency statistics at `now`.
 *
 * @since 0.1.0
 */
export const invalidationStats = (
  events: ReadonlyArray<InvalidationRecord>,
  totals: { readonly invalidations: number; readonly keysInvalidated: number },
  now: number,
  retentionHours: number,
  thresholds: Thresholds
): InvalidationStats => {
  if (events.length === 0) {
    return {
      noInvalidations: true,
      totalInvalidations: 0,
      totalKeysInvalidated: 0,
      warningThresholdPerHour: thresholds.invalidationWarningPerHour,
      criticalThresholdPerHour: thresholds.invalidationCriticalPerHour
    }
  }
  const recent = events.slice(-recentInvalidationWindow)
  const lastHour = events.filter((e) => e.timestamp > now - hourMillis).length
  const last24Hours = events.filter((e) => e.timestamp > now - 24 * hourMillis).length
  const patternCounts = new Map<string, number>()
  const invalidationTypes: Record<string, number> = {}
  for (const event of recent) {
    patternCounts.set(event.pattern, (patternCounts.get(event.pattern) ?? 0) + 1)
    invalidationTypes[event.invalidationType] = (invalidationTypes[event.invalidationType] ?? 0) + 1
  }
  const mostCommonPatterns = [...patternCounts]
    .map(([pattern, count]) => ({ pattern, count }))
    .sort((a, b) => b.count - a.count)
    .slice(0, 10)
  const durations = recent.map((e) => e.durationMillis)
  return {
    noInvalidations: false,
    totalInvalidations: totals.invalidations,
    totalKeysInvalidated: totals.keysInvalidated,
    rates: { lastHour, last24Hours, averagePerHour: events.length / retentionHours },
    thresholds: {
      warningPerHour: thresholds.invalidationWarningPerHour,
      criticalPerHour: thresholds.invalidationCriticalPerHour,
      currentAlertLevel: invalidationAlertLevel(lastHour, thresholds)
    },
    patterns: { analyzedEvents: recent.length, mostCommonPatterns, invalidationTypes },
    efficiency: {
      avgKeysPerInvalidation: totals.invalidations > 0 ? totals.keysInvalidated / totals.invalidations : 0,
      avgDurationMillis: mean(durations),
      maxDurationMillis: Math.max(...durations)
    }
  }
}

/**
 * The alert level for a number of invalidations in the last hour.
 *
 * @since 0.1.0
 */
export const invalidationAlertLevel = (lastHour: number, thresholds: Thresholds): InvalidationAlertLevel =>
  lastHour >= thresholds.invalidationCriticalPerHour
    ? "critical"
    : lastHour >= thresholds.invalidationWarningPerHour
    ? "warning"
    : "normal"

/**
 * The original's four recommendation rules. The dominant-pattern rule compares
 * the top pattern with the events it was counted over (the last 50), where the
 * original compared it with every retained event.
 *
 * @since 0.1.0
 */
export const invalidationRecommendations = (stats: InvalidationStats): ReadonlyArray<InvalidationRecommendation> => {
  if (stats.noInvalidations) return []
  const recommendations: Array<InvalidationRecommendation> = []
  if (stats.thresholds.currentAlertLevel !== "normal") {
    recommendations.push({
      severity: stats.thresholds.currentAlertLevel,
      issue: "High invalidation frequency",
      message: `Cache is being invalidated ${stats.rates.lastHour} times per hour`,
      suggestions: [
        "Review invalidation triggers to reduce unnecessary clearing",
        "Consider using more specific patterns for selective invalidation",
        "Check if TTL values are set too low",
        "Analyze if cache warming strategy needs improvement"
      ]
    })
  }
  const top = stats.patterns.mostCommonPatterns[0]
  if (top !== undefined && top.count > stats.patterns.analyzedEvents * 0.5) {
    recommendations.push({
      severity: "info",
      issue: "Dominant invalidation pattern",
      message:
        `Pattern '${top.pattern}' accounts for ${top.count} of the last ${stats.patterns.analyzedEvents} invalidations`,
      suggestions: [
        `Consider optimizing operations that trigger '${top.pattern}' invalidations`,
        "Evaluate if this pattern could be made more specific",
        "Check if related data could be cached with different strategies"
      ]
    })
  }
  const avgKeys = stats.efficiency.avgKeysPerInvalidation
  if (avgKeys < 1) {
    recommendations.push({
      severity: "info",
      issue: "Low invalidation efficiency",
      message: `Average of ${avgKeys.toFixed(1)} keys invalidated per operation`,
      suggestions: [
        "Many invalidation operations are not finding keys to clear",
        "Consider using more targeted patterns",
        "Review if cache keys are structured optimally for invalidation"
      ]
    })
  } else if (avgKeys > 100) {
    recommendations.push({
      severity: "warning",
      issue: "High invalidation impact",
      message: `Average of ${avgKeys.toFixed(0)} keys invalidated per operation`,
      suggestions: [
        "Invalidation operations are clearing large numbers of entries",
        "Consider using more selective patterns to preserve valid cache entries",
        "Evaluate if smaller, more frequent invalidations would be better"
      ]
    })
  }
  return recommendations
}

/**
 * The baseline of a list of durations: the mean of its fastest 80 % (at least one).
 *
 * @since 0.1.0
 */
export const slowBaseline = (durations: ReadonlyArray<number>): number => {
  const sorted = sortedAscending(durations)
  return mean(sorted.slice(0, Math.max(1, Math.floor(sorted.length * 0.8))))
}

const outliers = <A>(
  records: ReadonlyArray<A>,
  durationOf: (record: A) => number,
  multiplier: number
): Array<{ readonly record: A; readonly timesSlower: number }> => {
  if (records.length === 0) return []
  const baseline = slowBaseline(records.map(durationOf))
  if (baseline <= 0) return []
  return records
    .filter((record) => durationOf(record) >= baseline * multiplier)
    .map((record) => ({ record, timesSlower: durationOf(record) / baseline }))
}

/**
 * Recent outliers per category, against the mean of each category's fastest 80 %.
 *
 * @since 0.1.0
 */
export const slowOperations = (
  input: {
    readonly keyGeneration: ReadonlyArray<KeyGenerationRecord>
    readonly operations: ReadonlyArray<OperationRecord>
    readonly compression: ReadonlyArray<CompressionRecord>
  },
  multiplier: number
): SlowOperations => ({
  keyGeneration: outliers(input.keyGeneration, (r) => r.durationMillis, multiplier).map(({ record, timesSlower }) => ({
    durationMillis: record.durationMillis,
    operationType: record.operation,
    textLength: record.textLength,
    timestamp: toIso(record.timestamp),
    timesSlower
  })),
  cacheOperations: outliers(input.operations, (r) => r.durationMillis, multiplier).map(({ record, timesSlower }) => ({
    durationMillis: record.durationMillis,
    operationType: record.operation,
    textLength: record.textLength,
    timestamp: toIso(record.timestamp),
    timesSlower
  })),
  compression: outliers(input.compression, (r) => r.durationMillis, multiplier).map(({ record, timesSlower }) => ({
    compressionTimeMillis: record.durationMillis,
    originalSize: record.originalSize,
    compressionRatio: record.compressionRatio,
    operationType: record.operation,
    timestamp: toIso(record.timestamp),
    timesSlower
  }))
})

/**
 * Hit rate in percent: hits / (hits + misses), 0 before any read.
 *
 * @since 0.1.0
 */
export const hitRate = (hits: number, misses: number): number => percent(hits, hits + misses)

/**
 * A Unix-millisecond time as ISO 8601.
 *
 * @since 0.1.0
 */
export const isoTimestamp = toIso
