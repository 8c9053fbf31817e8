/**
 * Which connection failures retrying can heal. A refused connection, a timeout or a reset
 * may be gone at the next attempt; a wrong password, a missing permission or a
 * certificate the client rejects (another CA, expired, another host name) or the server
 * rejects (no client certificate, a foreign one) stays until someone changes the
 * configuration. Retrying those at once only fills the server's ACL LOG with failed logins.
 *
 * @internal
 */
import { Duration, Effect, Option, Schedule } from "effect"
import { ConnectionError } from "../errors.js"

/** True for a failure no retry can heal: authentication and TLS. */
export const isFinalConnectionFailure = (error: unknown): boolean =>
  error instanceof ConnectionError && (error.reason === "authentication" || error.reason === "tls")

// A schedule whose cap is shorter than this (or that has none) still waits this long
// between attempts that cannot succeed; one whose delays never stop growing waits at most this.
const FINAL_MIN_DELAY = Duration.seconds(1)
const FINAL_MAX_DELAY = Duration.minutes(1)
const STEPS = 40

/**
 * The longest delay `schedule` reaches in its first steps (its cap), kept between 1 s and
 * 1 min: how long a reconnect waits after a final failure.
 */
export const finalFailureDelay = (schedule: Schedule.Schedule<unknown, unknown>): Effect.Effect<Duration.Duration> =>
  Effect.gen(function*() {
    const step = yield* Schedule.toStep(schedule)
    let longest = Duration.zero
    for (let i = 0; i < STEPS; i++) {
      const next = yield* Effect.option(step(0, undefined))
      if (Option.isNone(next)) break
      longest = Duration.max(longest, next.value[1])
    }
    return Duration.clamp(longest, { minimum: FINAL_MIN_DELAY, maximum: FINAL_MAX_DELAY })
  })

/**
 * `schedule`, except that after a final failure (its input, or `previousFinal()` when the
 * input is not a connection error) the delay is at least `delay`.
 */
export const backOffOnFinal = (
  schedule: Schedule.Schedule<unknown, unknown>,
  delay: Duration.Duration,
  previousFinal: () => boolean
): Schedule.Schedule<unknown, unknown> =>
  schedule.pipe(
    Schedule.modifyDelay(({ duration, input }) =>
      Effect.succeed(
        (input instanceof ConnectionError ? isFinalConnectionFailure(input) : previousFinal())
          ? Duration.max(duration, delay)
          : duration
      )
    )
  )
