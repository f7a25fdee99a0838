import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Logging from "./Logging.js"

describe("Logging", () => {
  it.effect("every JSON line carries service and node id, and the trace id inside a span", () => {
    const lines: Array<Record<string, unknown>> = []
    const logger = Logger.map(
      Logging.annotate(Logger.jsonLogger, { service: "order-executor", nodeId: "n1" }),
      (line) => void lines.push(JSON.parse(line))
    )
    return Effect.gen(function*() {
      yield* Effect.logInfo("outside")
      const span = yield* Effect.logInfo("inside").pipe(
        Effect.annotateLogs({ orderId: "o-1" }),
        Effect.zipRight(Effect.currentSpan),
        Effect.withSpan("work")
      )
      expect(lines[0]).toMatchObject({
        message: "outside",
        logLevel: "INFO",
        annotations: { service: "order-executor", nodeId: "n1" }
      })
      expect(lines[0]!.annotations).not.toHaveProperty("traceId")
      expect(lines[1]!.annotations).toEqual({
        service: "order-executor",
        nodeId: "n1",
        orderId: "o-1",
        traceId: span.traceId,
        spanId: span.spanId
      })
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  })

  it("auto picks pretty only on a terminal", () => {
    expect(Logging.resolveFormat("auto", true)).toBe("pretty")
    expect(Logging.resolveFormat("auto", false)).toBe("json")
    expect(Logging.resolveFormat("json", true)).toBe("json")
    expect(Logging.resolveFormat("pretty", false)).toBe("pretty")
  })
})
