// Mutual TLS on loopback with certificates made by openssl at test time.
import { expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { HealthCheckResponse_ServingStatus, HealthService } from "@trading/proto/gen/grpc/health/v1/health"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import * as GrpcClient from "../src/GrpcClient.js"
import { GrpcServer } from "../src/GrpcServer.js"
import * as GrpcService from "../src/GrpcService.js"
import { Health } from "../src/Health.js"
import { ServerConfig } from "../src/ServerConfig.js"

let dir = ""
const file = (name: string) => join(dir, name)
const openssl = (...args: Array<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" })

const issue = (name: string, ca: string, subject: string) => {
  openssl(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    subject
  )
  openssl(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "1",
    "-extfile",
    "san.ext"
  )
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "platform-tls-"))
  writeFileSync(file("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
  for (const ca of ["ca", "rogue-ca"]) {
    openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.pem`,
      "-days",
      "1",
      "-subj",
      `/CN=${ca}`
    )
  }
  issue("server", "ca", "/CN=localhost")
  issue("client", "ca", "/CN=client")
  issue("rogue", "rogue-ca", "/CN=rogue")
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
