// The typed failures of every wire decoder in this package. Each one's `message` is the
// dead-letter reason: it names the message type's field and what was wrong with it.
import * as Schema from "effect/Schema"

/** The bytes or text are not a message of the expected encoding at all. */
export class MalformedPayload extends Schema.TaggedError<MalformedPayload>()("MalformedPayload", {
  /** Fully qualified message type that was expected, e.g. `trading.v1.Tick`. */
  messageType: Schema.String,
  format: Schema.Literal("protobuf", "json"),
  message: Schema.String
}) {}

/** The message carries a `schema_version` this build does not understand. */
export class UnsupportedSchemaVersion extends Schema.TaggedError<UnsupportedSchemaVersion>()(
  "UnsupportedSchemaVersion",
  {
    messageType: Schema.String,
    /** The version found (0 when the field was absent). */
    version: Schema.Unknown,
    supported: Schema.Array(Schema.Number),
    message: Schema.String
  }
) {}

export const FieldViolation = Schema.Struct({
  /** Wire (snake_case) name of the field, dotted for nested fields. */
  field: Schema.String,
  reason: Schema.String
})
export type FieldViolation = typeof FieldViolation.Type

/** Well-formed message, invalid field values; `violations` lists every one found. */
export class InvalidFields extends Schema.TaggedError<InvalidFields>()("InvalidFields", {
  messageType: Schema.String,
  violations: Schema.NonEmptyArray(FieldViolation),
  message: Schema.String
}) {}

export type DecodeError = MalformedPayload | UnsupportedSchemaVersion | InvalidFields

export const DecodeError = Schema.Union(MalformedPayload, UnsupportedSchemaVersion, InvalidFields)

export const invalidFields = (
  messageType: string,
  violations: readonly [FieldViolation, ...Array<FieldViolation>]
): InvalidFields =>
  new InvalidFields({
    messageType,
    violations,
    message: violations.map((v) => `${v.field}: ${v.reason}`).join("; ")
  })
