import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Http from "node:http"
import * as Tracing from "./Tracing.js"

const capture = () => {
  const trees: Array<string> = []
  return { trees, layer: Layer.setTracer(Tracing.makeConsoleTracer((tree) => trees.push(tree), "svc")) }
}

describe("console tracing", () => {
  it.effect("prints a finished root span as a tree: children indented, durations, attributes, errors", () => {
    const { layer, trees } = capture()
    return Effect.gen(function*() {
      yield* Effect.gen(function*() {
        yield* Effect.void.pipe(Effect.withSpan("validate", { attributes: { "order.id": "o-1" } }))
        yield* Effect.fail("risk limit").pipe(
          Effect.withSpan("record", { kind: "client" }),
          Effect.withSpan("raft"),
          Effect.ignore
        )
      }).pipe(Effect.withSpan("submit"))
      expect(trees).toHaveLength(1)
      const lines = trees[0]!.split("\n")
      expect(lines[0]).toMatch(/^\[svc\] trace [0-9a-f]{32}$/)
      expect(lines[1]).toMatch(/^submit \d+\.\d+ms$/)
      expect(lines[2]).toMatch(/^├─ validate \d+\.\d+ms {2}order\.id=o-1$/)
      expect(lines[3]).toMatch(/^└─ raft \d+\.\d+ms ✗ Error: risk limit$/)
      expect(lines[4]).toMatch(/^ {3}└─ record \[client\] \d+\.\d+ms ✗ Error: risk limit$/)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a span continuing a remote parent is a local root and keeps the remote trace id", () => {
    const { layer, trees } = capture()
    return Effect.gen(function*() {
      yield* Effect.void.pipe(
        Effect.withSpan("server"),
        Effect.withParentSpan({
          _tag: "ExternalSpan",
          traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
          spanId: "00f067aa0ba902b7",
          sampled: true,
          context: (yield* Effect.context<never>())
        })
      )
      expect(trees[0]).toContain("trace 4bf92f3577b34da6a3ce929d0e0e4736\nserver ")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a span's links are printed as trace-span pairs (how a batch leads to its records' traces)", () => {
    const { layer, trees } = capture()
    return Effect.gen(function*() {
      const context = yield* Effect.context<never>()
      const linked = (traceId: string, spanId: string) => ({
        _tag: "SpanLink" as const,
        attributes: {},
        span: { _tag: "ExternalSpan" as const, traceId, spanId, sampled: true, context }
      })
      yield* Effect.void.pipe(
        Effect.withSpan("batch", {
          links: [
            linked("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
            linked("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
          ]
        })
      )
      expect(trees[0]!.split("\n")[1]).toMatch(
        /^batch \d+\.\d+ms {2}links=4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7,0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331$/
      )
    }).pipe(Effect.provide(layer))
  })
})

describe("OTLP export", () => {
  it.scopedLive("spans reach an OTLP/HTTP endpoint (flushed when the tracer's scope closes)", () =>
    Effect.gen(function*() {
      const bodies: Array<string> = []
      const server = yield* Effect.acquireRelease(
        Effect.async<Http.Server>((resume) => {
          const server = Http.createServer((req, res) => {
            let body = ""
            req.on("data", (chunk) => (body += chunk))
            req.on("end", () => {
              bodies.push(`${req.url} ${body}`)
              res.writeHead(200, { "content-type": "application/json" }).end("{}")
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (server.address() as { port: number }).port
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.buildWithScope(
          Tracing.layerOtlp({ url: `http://127.0.0.1:${port}/v1/traces`, service: "svc", nodeId: "n1" }),
          yield* Effect.scope
        ).pipe(Effect.flatMap((context) => Effect.void.pipe(Effect.withSpan("exported-span"), Effect.provide(context))))
      }))
      expect(bodies.join("\n")).toContain("/v1/traces")
      expect(bodies.join("\n")).toContain("exported-span")
      expect(bodies.join("\n")).toContain("\"svc\"")
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none))))
})
