import { expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService
} from "@trading/proto/gen/grpc/health/v1/health"
import type { Tick } from "@trading/proto/gen/trading/v1/market"
import { MarketIngestorServiceService } from "@trading/proto/gen/trading/v1/market_ingestor"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as GrpcClient from "./GrpcClient.js"
import { GrpcServer } from "./GrpcServer.js"
import * as GrpcService from "./GrpcService.js"
import * as GrpcStatus from "./GrpcStatus.js"
import { Health } from "./Health.js"
import * as Metrics from "./Metrics.js"
import { ServerConfig } from "./ServerConfig.js"

const TickRequest = Schema.Struct({
  tick: Schema.Struct({
    symbol: Schema.NonEmptyString,
    size: Schema.Positive,
    tickId: Schema.String
  })
})

const tick = (overrides: Partial<Tick> = {}): Tick => ({
  schemaVersion: 1,
  tickId: "t-1",
  symbol: "ACME",
  priceMicros: 1_000_000,
  size: 10,
  observedAtUnixMs: 0,
  sequence: 0,
  source: "test",
  ...overrides
})

interface Probe {
  readonly slowStarted: Deferred.Deferred<void>
  readonly slowInterrupted: Deferred.Deferred<void>
  readonly release: Deferred.Deferred<void>
  readonly serverTraceId: Ref.Ref<Option.Option<string>>
}

const makeProbe = Effect.all({
  slowStarted: Deferred.make<void>(),
  slowInterrupted: Deferred.make<void>(),
  release: Deferred.make<void>(),
  serverTraceId: Ref.make(Option.none<string>())
})

// symbols steer the handler: MISSING -> NOT_FOUND, BOOM -> defect, SLOW -> waits for `release`
const ingestService = (probe: Probe) =>
  GrpcService.layer(MarketIngestorServiceService, {
    ingestTick: GrpcService.unary((request) =>
      Effect.gen(function*() {
        const { tick } = yield* GrpcStatus.decode(TickRequest)(request)
        yield* Effect.flatMap(Effect.currentSpan, (span) => Ref.set(probe.serverTraceId, Option.some(span.traceId)))
          .pipe(Effect.ignore)
        if (tick.symbol === "MISSING") return yield* GrpcStatus.notFound(`no symbol ${tick.symbol}`)
        if (tick.symbol === "BOOM") return yield* Effect.die(new Error("secret internal detail"))
        if (tick.symbol === "SLOW") {
          yield* Deferred.succeed(probe.slowStarted, undefined)
          yield* Deferred.await(probe.release).pipe(
            Effect.onInterrupt(() => Deferred.succeed(probe.slowInterrupted, undefined))
          )
        }
        return { tickId: tick.tickId, sequence: 7 }
      })
    ),
    ingestTicks: GrpcService.clientStream((requests) =>
      Stream.runFold(requests, 0, (count, request) => count + (request.tick === undefined ? 0 : 1)).pipe(
        Effect.map((accepted) => ({ accepted }))
      )
    )
  })

const serverLayer = (probe: Probe, settings: Partial<ServerConfig["Type"]> = {}) =>
  GrpcServer.layer(ingestService(probe)).pipe(
    Layer.provideMerge(Health.layer),
    Layer.provideMerge(ServerConfig.layerTest(settings)),
    Layer.provide(Logger.replace(Logger.defaultLogger, Logger.none))
  )

const start = (probe: Probe, settings: Partial<ServerConfig["Type"]> = {}) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(serverLayer(probe, settings))
    const { port } = Context.get(context, GrpcServer)
    const client = yield* GrpcClient.make(MarketIngestorServiceService, { address: `127.0.0.1:${port}` })
    const health = yield* GrpcClient.make(HealthService, { address: `127.0.0.1:${port}` })
    return { port, client, health, healthService: Context.get(context, Health) }
  })

const callError = <A>(effect: Effect.Effect<A, GrpcClient.GrpcCallError>) => Effect.flip(effect)

