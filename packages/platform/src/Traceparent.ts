// W3C Trace Context (`traceparent`) encoding, shared by gRPC metadata and Kafka headers so
// one order can be followed across processes. Pure: no Effect runtime needed to parse.
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

export const headerName = "traceparent"

const pattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** `00-<trace id>-<span id>-<flags>` for a span (sampled flag from the span). */
export const format = (span: Tracer.AnySpan): string =>
  `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`

/** The remote parent described by a header value; None when absent or malformed. */
export const parse = (value: string | undefined): Option.Option<Tracer.ExternalSpan> => {
  if (value === undefined) return Option.none()
  const match = pattern.exec(value.trim().toLowerCase())
  if (match === null || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return Option.none()
  return Option.some(Tracer.externalSpan({ traceId: match[1]!, spanId: match[2]!, sampled: match[3] === "01" }))
}

/** The current span as a `traceparent` value, if the effect runs inside one. */
export const current: Effect.Effect<Option.Option<string>> = Effect.map(
  Effect.currentSpan.pipe(Effect.option),
  Option.map(format)
)

/** Runs `effect` as a child of the remote span in `value` (no-op when absent). */
export const withRemoteParent = (value: string | undefined) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Option.match(parse(value), { onNone: () => effect, onSome: (parent) => Effect.withParentSpan(effect, parent) })
