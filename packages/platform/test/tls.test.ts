// Mutual TLS on loopback with certificates made by openssl at test time.
import { expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { HealthCheckResponse_ServingStatus, HealthService } from "@trading/proto/gen/grpc/health/v1/health"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import * as GrpcClient from "../src/GrpcClient.js"
import { GrpcServer } from "../src/GrpcServer.js"
import * as GrpcService from "../src/GrpcService.js"
import { Health } from "../src/Health.js"
import { ServerConfig } from "../src/ServerConfig.js"
import { issueCertificate, makeCertificateAuthority } from "../src/testing/TestCertificates.js"

let dir = ""
const file = (name: string) => join(dir, name)
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "platform-tls-"))
  makeCertificateAuthority(dir, "ca")
  makeCertificateAuthority(dir, "rogue-ca")
  issueCertificate(dir, { name: "server", ca: "ca", subject: "/CN=localhost" })
  issueCertificate(dir, { name: "client", ca: "ca" })
  issueCertificate(dir, { name: "rogue", ca: "rogue-ca" })
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

const tls = (name: string) => ({ cert: file(`${name}.pem`), key: file(`${name}.key`), ca: Option.some(file("ca.pem")) })

const start = Effect.gen(function*() {
  const layer = GrpcServer.layer(Layer.empty as Layer.Layer<never, never, GrpcService.GrpcRegistry>).pipe(
    Layer.provideMerge(Health.layer),
    Layer.provideMerge(ServerConfig.layerTest({ tls: Option.some(tls("server")) })),
    Layer.provide(Logger.replace(Logger.defaultLogger, Logger.none))
  )
  return Context.get(yield* Layer.build(layer), GrpcServer).port
})

it.scopedLive("a client with a certificate from the cluster CA gets through mutual TLS", () =>
  Effect.gen(function*() {
    const port = yield* start
    const health = yield* GrpcClient.make(HealthService, { address: `127.0.0.1:${port}`, tls: tls("client") })
    expect(yield* health.check({ service: "" })).toEqual({ status: HealthCheckResponse_ServingStatus.SERVING })
  }))

it.scopedLive("plaintext clients and clients with a foreign certificate are refused", () =>
  Effect.gen(function*() {
    const port = yield* start
    const plain = yield* GrpcClient.make(HealthService, { address: `127.0.0.1:${port}`, tls: "insecure" })
    expect((yield* Effect.flip(plain.check({ service: "" }, { deadline: "2 seconds" }))).code).toBe(
      grpc.status.UNAVAILABLE
    )
    const rogue = yield* GrpcClient.make(HealthService, {
      address: `127.0.0.1:${port}`,
      tls: { ...tls("rogue"), ca: Option.some(file("ca.pem")) }
    })
    expect((yield* Effect.flip(rogue.check({ service: "" }, { deadline: "2 seconds" }))).code).toBe(
      grpc.status.UNAVAILABLE
    )
  }))
