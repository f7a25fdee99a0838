// One builder for the three wire forms of a message (protobuf bytes, ts-proto objects as
// gRPC hands them over, snake_case JSON), so every form runs the same checks in the same
// order: well-formed payload, then schema_version, then every field.
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { DecodeError } from "../DecodeError.js"
import { invalidFields, MalformedPayload, UnsupportedSchemaVersion } from "../DecodeError.js"
import { SCHEMA_VERSION, SUPPORTED_SCHEMA_VERSIONS } from "../Fields.js"
import { snakeCase, violationsOf } from "./issues.js"
import * as ProtoWire from "./protoWire.js"

/** The subset of ts-proto's generated `MessageFns` the codecs use. */
export interface ProtoFns<P> {
  encode(message: P): { finish(): Uint8Array }
  decode(input: Uint8Array): P
}

export interface WireCodec<A, P> {
  /** Validates a value already in domain shape (camelCase fields, string enums). */
  readonly validate: (input: unknown) => Either.Either<A, DecodeError>
  /** Kafka record value -> domain value. */
  readonly fromBytes: (bytes: Uint8Array) => Either.Either<A, DecodeError>
  readonly toBytes: (value: A) => Uint8Array
  /** A ts-proto message object (a gRPC request) -> domain value. */
  readonly fromProto: (message: P) => Either.Either<A, DecodeError>
  readonly toProto: (value: A) => P
  /** A parsed JSON object with snake_case fields -> domain value. */
  readonly fromJson: (json: unknown) => Either.Either<A, DecodeError>
  /** One line of JSON text (file replay, CLI) -> domain value. */
  readonly fromJsonText: (text: string) => Either.Either<A, DecodeError>
  readonly toJson: (value: A) => Record<string, unknown>
  readonly toJsonText: (value: A) => string
}

export interface WireSpec<A, P> {
  readonly messageType: string
  readonly domain: Schema.Schema<A>
  readonly proto: Schema.Schema<A, P>
  readonly json: Schema.Schema<A, Record<string, unknown>>
  readonly fns: ProtoFns<P>
  readonly wireFields: ReadonlyMap<number, ProtoWire.FieldSpec>
  /**
   * A direct mapping to the ts-proto object, for encoders on hot paths; must equal
   * encoding with `proto` (the round-trip property tests check it).
   */
  readonly toProto?: (value: A) => P
}

const versionProblem = (messageType: string, raw: unknown, key: string): UnsupportedSchemaVersion | undefined => {
  const version = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>)[key] : undefined
  if (version === SCHEMA_VERSION) return undefined
  const detail = version === undefined || version === 0
    ? `is missing (${String(version ?? "absent")}); this build reads version ${SCHEMA_VERSION}`
    : `unsupported version ${JSON.stringify(version)}; this build reads version ${SCHEMA_VERSION}`
  return new UnsupportedSchemaVersion({
    messageType,
    version: version ?? 0,
    supported: SUPPORTED_SCHEMA_VERSIONS,
    message: `schema_version: ${detail}`
  })
}

