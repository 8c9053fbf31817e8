/**
 * The three libraries of the peers suite behind one Promise interface, each set up as its
 * documentation sets up two tiers (memory, then Redis), with the same TTL and JSON values.
 *
 * This module lives beside bench/peers/package.json so that the peers' packages resolve
 * from bench/peers/node_modules (bentocache's Redis driver with its own ioredis 5), while
 * this cache and its ioredis 6 resolve from the root. The peers are imported by a name
 * held in a variable: the type checker never looks for them, so `npm ci` at the root
 * (CI) type-checks the bench without installing them. The few members used are typed here.
 */
import * as fs from "node:fs"
import { Layer, References } from "effect"
import { Cache, CacheClient } from "../lib/library.js"
import type { PeerLibrary } from "../lib/peers.js"

/** What the scenarios need of a cache. */
export interface PeerCache {
  /** The value at `key`, `undefined` on a miss. */
  readonly get: (key: string) => Promise<unknown>
  readonly set: (key: string, value: object) => Promise<void>
  readonly close: () => Promise<void>
}

/** How to open one. */
export interface PeerOptions {
  readonly port: number
  /** Entries the memory tier holds at most. */
  readonly l1Entries: number
  /** Prefix of every Redis key it writes. */
  readonly prefix: string
}

/** The TTL of every entry of every library: one hour. */
export const TTL_MILLIS = 3_600_000

// Far above any value measured: the peers do not compress, so neither does this cache here.
const NO_COMPRESSION = 16 * 1024 * 1024

const openCache = async (options: PeerOptions): Promise<PeerCache> => {
  const client = await CacheClient.make(
    Cache.layerRedis({
      redisUrl: `redis://127.0.0.1:${options.port}`,
      keyPrefix: options.prefix,
      cacheName: "bench-peers",
      defaultTtl: TTL_MILLIS,
      l1MaxEntries: options.l1Entries,
      l1MaxBytes: 256 * 1024 * 1024,
      compressionThreshold: NO_COMPRESSION,
      failOnConnectionError: true
    }).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error")))
  )
  return { get: client.get, set: (key, value) => client.set(key, value), close: client.close }
}

interface BentoCacheInstance {
  get(options: { readonly key: string }): Promise<unknown>
  set(options: { readonly key: string; readonly value: unknown }): Promise<boolean>
  disconnectAll(): Promise<void>
}
interface BentoModule {
  readonly BentoCache: new(options: object) => BentoCacheInstance
  readonly bentostore: () => { useL1Layer(driver: object): { useL2Layer(driver: object): object } }
}

const openBentocache = async (options: PeerOptions): Promise<PeerCache> => {
  const bento: BentoModule = await import(peerModule("bentocache"))
  const { memoryDriver } = (await import(peerModule("bentocache/drivers/memory"))) as { memoryDriver: (o: object) => object }
  const { redisDriver } = (await import(peerModule("bentocache/drivers/redis"))) as { redisDriver: (o: object) => object }
  const cache = new bento.BentoCache({
    default: "bench",
    prefix: options.prefix,
    ttl: TTL_MILLIS,
    stores: {
      bench: bento.bentostore()
        // Its default, serialize: true, keeps JSON in L1 and parses it on every L1 hit. The
        // option that keeps the object itself (false, as this cache's L1 does) fails in 1.6.1 on
        // an L1 hit of an entry that an L2 hit put there (it parses the L2 text as an object).
        .useL1Layer(memoryDriver({ maxItems: options.l1Entries }))
        .useL2Layer(redisDriver({ connection: { host: "127.0.0.1", port: options.port } }))
    }
  })
  return {
    get: (key) => cache.get({ key }),
    set: async (key, value) => {
      await cache.set({ key, value })
    },
    close: () => cache.disconnectAll()
  }
}

interface CacheableInstance {
  get(key: string): Promise<unknown>
  set(key: string, value: unknown): Promise<boolean>
  disconnect(): Promise<void>
}
interface CacheableModule {
  readonly Cacheable: new(options: object) => CacheableInstance
  readonly createKeyv: (options: object) => object
}

const openCacheable = async (options: PeerOptions): Promise<PeerCache> => {
  const { Cacheable, createKeyv }: CacheableModule = await import(peerModule("cacheable"))
  const { default: KeyvRedis } = (await import(peerModule("@keyv/redis"))) as {
    default: new(url: string, options: object) => object
  }
  const cache = new Cacheable({
    // The default primary, bounded like the others' L1 and without its structuredClone on every
    // hit (useClone, default true): this cache's L1 hands out the object it holds too.
    primary: createKeyv({ lruSize: options.l1Entries, useClone: false }),
    secondary: new KeyvRedis(`redis://127.0.0.1:${options.port}`, { namespace: options.prefix }),
    ttl: TTL_MILLIS
  })
  return {
    get: (key) => cache.get(key),
    set: async (key, value) => {
      await cache.set(key, value)
    },
    close: () => cache.disconnect()
  }
}

/** The installed version of a peer (from bench/peers/node_modules), `undefined` for this cache. */
export const peerVersion = (library: PeerLibrary): string | undefined => {
  if (library === "cache") return undefined
  const manifest = new URL(`./node_modules/${library}/package.json`, import.meta.url) // each is its package's name
  return (JSON.parse(fs.readFileSync(manifest, "utf8")) as { readonly version: string }).version
}

// A name the type checker does not resolve (see the module comment).
const peerModule = (name: string): string => name

/** Opens `library` connected to the server on `options.port`. */
export const openPeer = (library: PeerLibrary, options: PeerOptions): Promise<PeerCache> =>
  library === "cache" ? openCache(options) : library === "bentocache" ? openBentocache(options) : openCacheable(options)
