// One `executor.order` span per order, as a child of the command's trace (its `traceparent`
// header), whose context the event carries onward: one order can be followed from its tick
// to its event across processes (packages/cli/test/pipeline/trace.test.ts).
//
// Why not `Effect.withSpan` per order: each one runs through the fiber runtime (a span
// pushed into the fiber's context, fiber refs read and restored, a stack trace captured),
// which cost more than the rest of an order's work once batches are large. The span here
// is made by the current tracer directly, with the same name, parent, timing and
// attributes, and ended at once; the batch's own spans stay ordinary Effect spans.
//
// With Effect's native tracer (TRACE=off) a span is an object nobody reads: the only trace
// of it that leaves the process is its id in the event's header. Then only that is made,
// the same `traceparent` a native span would give (its parent's trace id and flags, a new
// random span id), without the span.
import { Traceparent } from "@trading/platform"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"

export type OrderSpan = (
  remoteParent: string | undefined,
  orderId: string,
  status: string,
  created: boolean
) => string | undefined

/** The tracer every fiber has unless a layer sets another one (TRACE=console or otlp). */
const nativeTracer = Effect.runSync(Effect.tracer)

const hex32 = () => (Math.random() * 0x100000000 >>> 0).toString(16).padStart(8, "0")

/** A child's `traceparent`: the parent's trace and sampling, a new span id. */
const childOf = (parent: Tracer.AnySpan): string =>
  `00-${parent.traceId}-${hex32()}${hex32()}-${parent.sampled ? "01" : "00"}`

/**
 * A function that records one finished `name` span (child of the remote parent in its
 * header, else of the current span) and returns its `traceparent`. Read once per batch.
 */
export const maker = (name: string): Effect.Effect<OrderSpan> =>
  Effect.gen(function*() {
    if (!(yield* FiberRef.get(FiberRef.currentTracerEnabled))) {
      // tracing switched off: no span, the incoming context travels on unchanged
      return (remoteParent) => remoteParent
    }
    const tracer = yield* Effect.tracer
    const current = yield* Effect.option(Effect.currentParentSpan)
    if (tracer === nativeTracer) {
      return (remoteParent) => {
        const remote = Traceparent.parse(remoteParent)
        const parent = Option.isSome(remote) ? remote : current
        // without any parent a native span starts a trace of its own
        return Option.isSome(parent)
          ? childOf(parent.value)
          : `00-${hex32()}${hex32()}${hex32()}${hex32()}-${hex32()}${hex32()}-01`
      }
    }
    const clock = yield* Effect.clock
    const timing = yield* FiberRef.get(FiberRef.currentTracerTimingEnabled)
    return (remoteParent, orderId, status, created) => {
      const remote = Traceparent.parse(remoteParent)
      const startTime = timing ? clock.unsafeCurrentTimeNanos() : 0n
      const span = tracer.span(
        name,
        Option.isSome(remote) ? remote : current,
        Context.empty(),
        [],
        startTime,
        "internal"
      )
      span.attribute("order.id", orderId)
      span.attribute("order.status", status)
      span.attribute("order.created", created)
      span.end(timing ? clock.unsafeCurrentTimeNanos() : 0n, Exit.void)
      return Traceparent.format(span)
    }
  })