it.scopedLive("unary call round-trips a request", () =>
  Effect.gen(function*() {
    const { client } = yield* start(yield* makeProbe)
    const reply = yield* client.ingestTick({ tick: tick({ tickId: "abc" }) })
    expect(reply).toEqual({ tickId: "abc", sequence: 7 })
  }))

it.scopedLive("calls are counted by method and status code on both sides, with latency histograms", () =>
  Effect.gen(function*() {
    const { client } = yield* start(yield* makeProbe)
    const method = "/trading.v1.MarketIngestorService/IngestTick"
    const count = (text: string, name: string, code: string) =>
      Number(new RegExp(`^${name}\\{method="${method}",code="${code}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0)
    const before = yield* Metrics.prometheusText
    yield* client.ingestTick({ tick: tick() })
    yield* Effect.flip(client.ingestTick({ tick: tick({ symbol: "MISSING" }) }))
    const after = yield* Metrics.prometheusText
    for (const name of ["grpc_server_handled_total", "grpc_client_handled_total"]) {
      expect(count(after, name, "OK") - count(before, name, "OK")).toBe(1)
      expect(count(after, name, "NOT_FOUND") - count(before, name, "NOT_FOUND")).toBe(1)
    }
    expect(after).toContain(`grpc_server_handling_seconds_count{method="${method}"}`)
    expect(after).toContain(`grpc_client_call_seconds_count{method="${method}"}`)
  }))

it.scopedLive("a request failing schema validation is INVALID_ARGUMENT naming the fields", () =>
  Effect.gen(function*() {
    const { client } = yield* start(yield* makeProbe)
    const error = yield* callError(client.ingestTick({ tick: tick({ symbol: "", size: -1 }) }))
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(error.details).toContain("tick.symbol")
    expect(error.details).toContain("tick.size")
    expect(error.metadata[GrpcStatus.invalidFieldsKey]).toBe("tick.symbol,tick.size")

    const missing = yield* callError(client.ingestTick({ tick: undefined }))
    expect(missing.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(missing.details).toContain("tick")
  }))

it.scopedLive("typed failures map to their status code, defects to INTERNAL without details", () =>
  Effect.gen(function*() {
    const { client } = yield* start(yield* makeProbe)
    const notFound = yield* callError(client.ingestTick({ tick: tick({ symbol: "MISSING" }) }))
    expect(notFound.code).toBe(grpc.status.NOT_FOUND)
    expect(notFound.details).toBe("no symbol MISSING")
    const defect = yield* callError(client.ingestTick({ tick: tick({ symbol: "BOOM" }) }))
    expect(defect.code).toBe(grpc.status.INTERNAL)
    expect(defect.details).not.toContain("secret")
  }))

it.scopedLive("a deadline ends the call with DEADLINE_EXCEEDED and interrupts the handler fiber", () =>
  Effect.gen(function*() {
    const probe = yield* makeProbe
    const { client } = yield* start(probe)
    const error = yield* callError(client.ingestTick({ tick: tick({ symbol: "SLOW" }) }, { deadline: "200 millis" }))
    expect(error.code).toBe(grpc.status.DEADLINE_EXCEEDED)
    yield* Deferred.await(probe.slowInterrupted).pipe(Effect.timeout("5 seconds"))
  }))

it.scopedLive("interrupting the client call cancels it and interrupts the server fiber", () =>
  Effect.gen(function*() {
    const probe = yield* makeProbe
    const { client } = yield* start(probe)
    const call = yield* Effect.fork(client.ingestTick({ tick: tick({ symbol: "SLOW" }) }))
    yield* Deferred.await(probe.slowStarted)
    yield* Fiber.interrupt(call)
    yield* Deferred.await(probe.slowInterrupted).pipe(Effect.timeout("5 seconds"))
  }))

it.scopedLive("client streaming hands the handler every request message", () =>
  Effect.gen(function*() {
    const { client } = yield* start(yield* makeProbe)
    const reply = yield* client.ingestTicks(
      Stream.make(tick(), tick(), tick(), { tick: undefined }).pipe(
        Stream.map((t) => "tick" in t ? t : { tick: t })
      )
    )
    expect(reply).toEqual({ accepted: 3 })
  }))

it.scopedLive("a client-streaming call gets the server's headers before the client ends its stream", () =>
  Effect.gen(function*() {
    const { port } = yield* start(yield* makeProbe)
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure())),
      (c) => Effect.sync(() => c.close())
    )
    const m = MarketIngestorServiceService.ingestTicks
    const headers = yield* Effect.async<grpc.Metadata>((resume) => {
      const call = client.makeClientStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, () => {})
      call.on("error", () => {})
      call.on("metadata", (received) => resume(Effect.succeed(received)))
      call.write({ tick: tick() })
      return Effect.sync(() => call.cancel())
    }).pipe(Effect.timeout("5 seconds"))
    expect(headers).toBeInstanceOf(grpc.Metadata)
  }))

it.scopedLive("a failing request stream cancels a client-streaming call with the stream's error", () =>
  Effect.gen(function*() {
    const { client } = yield* start(yield* makeProbe)
    const error = yield* Effect.flip(client.ingestTicks(
      Stream.concat(Stream.make({ tick: tick() }), Stream.fail("source broke" as const))
    ))
    expect(error).toBe("source broke")
  }))

it.scopedLive("the client span and the server span share a trace id (traceparent in metadata)", () =>
  Effect.gen(function*() {
    const probe = yield* makeProbe
    const { client } = yield* start(probe)
    const clientTraceId = yield* client.ingestTick({ tick: tick() }).pipe(
      Effect.zipRight(Effect.map(Effect.currentSpan, (span) => span.traceId)),
      Effect.withSpan("test-root")
    )
    expect(yield* Ref.get(probe.serverTraceId)).toEqual(Option.some(clientTraceId))
  }))

it.scopedLive("health Check reports per service and for \"\"; unknown names are NOT_FOUND", () =>
  Effect.gen(function*() {
    const { health } = yield* start(yield* makeProbe)
    expect(yield* health.check({ service: "" })).toEqual({ status: ServingStatus.SERVING })
    expect(yield* health.check({ service: "trading.v1.MarketIngestorService" })).toEqual({
      status: ServingStatus.SERVING
    })
    const unknown = yield* callError(health.check({ service: "nope.Service" }))
    expect(unknown.code).toBe(grpc.status.NOT_FOUND)
    const list = yield* health.list({})
    expect(Object.keys(list.statuses).sort()).toEqual(["", "grpc.health.v1.Health", "trading.v1.MarketIngestorService"])
  }))

it.scopedLive("killing a worker flips Check to NOT_SERVING and Watch streams the change", () =>
  Effect.gen(function*() {
    const { health, healthService } = yield* start(yield* makeProbe)
    const worker = yield* healthService.worker("ticker", () => Effect.never)
    const seen = yield* Queue.unbounded<ServingStatus>()
    yield* health.watch({ service: "trading.v1.MarketIngestorService" }, { deadline: Duration.infinity }).pipe(
      Stream.runForEach((reply) => Queue.offer(seen, reply.status)),
      Effect.forkScoped
    )
    expect(yield* Queue.take(seen)).toBe(ServingStatus.SERVING)
    yield* Fiber.interrupt(worker)
    expect(yield* Queue.take(seen)).toBe(ServingStatus.NOT_SERVING)
    expect(yield* health.check({ service: "" })).toEqual({ status: ServingStatus.NOT_SERVING })
  }))

it.scopedLive("reflection lists the served services", () =>
  Effect.gen(function*() {
    const { port } = yield* start(yield* makeProbe)
    const services = yield* listViaReflection(port)
    expect(services).toEqual(expect.arrayContaining(["grpc.health.v1.Health", "trading.v1.MarketIngestorService"]))
  }))

it.scopedLive("closing the server drains an in-flight call, then refuses new ones", () =>
  Effect.gen(function*() {
    const probe = yield* makeProbe
    const scope = yield* Scope.make()
    const context = yield* Layer.build(serverLayer(probe)).pipe(Scope.extend(scope))
    const address = `127.0.0.1:${Context.get(context, GrpcServer).port}`
    const client = yield* GrpcClient.make(MarketIngestorServiceService, { address })
    const inFlight = yield* Effect.fork(client.ingestTick({ tick: tick({ symbol: "SLOW", tickId: "drained" }) }))
    yield* Deferred.await(probe.slowStarted)
    const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
    // the server's release starts by reporting not serving: from then on it is draining
    yield* Context.get(context, Health).watch("").pipe(Stream.filter((s) => s === "not_serving"), Stream.runHead)
    yield* Deferred.succeed(probe.release, undefined)
    expect(yield* Fiber.join(inFlight)).toEqual({ tickId: "drained", sequence: 7 })
    yield* Fiber.join(closing)
    const refused = yield* callError(client.ingestTick({ tick: tick() }, { deadline: "2 seconds" }))
    expect(refused.code).toBe(grpc.status.UNAVAILABLE)
  }))

it.scopedLive("the drain deadline cancels calls that do not finish", () =>
  Effect.gen(function*() {
    const probe = yield* makeProbe
    const scope = yield* Scope.make()
    const context = yield* Layer.build(serverLayer(probe, { drainTimeout: Duration.millis(300) })).pipe(
      Scope.extend(scope)
    )
    // the client outlives the server: closing it would cancel the call and end the drain early
    const client = yield* GrpcClient.make(MarketIngestorServiceService, {
      address: `127.0.0.1:${Context.get(context, GrpcServer).port}`
    })
    const inFlight = yield* Effect.fork(
      Effect.exit(client.ingestTick({ tick: tick({ symbol: "SLOW" }) }, { deadline: "1 minute" }))
    )
    yield* Deferred.await(probe.slowStarted)
    // closed uninterruptibly, as `Effect.scoped`/runMain close scopes: the drain timeout must still fire
    yield* Scope.close(scope, Exit.void).pipe(Effect.uninterruptible, Effect.timeout("5 seconds"))
    const exit = yield* Fiber.join(inFlight)
    expect(Exit.isFailure(exit)).toBe(true)
    yield* Deferred.await(probe.slowInterrupted).pipe(Effect.timeout("5 seconds"))
  }))

it.scopedLive("binding a port in use fails the layer with GrpcServerError", () =>
  Effect.gen(function*() {
    const { port } = yield* start(yield* makeProbe)
    // grpc-js would also print its own "No address added" line to stderr
    grpc.setLogVerbosity(grpc.logVerbosity.NONE)
    const error = yield* Effect.flip(Layer.build(serverLayer(yield* makeProbe, { grpcPort: port }))).pipe(
      Effect.ensuring(Effect.sync(() => grpc.setLogVerbosity(grpc.logVerbosity.ERROR)))
    )
    expect(error._tag).toBe("GrpcServerError")
    expect(error.message).toContain(`binding 127.0.0.1:${port}`)
  }))

// grpc.reflection.v1 via its own proto (shipped with @grpc/reflection)
const listViaReflection = (port: number) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const { createRequire } = await import("node:module")
      const path = await import("node:path")
      const protoLoader = await import("@grpc/proto-loader")
      const require = createRequire(import.meta.url)
      const root = path.dirname(require.resolve("@grpc/reflection/package.json"))
      const definition = protoLoader.loadSync(path.join(root, "build/proto/grpc/reflection/v1/reflection.proto"))
      const loaded = grpc.loadPackageDefinition(definition) as unknown as {
        grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } }
      }
      return new loaded.grpc.reflection.v1.ServerReflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
    }),
    (client) => Effect.sync(() => client.close())
  ).pipe(
    Effect.flatMap((client) =>
      Effect.async<ReadonlyArray<string>, Error>((resume) => {
        const call = (client as unknown as { serverReflectionInfo: () => grpc.ClientDuplexStream<unknown, unknown> })
          .serverReflectionInfo()
        call.on("data", (response: { listServicesResponse?: { service: Array<{ name: string }> } }) => {
          resume(Effect.succeed(response.listServicesResponse?.service.map((s) => s.name) ?? []))
          call.end()
        })
        call.on("error", (error) => resume(Effect.fail(error)))
        call.write({ listServices: "" })
      })
    )
  )
