/**
 * What a reply error during replay means for the rest of the queue.
 *
 * - `operation`: the server refused this operation only (a key outside the user's ACL key
 *   patterns, out of memory, a value of another type, a value too large): drop it, go on.
 * - `all`: no queued operation can succeed (the user may not run a command the replay
 *   needs, a command renamed away, a read-only replica, writes refused until a save works):
 *   drop what is left rather than loop.
 * - `later`: the server is not ready (loading its data, busy in a script): keep the queue
 *   and try again after a reconnect.
 *
 * @internal
 */
export type RefusalScope = "operation" | "all" | "later"

const NOT_READY = /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN)\b/
const NO_COMMAND =
  /^(NOPERM this user has no permissions to run|ERR unknown command|ERR unknown subcommand|READONLY|MISCONF)|can't run this command/

/** Classifies the message of a Redis reply error (see {@link RefusalScope}). */
export const refusalScope = (message: string): RefusalScope =>
  NOT_READY.test(message) ? "later" : NO_COMMAND.test(message) ? "all" : "operation"
