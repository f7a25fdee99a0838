import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Traceparent from "./Traceparent.js"

describe("Traceparent", () => {
  it("parses a valid header", () => {
    const parent = Traceparent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    expect(Option.map(parent, (s) => [s.traceId, s.spanId, s.sampled])).toEqual(
      Option.some(["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true])
    )
  })

  it("rejects malformed and all-zero ids", () => {
    expect(Traceparent.parse("garbage")).toEqual(Option.none())
    expect(Traceparent.parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01")).toEqual(Option.none())
    expect(Traceparent.parse(undefined)).toEqual(Option.none())
  })

  it.effect("a child span continues the remote trace", () =>
    Effect.gen(function*() {
      const header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
      const traceId = yield* Effect.currentSpan.pipe(
        Effect.map((span) => span.traceId),
        Effect.withSpan("child"),
        Traceparent.withRemoteParent(header)
      )
      expect(traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
    }))

  it.effect("current renders the active span", () =>
    Effect.gen(function*() {
      const header = yield* Traceparent.current.pipe(Effect.withSpan("outer"))
      expect(Option.getOrThrow(header)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
    }))
})
