/**
 * The slow upstream the HTTP example caches: a product catalogue that takes
 * `delay` to answer each call, as a remote service or a heavy query would.
 *
 * It counts its calls, so that you (and test/examples/httpApi.test.ts) can see
 * how many requests the cache spared it: `GET /upstream` shows the count.
 */
import { Context, type Duration, Effect, Layer, Schema } from "effect"

/** A product as the upstream returns it, and as the cache stores it (the schema checks what comes back from Redis). */
export const Product = Schema.Struct({
  id: Schema.Int,
  name: Schema.String,
  priceCents: Schema.Int,
  /** When the upstream produced this answer: a cached answer keeps the time of the call that filled the cache. */
  fetchedAt: Schema.String
})

/** A product (see {@link Product}). */
export type Product = typeof Product.Type

/** The upstream: one slow call per product, and how many calls were made. */
export class Upstream extends Context.Service<Upstream, {
  readonly fetchProduct: (id: number) => Effect.Effect<Product>
  readonly calls: Effect.Effect<number>
}>()("examples/http-api/Upstream") {
  /** A simulated upstream whose every call takes `delay`. */
  static readonly layer = (delay: Duration.Input): Layer.Layer<Upstream> =>
    Layer.sync(Upstream, () => {
      let calls = 0
      return {
        fetchProduct: Effect.fn("Upstream.fetchProduct")(function*(id: number) {
          calls++
          yield* Effect.sleep(delay)
          return { id, name: `Product ${id}`, priceCents: 100 + (id * 37) % 900, fetchedAt: new Date().toISOString() }
        }),
        calls: Effect.sync(() => calls)
      }
    })
}
