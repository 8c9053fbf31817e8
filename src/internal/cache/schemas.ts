/**
 * Schema-typed values: the schema's JSON codec encodes what is stored and decodes
 * what is read, and a stored value that no longer fits the reader's schema is a
 * miss (or, by option, a `SerializationError`).
 */
import { Effect, Exit, Option, Schema } from "effect"
import { SerializationError } from "../../errors.js"
import { type CacheCore, MISS_EXIT } from "./core.js"

type SchemaStep = (input: unknown) => Exit.Exit<unknown, Schema.SchemaError>

// A schema's canonical JSON codec: what it stores survives every serializer, and the
// derived codec and its parsers are built once per schema, not per call.
const perSchema = (make: (codec: Schema.Codec<unknown, unknown>) => SchemaStep) => {
  const built = new WeakMap<object, SchemaStep>()
  return (schema: Schema.Codec<unknown, unknown>): SchemaStep => {
    let step = built.get(schema)
    if (step === undefined) {
      step = make(Schema.toCodecJson(schema))
      built.set(schema, step)
    }
    return step
  }
}

/** Decodes a stored value by its schema. */
export const schemaDecoder = perSchema((codec) => Schema.decodeUnknownExit(codec))
/** Encodes a value by its schema before it is stored. */
export const schemaEncoder = perSchema((codec) => Schema.encodeUnknownExit(codec))

const reasonOf = (exit: Exit.Failure<unknown, Schema.SchemaError>): string => {
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  return failure !== undefined && Schema.isSchemaError(failure.error) ? failure.error.message : "the schema failed"
}

/** The `SerializationError` of a schema that refused a value. */
export const schemaFailure = (
  key: string,
  operation: "encode" | "decode",
  exit: Exit.Failure<unknown, Schema.SchemaError>
) => {
  const reason = reasonOf(exit)
  return new SerializationError({
    message: operation === "decode"
      ? `The value stored under "${key}" does not fit the schema: ${reason}`
      : `The value for "${key}" could not be encoded by its schema: ${reason}`,
    key,
    operation,
    reason
  })
}

/**
 * Fits a found value to the reader's schema. A value that does not fit was written by
 * another version of the program (a deploy changed the schema): by default it is a
 * miss, counted and announced, so that `getOrSet` looks the value up again and
 * overwrites it; with `onSchemaMismatch: "fail"` it is a `SerializationError`.
 */
export const makeSchemaFit = (core: CacheCore) => {
  const { counters, events, monitor } = core
  const failOnMismatch = core.settings.onSchemaMismatch === "fail"
  const mismatch = (key: string, decoded: Exit.Failure<unknown, Schema.SchemaError>) => {
    counters.schemaMismatches++
    const recorded = monitor.recordSchemaMismatch()
    return events.isActive()
      ? Effect.andThen(recorded, Effect.as(events.emit({ _tag: "SchemaMismatch", key, reason: reasonOf(decoded) }), Option.none()))
      : Effect.andThen(recorded, MISS_EXIT)
  }
  return (
    key: string,
    value: unknown,
    schema: Schema.Codec<unknown, unknown> | undefined
  ): Effect.Effect<Option.Option<unknown>, SerializationError> => {
    if (schema === undefined) return Exit.succeed(Option.some(value))
    const decoded = schemaDecoder(schema)(value)
    if (Exit.isSuccess(decoded)) return Exit.succeed(Option.some(decoded.value))
    if (!failOnMismatch) return mismatch(key, decoded)
    return Effect.andThen(core.countSerializationError("decode"), Exit.fail(schemaFailure(key, "decode", decoded)))
  }
}
