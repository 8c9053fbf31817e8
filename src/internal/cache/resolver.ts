/**
 * `cache.resolver(...)`: an Effect `RequestResolver` that answers a batch of requests
 * through `getOrSetMany`, so that `Effect.request` batching reads the cache first and
 * sends only the misses, all in one call, to the data source.
 */
import { Effect, Exit, Option, type Request, RequestResolver } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { CacheResolverOptions, CacheService } from "../../Cache.js"
import { keyError, keyIssue } from "./inputs.js"

/** The resolver constructor of one cache (or namespace view). */
export const makeResolver = (cache: CacheService) =>
<Req extends Request.Any, R = never>(
  options: CacheResolverOptions<Req, R>
): Effect.Effect<RequestResolver.RequestResolver<Req>, never, R> =>
  // The lookup's services are taken where the resolver is made: a resolver runs with none.
  Effect.map(Effect.context<R>(), (context) =>
    RequestResolver.make<Req>((entries) =>
      Effect.suspend(() => {
        type Success = Request.Success<Req>
        type Failure = Request.Error<Req>
        const keys: Array<string> = []
        const batch: Array<Request.Entry<Req>> = []
        // Requests with the same key share one answer; the lookup sees the first of them.
        const requestOf = new Map<string, Req>()
        for (const entry of entries) {
          const key = options.key(entry.request)
          // A bad key fails its own request; the others go on.
          const issue = keyIssue(key)
          if (issue !== undefined) {
            entry.completeUnsafe(keyError(key, issue) as unknown as Exit.Exit<Success, Failure>)
            continue
          }
          keys.push(key)
          batch.push(entry)
          if (!requestOf.has(key)) requestOf.set(key, entry.request)
        }
        if (batch.length === 0) return Effect.void
        const lookupMany = (missing: NonEmptyReadonlyArray<string>) =>
          options.lookupMany(missing.map((key) => requestOf.get(key)!) as unknown as NonEmptyReadonlyArray<Req>)
        return cache.getOrSetMany(keys, lookupMany, options.options).pipe(
          Effect.provideContext(context),
          Effect.matchCause({
            onFailure: (cause) => {
              for (const entry of batch) entry.completeUnsafe(Exit.failCause(cause) as Exit.Exit<Success, Failure>)
            },
            onSuccess: (found) => {
              batch.forEach((entry, i) => {
                const answer = found[i]!
                entry.completeUnsafe(
                  Option.isSome(answer) ? Exit.succeed(answer.value) : Exit.fail(options.onMissing(entry.request))
                )
              })
            }
          })
        )
      })
    ))