export const make = <A, P>(spec: WireSpec<A, P>): WireCodec<A, P> => {
  const { messageType } = spec
  const run = <I>(schema: Schema.Schema<A, I>, versionKey: string, onExcess: "ignore" | "error") => {
    const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: onExcess })
    return (input: unknown): Either.Either<A, DecodeError> => {
      if (typeof input !== "object" || input === null || globalThis.Array.isArray(input)) {
        return Either.left(
          new MalformedPayload({ messageType, format: "json", message: `not a ${messageType} object` })
        )
      }
      const version = versionProblem(messageType, input, versionKey)
      if (version !== undefined) return Either.left(version)
      return Either.mapLeft(
        decode(input),
        (error: ParseResult.ParseError) => invalidFields(messageType, violationsOf(error))
      )
    }
  }
  const validate = run(spec.domain, "schemaVersion", "ignore")
  const fromProto = run(spec.proto, "schemaVersion", "ignore")
  const fromJson = run(spec.json, "schema_version", "error")
  const encodeProto = spec.toProto ?? Schema.encodeSync(spec.proto)
  const encodeJson = Schema.encodeSync(spec.json)

  const fromBytes = (bytes: Uint8Array): Either.Either<A, DecodeError> => {
    const problem = ProtoWire.check(bytes, spec.wireFields)
    if (problem !== undefined) {
      return Either.left(
        problem._tag === "Malformed"
          ? new MalformedPayload({
            messageType,
            format: "protobuf",
            // JSON on a protobuf topic is the likeliest mistake: say so
            message: `not a protobuf ${messageType} message: ${problem.detail}${
              bytes[0] === 0x7b ? " (the payload looks like JSON)" : ""
            }`
          })
          : invalidFields(messageType, [{ field: problem.field, reason: problem.reason }])
      )
    }
    let message: P
    try {
      message = spec.fns.decode(bytes)
    } catch (cause) {
      // The wire check should make this unreachable; keep the bytes' fate a typed error anyway.
      return Either.left(
        new MalformedPayload({
          messageType,
          format: "protobuf",
          message: `not a protobuf ${messageType} message: ${cause instanceof Error ? cause.message : String(cause)}`
        })
      )
    }
    return fromProto(message)
  }

  const fromJsonText = (text: string): Either.Either<A, DecodeError> => {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (cause) {
      return Either.left(
        new MalformedPayload({
          messageType,
          format: "json",
          message: `not JSON: ${cause instanceof Error ? cause.message : String(cause)}`
        })
      )
    }
    return fromJson(parsed)
  }

  return {
    validate,
    fromBytes,
    toBytes: (value) => spec.fns.encode(encodeProto(value)).finish(),
    fromProto,
    toProto: encodeProto,
    fromJson,
    fromJsonText,
    toJson: encodeJson,
    toJsonText: (value) => JSON.stringify(encodeJson(value))
  }
}

/**
 * The JSON form of a struct: the same field schemas under snake_case keys (the original's
 * JSON payloads used snake_case, and so do the .proto field names).
 */
export const snakeCaseJson = <Fields extends Schema.Struct.Fields>(
  fields: Fields
): Schema.Schema<Schema.Struct.Type<Fields>, Record<string, unknown>> => {
  const renamed: Record<string, Schema.PropertySignature.All> = {}
  for (const [key, schema] of Object.entries(fields)) {
    renamed[key] = Schema.propertySignature(schema as Schema.Schema.Any).pipe(Schema.fromKey(snakeCase(key)))
  }
  return Schema.Struct(renamed) as unknown as Schema.Schema<Schema.Struct.Type<Fields>, Record<string, unknown>>
}

/**
 * Maps a protobuf enum number (typed as the ts-proto enum `E`) to its domain literal,
 * failing on numbers the enum does not define (ts-proto keeps them as plain numbers).
 */
export const protoEnum = <E extends number, L extends string>(
  values: ReadonlyArray<readonly [E, L]>,
  literals: Schema.Schema<L>
): Schema.Schema<L, E> =>
  Schema.transformOrFail(Schema.Number as unknown as Schema.Schema<E>, literals, {
    strict: true,
    decode: (n, _, ast) => {
      const found = values.find(([value]) => value === n)
      return found === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, n, `unknown enum value ${n}`))
        : ParseResult.succeed(found[1])
    },
    encode: (literal, _, ast) => {
      const found = values.find(([, l]) => l === literal)
      return found === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, literal, `no protobuf value for ${literal}`))
        : ParseResult.succeed(found[0])
    }
  })

/** schema_version as ts-proto types it (a plain number); the codecs check its value first. */
export const ProtoSchemaVersion: Schema.Schema<typeof SCHEMA_VERSION, number> = Schema.Number.pipe(
  Schema.compose(Schema.Literal(SCHEMA_VERSION), { strict: false })
)
