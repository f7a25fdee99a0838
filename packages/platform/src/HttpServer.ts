// The service's HTTP side: `GET /healthz` (200 or 503 with the health report as JSON, plus
// each registered info view under its name) and
// `GET /metrics` (Prometheus text), on PORT_HTTP. Built on @effect/platform's router and
// NodeHttpServer; a bind error fails the layer (and so the start), and closing is bounded:
// idle keep-alive sockets close at once, busy ones after SHUTDOWN_DRAIN_MS.
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import { Health } from "./Health.js"
import * as Metrics from "./Metrics.js"
import { ServerConfig } from "./ServerConfig.js"

export interface HttpServerInfo {
  readonly port: number
}

/** The `/healthz` and `/metrics` routes. */
export const routes = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/healthz",
    Effect.gen(function*() {
      const health = yield* Health
      const settings = yield* ServerConfig
      const [report, info] = yield* Effect.all([health.report, health.infos])
      return yield* HttpServerResponse.json(
        {
          ...info,
          service: settings.service,
          nodeId: settings.nodeId,
          status: report.serving ? "serving" : "not_serving",
          ...report
        },
        { status: report.serving ? 200 : 503 }
      )
    })
  ),
  HttpRouter.get(
    "/metrics",
    Effect.map(
      Metrics.prometheusText,
      (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
    )
  )
)

/** See {@link HttpServer.layer}. */
export const layer = (extra?: HttpRouter.HttpRouter<unknown, ServerConfig | Health>) => HttpServer.layer(extra)

export class HttpServer extends Context.Tag("@trading/platform/HttpServer")<HttpServer, HttpServerInfo>() {
  /**
   * Serves {@link routes} plus `extra` on BIND_HOST:PORT_HTTP. Extra routes may need only
   * what is available where this layer is built (the platform services, by default).
   */
  static readonly layer = (
    extra?: HttpRouter.HttpRouter<unknown, ServerConfig | Health>
  ): Layer.Layer<HttpServer, ServeError, ServerConfig | Health> =>
    Layer.scoped(
      HttpServer,
      Effect.gen(function*() {
        const settings = yield* ServerConfig
        let bound = false
        // added first so it runs last, after NodeHttpServer's close
        yield* Effect.addFinalizer(() => bound ? Effect.logInfo("HTTP server stopped") : Effect.void)
        const node = Http.createServer()
        const server = yield* NodeHttpServer.make(() => node, { port: settings.httpPort, host: settings.host })
        bound = true
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            node.closeIdleConnections()
            setTimeout(() => node.closeAllConnections(), Duration.toMillis(settings.drainTimeout)).unref()
          })
        )
        const app = extra === undefined ? routes : HttpRouter.concat(routes, extra)
        // probes and scrapes every few seconds would drown the console traces
        yield* server.serve(app).pipe(
          HttpMiddleware.withTracerDisabledWhenEffect((request) =>
            request.url === "/healthz" || request.url === "/metrics"
          )
        )
        const port = server.address._tag === "TcpAddress" ? server.address.port : 0
        yield* Effect.logInfo("HTTP server listening").pipe(Effect.annotateLogs({ port }))
        return { port }
      })
    )
}
