// One process, both health surfaces: killing a supervised worker flips HTTP /healthz and
// grpc.health.v1 (Check and a running Watch) to not serving together.
import { expect, it } from "@effect/vitest"
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService
} from "@trading/proto/gen/grpc/health/v1/health"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as GrpcClient from "./GrpcClient.js"
import { GrpcServer } from "./GrpcServer.js"
import type { GrpcRegistry } from "./GrpcService.js"
import { Health } from "./Health.js"
import { HttpServer } from "./HttpServer.js"
import { ServerConfig } from "./ServerConfig.js"

it.scopedLive("killing a worker flips /healthz to 503 and gRPC Check/Watch to NOT_SERVING", () =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Layer.merge(GrpcServer.layer(Layer.empty as Layer.Layer<never, never, GrpcRegistry>), HttpServer.layer()).pipe(
        Layer.provideMerge(Health.layer),
        Layer.provideMerge(ServerConfig.layerTest()),
        Layer.provide(Logger.replace(Logger.defaultLogger, Logger.none))
      )
    )
    const health = Context.get(context, Health)
    const worker = yield* health.worker("consumer", () => Effect.never)
    const grpc = yield* GrpcClient.make(HealthService, {
      address: `127.0.0.1:${Context.get(context, GrpcServer).port}`
    })
    const healthz = Effect.promise(() =>
      fetch(`http://127.0.0.1:${Context.get(context, HttpServer).port}/healthz`).then(async (r) => ({
        status: r.status,
        body: await r.json() as { components: unknown }
      }))
    )

    const watched = yield* Queue.unbounded<ServingStatus>()
    yield* grpc.watch({ service: "" }, { deadline: Duration.infinity }).pipe(
      Stream.runForEach((reply) => Queue.offer(watched, reply.status)),
      Effect.forkScoped
    )
    expect(yield* Queue.take(watched)).toBe(ServingStatus.SERVING)
    expect((yield* healthz).status).toBe(200)
    expect(yield* grpc.check({ service: "" })).toEqual({ status: ServingStatus.SERVING })

    yield* Fiber.interrupt(worker)

    expect(yield* Queue.take(watched)).toBe(ServingStatus.NOT_SERVING)
    expect(yield* grpc.check({ service: "" })).toEqual({ status: ServingStatus.NOT_SERVING })
    const after = yield* healthz
    expect(after.status).toBe(503)
    expect(after.body.components).toEqual([{ name: "consumer", services: [], state: "failed", cause: "interrupted" }])
  }))
