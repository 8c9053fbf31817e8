/**
 * Which Redis server a connection is on: its `run_id` (`INFO server`), random per server
 * process. Client ids are counters per server, so `CLIENT TRACKING ... REDIRECT <id>` on
 * another server than the subscriber's would redirect to a stranger (or be refused);
 * through Sentinel the data connection and the subscriber each ask the Sentinels for the
 * master and may, around a failover, be told different servers.
 */
import { Data, Effect } from "effect"
import type { Redis } from "ioredis"

/** A server whose `INFO server` names no `run_id` (not a Redis the link can pair). */
class UnknownServer extends Data.TaggedError("UnknownServer")<{ readonly reason: string }> {}

/** The `run_id` of the server `connection` is on. */
export const serverIdOf = (connection: Redis): Effect.Effect<string, unknown> =>
  Effect.flatMap(
    Effect.tryPromise(() => connection.info("server")),
    (info) => {
      const runId = /^run_id:(\S+)/m.exec(info)?.[1]
      return runId === undefined ? Effect.fail(new UnknownServer({ reason: "INFO server has no run_id" })) : Effect.succeed(runId)
    }
  )
