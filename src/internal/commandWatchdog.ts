/**
 * `commandTimeout` for a connection, enforced by one timer for the connection instead of
 * ioredis' timer per command.
 *
 * ioredis' own `commandTimeout` arms a `setTimeout` for every command it sends and clears it
 * on the reply: 2.5-4.5 µs of CPU per command, the largest cost left on a one-at-a-time L2 hit
 * beside raw ioredis without a timeout (docs/benchmarks.md, "One call at a time"). ioredis has
 * no coarser mechanism, hence this one, written against what ioredis 6 keeps per connection:
 * `commandQueue`, the commands written and not answered yet, in the order Redis answers them.
 *
 * Every tick the watchdog notes the newest command waiting on each connection (a mark: that
 * command and the time). Every command at or before a mark was sent before the mark was taken,
 * so once a mark is `commandTimeout` old, the commands up to it have waited at least that long:
 * each is rejected with ioredis' own `new Error("Command timed out")`, through its own
 * `reject` (the one ioredis' timer calls, and that a Cluster wraps), and left in the queue, as
 * ioredis leaves it (a late reply then settles nothing). A command sent just after a tick is
 * marked at the next, so it fails between `commandTimeout` and `commandTimeout` plus a tick
 * after it was sent. Nothing is done per command: a reply only moves ioredis' own queue.
 *
 * A cluster's commands are watched on each node's connection (a node added later included).
 * Unlike ioredis' timer, which runs from a command's first send, a command that a Cluster sends
 * on to another node (MOVED, ASK, a closed node) starts again there; ioredis bounds those hops
 * by `maxRedirections` and their delays.
 *
 * @internal
 */
import { Effect, type Scope } from "effect"
import { Cluster, type Redis } from "ioredis"

// What the watchdog reads of an ioredis command (`Command`: `isSettled`, `reject`).
interface Waiting {
  readonly isSettled: boolean
  reject(error: Error): void
}

// ioredis' `commandQueue` (a denque): only what is read here.
interface CommandQueue {
  readonly length: number
  peekAt(index: number): { readonly command: Waiting } | undefined
  peekBack(): { readonly command: Waiting } | undefined
}

interface Mark {
  readonly last: Waiting
  readonly at: number
}

/** How often the watchdog looks: an eighth of the timeout, at least 10 ms and at most 100 ms. */
export const watchdogTickMillis = (timeoutMillis: number): number =>
  Math.min(100, Math.max(10, Math.round(timeoutMillis / 8)))

// A timer fires at its time or later, but `performance.now()` and the timer's clock may
// disagree by a fraction of a millisecond: a mark this close to the timeout has reached it.
const CLOCK_SLACK_MILLIS = 1

const queueOf = (connection: Redis): CommandQueue => connection.commandQueue as unknown as CommandQueue

// The position of `command` in `queue`, or -1 once it has left it (answered, or sent on by a Cluster).
const indexIn = (queue: CommandQueue, command: Waiting): number => {
  for (let i = 0; i < queue.length; i++) if (queue.peekAt(i)?.command === command) return i
  return -1
}

// One connection at time `now`: fails what waited past the timeout, then marks what waits now.
const check = (queue: CommandQueue, marks: Array<Mark>, now: number, timeoutMillis: number) => {
  if (queue.length === 0) {
    marks.length = 0
    return
  }
  // Answered marks are done with: Redis answers in order, so was everything before them.
  while (marks.length > 0 && marks[0]!.last.isSettled) marks.shift()
  let expired: Mark | undefined
  while (marks.length > 0 && now - marks[0]!.at >= timeoutMillis - CLOCK_SLACK_MILLIS) expired = marks.shift()
  if (expired !== undefined && !expired.last.isSettled) {
    const through = indexIn(queue, expired.last)
    for (let i = 0; i <= through; i++) {
      const command = queue.peekAt(i)!.command
      if (!command.isSettled) command.reject(new Error("Command timed out"))
    }
  }
  const last = queue.peekBack()?.command
  if (last !== undefined && !last.isSettled && marks[marks.length - 1]?.last !== last) marks.push({ last, at: now })
}

/**
 * Bounds every command sent on `target` (each node's connection, for a cluster) by
 * `timeoutMillis`, as ioredis' `commandTimeout` would, for as long as the Scope lives. Give
 * the connection no `commandTimeout` of its own. The timer is unref'd: an idle connection
 * does not keep the process alive.
 */
export const commandWatchdog = (target: Redis | Cluster, timeoutMillis: number): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.acquireRelease(
    Effect.sync(() => {
      const marks = new WeakMap<Redis, Array<Mark>>()
      const timer = setInterval(() => {
        const now = performance.now()
        for (const connection of target instanceof Cluster ? target.nodes("all") : [target]) {
          let connectionMarks = marks.get(connection)
          if (connectionMarks === undefined) {
            connectionMarks = []
            marks.set(connection, connectionMarks)
          }
          check(queueOf(connection), connectionMarks, now, timeoutMillis)
        }
      }, watchdogTickMillis(timeoutMillis))
      timer.unref()
      return timer
    }),
    (timer) => Effect.sync(() => clearInterval(timer))
  ))
