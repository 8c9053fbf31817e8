/**
 * The typed errors of effect-redis-cache.
 *
 * Every failure the library reports is one of these `Schema.TaggedError`s, with a
 * human-readable `message` and structured context. Secrets never reach them: URLs
 * are stored with their password masked (see `redactUrl`).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * One broken rule of a validated input: which field, the offending value (as text,
 * masked for secret fields) and the rule it breaks.
 *
 * @since 0.1.0
 */
export const ValidationIssue = Schema.Struct({
  field: Schema.String,
  value: Schema.String,
  rule: Schema.String
})

/**
 * The type of a {@link ValidationIssue}.
 *
 * @since 0.1.0
 */
export type ValidationIssue = typeof ValidationIssue.Type

/**
 * Bad input to an operation or a constructor: a key that is empty or too long, an
 * `undefined` value, a TTL that is not positive, options out of range. All problems
 * found are reported together in `issues`; `message` names every field, value and rule.
 *
 * @since 0.1.0
 */
export class ValidationError extends Schema.TaggedError<ValidationError>()("ValidationError", {
  message: Schema.String,
  issues: Schema.Array(ValidationIssue),
  key: Schema.optionalKey(Schema.String)
}) {}

/**
 * A value could not be encoded, or bytes could not be decoded: a value the chosen
 * serializer cannot round-trip, bytes that are corrupt, truncated or not written by
 * this library, or a stored value that no longer fits the schema it is read with.
 *
 * @since 0.1.0
 */
export class SerializationError extends Schema.TaggedError<SerializationError>()("SerializationError", {
  message: Schema.String,
  key: Schema.String,
  operation: Schema.Literals(["encode", "decode"]),
  reason: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {}

/**
 * Redis could not be reached or refused us: unreachable, timed out, authentication
 * rejected, TLS verification failed. `url` never contains the password.
 *
 * @since 0.1.0
 */
export class ConnectionError extends Schema.TaggedError<ConnectionError>()("ConnectionError", {
  message: Schema.String,
  url: Schema.String,
  reason: Schema.Literals([
    "unreachable",
    "timeout",
    "authentication",
    "tls",
    "protocol",
    "closed"
  ]),
  cause: Schema.optionalKey(Schema.Defect())
}) {}

/**
 * A failure of the infrastructure around the cache that the caller asked to be told
 * about, such as a factory asked to fail when Redis cannot be reached.
 *
 * @since 0.1.0
 */
export class InfrastructureError extends Schema.TaggedError<InfrastructureError>()("InfrastructureError", {
  message: Schema.String,
  context: Schema.Record(Schema.String, Schema.Unknown),
  cause: Schema.optionalKey(Schema.Defect())
}) {}

/**
 * Configuration that cannot be used: an unknown preset, an environment variable
 * that does not parse, a TLS file that does not exist. `field` names the option or
 * the environment variable.
 *
 * @since 0.1.0
 */
export class ConfigurationError extends Schema.TaggedError<ConfigurationError>()("ConfigurationError", {
  message: Schema.String,
  field: Schema.String,
  rule: Schema.String,
  value: Schema.optionalKey(Schema.String),
  cause: Schema.optionalKey(Schema.Defect())
}) {}

/**
 * `getOrSet`'s lookup ran past its `hardTimeout`: it was interrupted, or, with
 * `completeInBackground`, left to finish and store its value in the background.
 *
 * @since 0.1.0
 */
export class LookupTimeoutError extends Schema.TaggedError<LookupTimeoutError>()("LookupTimeoutError", {
  message: Schema.String,
  key: Schema.String,
  timeoutMillis: Schema.Finite,
  completesInBackground: Schema.Boolean
}) {}

/**
 * Every error a cache operation can fail with.
 *
 * @since 0.1.0
 */
export type CacheError =
  | ValidationError
  | SerializationError
  | ConnectionError
  | InfrastructureError
  | LookupTimeoutError

/**
 * Builds a {@link ValidationError} whose message lists every issue.
 *
 * @since 0.1.0
 */
export const validationError = (
  issues: ReadonlyArray<ValidationIssue>,
  context: { readonly subject?: string; readonly key?: string } = {}
): ValidationError => {
  const detail = issues.map((i) => `${i.field}=${i.value}: ${i.rule}`).join("; ")
  const message = `${context.subject ?? "Invalid input"}: ${detail}`
  return new ValidationError(
    context.key === undefined ? { message, issues } : { message, issues, key: context.key }
  )
}
