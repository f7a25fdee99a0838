import { expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import { Health } from "./Health.js"
import { HttpServer } from "./HttpServer.js"
import { ServerConfig } from "./ServerConfig.js"

const serverLayer = (settings: Partial<ServerConfig["Type"]> = {}) =>
  HttpServer.layer().pipe(
    Layer.provideMerge(Health.layer),
    Layer.provideMerge(ServerConfig.layerTest(settings)),
    Layer.provide(Logger.replace(Logger.defaultLogger, Logger.none))
  )

const get = (port: number, path: string) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

it.scopedLive("/healthz is 200 while every component runs and 503 with the failure once a worker dies", () =>
  Effect.gen(function*() {
    const context = yield* Layer.build(serverLayer())
    const { port } = Context.get(context, HttpServer)
    const health = Context.get(context, Health)
    const worker = yield* health.worker("feed", () => Effect.never)
    yield* health.check("broker", Effect.succeed("reachable"))
    yield* Effect.repeat(health.report, { until: (r) => r.serving })

    const ok = yield* get(port, "/healthz")
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body)).toMatchObject({
      service: "test",
      nodeId: "test-node",
      status: "serving",
      components: [{ name: "feed", state: "running" }],
      checks: [{ name: "broker", state: "ok", detail: "reachable" }]
    })

    yield* Fiber.interrupt(worker)
    const failed = yield* get(port, "/healthz")
    expect(failed.status).toBe(503)
    expect(JSON.parse(failed.body)).toMatchObject({
      status: "not_serving",
      components: [{ name: "feed", state: "failed", cause: "interrupted" }]
    })
  }))

it.scopedLive("/healthz carries registered info views as top-level JSON fields, also while not serving", () =>
  Effect.gen(function*() {
    const context = yield* Layer.build(serverLayer())
    const { port } = Context.get(context, HttpServer)
    const health = Context.get(context, Health)
    yield* health.info("raft", Effect.succeed({ role: "leader", term: 3, members: [{ nodeId: "n1" }] }))
    yield* health.check("leader", Effect.fail("no leader known"))
    yield* Effect.repeat(health.report, { until: (r) => r.checks[0]?.state === "failed" })

    const response = yield* get(port, "/healthz")
    expect(response.status).toBe(503)
    expect(JSON.parse(response.body)).toMatchObject({
      service: "test",
      status: "not_serving",
      raft: { role: "leader", term: 3, members: [{ nodeId: "n1" }] },
      checks: [{ name: "leader", state: "failed", detail: "no leader known" }]
    })
  }))

it.scopedLive("/metrics serves Prometheus text", () =>
  Effect.gen(function*() {
    const { port } = Context.get(yield* Layer.build(serverLayer()), HttpServer)
    yield* Metric.increment(Metric.counter("test_http_metric_total", { incremental: true }))
    const response = yield* get(port, "/metrics")
    expect(response.status).toBe(200)
    expect(response.type).toContain("text/plain; version=0.0.4")
    expect(response.body).toContain("# TYPE test_http_metric_total counter\ntest_http_metric_total 1\n")
  }))

it.scopedLive("a port already in use fails the layer (start fails loudly)", () =>
  Effect.gen(function*() {
    const { port } = Context.get(yield* Layer.build(serverLayer()), HttpServer)
    const error = yield* Effect.flip(Layer.build(serverLayer({ httpPort: port })))
    expect(error._tag).toBe("ServeError")
    expect(String(error.cause)).toContain("EADDRINUSE")
  }))
