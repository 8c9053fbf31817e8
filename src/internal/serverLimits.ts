/**
 * The largest argument a Redis server accepts (`proto-max-bulk-len`). A command with a
 * larger argument is not refused: the server answers "Protocol error" and closes the
 * connection, taking every command in flight beside it down too. So the tier compares
 * each value with the limit before sending it.
 *
 * @internal
 */
import type { Redis } from "ioredis"
import { validationError, type ValidationError } from "../errors.js"

/** Redis' own default (512 MB), assumed when the server does not say (a user without `CONFIG`). */
export const DEFAULT_MAX_BULK_BYTES = 512 * 1024 * 1024

/**
 * The lowest `proto-max-bulk-len` Redis accepts (1 MB): a value this size or smaller is
 * never too large, whatever the server's configuration.
 */
export const MIN_MAX_BULK_BYTES = 1024 * 1024

/** The limit of a connection's server, and whether the server said it (`known`) or it is assumed. */
export interface BulkLimit {
  readonly maxBulkBytes: number
  readonly known: boolean
}

/**
 * Asks the server for its `proto-max-bulk-len`, once per connection. Any failure means the
 * default, not `known`: `NOPERM` for a least-privilege user (`refused`: its permissions do
 * not change between reconnections, and each refusal is an entry in the server's ACL LOG),
 * `CONFIG` renamed away, a timeout.
 */
export const readMaxBulkBytes = (client: Redis): Promise<BulkLimit & { readonly refused: boolean }> =>
  client.config("GET", "proto-max-bulk-len").then(
    (reply) => {
      const value = Number(Array.isArray(reply) ? reply[1] : undefined)
      const known = Number.isSafeInteger(value) && value > 0
      return { maxBulkBytes: known ? value : DEFAULT_MAX_BULK_BYTES, known, refused: false }
    },
    (error: unknown) => ({
      maxBulkBytes: DEFAULT_MAX_BULK_BYTES,
      known: false,
      refused: error instanceof Error && error.message.startsWith("NOPERM")
    })
  )

/**
 * The failure of a write whose value the server could not take: it names the limit and the
 * size, and whether the server told the limit or the cache assumed it.
 */
export const valueTooLarge = (key: string, size: number, limit: number, known: boolean): ValidationError =>
  validationError(
    [{
      field: "value",
      value: `${size} bytes as stored`,
      rule: known
        ? `at most ${limit} bytes, the Redis server's proto-max-bulk-len`
        : `at most ${limit} bytes, the proto-max-bulk-len assumed for a Redis server that does not tell it (CONFIG GET refused)`
    }],
    { subject: `Cannot store "${key}" in Redis`, key }
  )
