// Typed gRPC status errors for handlers. A handler fails with `GrpcStatusError` (built by
// the constructors below, or mapped from its own domain errors); the server bridge turns it
// into the status code and details the client sees. Anything else is a defect: logged and
// reported as INTERNAL without leaking its message.
import * as grpc from "@grpc/grpc-js"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

export const Code = grpc.status
export type Code = grpc.status

/** Header carrying the offending field paths of an INVALID_ARGUMENT, comma separated. */
export const invalidFieldsKey = "invalid-fields"

export class GrpcStatusError extends Data.TaggedError("GrpcStatusError")<{
  readonly code: grpc.status
  readonly details: string
  /** Extra trailing metadata sent with the status (ASCII values). */
  readonly metadata?: Readonly<Record<string, string>> | undefined
}> {
  override get message(): string {
    return `${codeName(this.code)}: ${this.details}`
  }
}

export const codeName = (code: grpc.status): string => grpc.status[code] ?? `CODE_${code}`

const make = (code: grpc.status) => (details: string, metadata?: Readonly<Record<string, string>>) =>
  new GrpcStatusError({ code, details, metadata })

export const invalidArgument = make(grpc.status.INVALID_ARGUMENT)
export const notFound = make(grpc.status.NOT_FOUND)
export const alreadyExists = make(grpc.status.ALREADY_EXISTS)
export const failedPrecondition = make(grpc.status.FAILED_PRECONDITION)
export const aborted = make(grpc.status.ABORTED)
export const outOfRange = make(grpc.status.OUT_OF_RANGE)
export const unavailable = make(grpc.status.UNAVAILABLE)
export const deadlineExceeded = make(grpc.status.DEADLINE_EXCEEDED)
export const resourceExhausted = make(grpc.status.RESOURCE_EXHAUSTED)
export const permissionDenied = make(grpc.status.PERMISSION_DENIED)
export const unauthenticated = make(grpc.status.UNAUTHENTICATED)
export const unimplemented = make(grpc.status.UNIMPLEMENTED)
export const cancelled = make(grpc.status.CANCELLED)
export const internal = make(grpc.status.INTERNAL)

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, key) => typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`,
    ""
  ) || "(request)"

/** INVALID_ARGUMENT naming every failing field path, e.g. `tick.size: Expected a positive number, actual -1`. */
export const fromParseError = (error: ParseResult.ParseError): GrpcStatusError => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const fields = [...new Set(issues.map((issue) => formatPath(issue.path)))]
  return invalidArgument(
    issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join("; "),
    { [invalidFieldsKey]: fields.join(",") }
  )
}

/** Decodes a request with `schema`; failures become INVALID_ARGUMENT naming the fields. */
export const decode =
  <A, I>(schema: Schema.Schema<A, I, never>) => (input: unknown): Effect.Effect<A, GrpcStatusError> =>
    Schema.decodeUnknown(schema, { errors: "all" })(input).pipe(Effect.mapError(fromParseError))
