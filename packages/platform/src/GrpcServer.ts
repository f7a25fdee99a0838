// The gRPC server as a scoped Layer over @grpc/grpc-js. Registrations (GrpcService.layer)
// are built first, then the server adds grpc.health.v1 and server reflection, binds once,
// and on release drains: health goes NOT_SERVING, `tryShutdown` waits for in-flight calls
// up to SHUTDOWN_DRAIN_MS, then `forceShutdown` cancels the rest.
import * as grpc from "@grpc/grpc-js"
import { loadFileDescriptorSetFromBuffer } from "@grpc/proto-loader"
import { ReflectionService } from "@grpc/reflection"
import { descriptorSetPath } from "@trading/proto"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { readFileSync } from "node:fs"
import { GrpcRegistry, type Registration } from "./GrpcService.js"
import { Health } from "./Health.js"
import { makeHealthService } from "./internal/grpcHealth.js"
import { bridge } from "./internal/grpcServerBridge.js"
import { ServerConfig, type TlsPaths } from "./ServerConfig.js"

export class GrpcServerError extends Data.TaggedError("GrpcServerError")<{
  readonly op: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `gRPC server ${this.op} failed: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

export interface GrpcServerInfo {
  /** The bound port (useful with PORT_GRPC=0). */
  readonly port: number
  readonly services: ReadonlyArray<string>
}

const readTls = (tls: TlsPaths) =>
  Effect.try({
    try: () => ({
      cert: readFileSync(tls.cert),
      key: readFileSync(tls.key),
      ca: Option.map(tls.ca, (path) => readFileSync(path))
    }),
    catch: (cause) => new GrpcServerError({ op: "reading TLS files", cause })
  })

const credentials = (tls: Option.Option<TlsPaths>) =>
  Option.match(tls, {
    onNone: () => Effect.succeed(grpc.ServerCredentials.createInsecure()),
    onSome: (paths) =>
      Effect.map(readTls(paths), ({ ca, cert, key }) =>
        // with a CA, clients must present a certificate signed by it (mutual TLS)
        grpc.ServerCredentials.createSsl(
          Option.getOrNull(ca),
          [{ private_key: key, cert_chain: cert }],
          Option.isSome(ca)
        ))
  })

const healthServiceName = "grpc.health.v1.Health"

const make = Effect.gen(function*() {
  const settings = yield* ServerConfig
  const health = yield* Health
  const registrations = yield* Effect.flatMap(GrpcRegistry, (registry) => registry.all)
  const creds = yield* credentials(settings.tls)
  const descriptors = yield* Effect.try({
    try: () => loadFileDescriptorSetFromBuffer(readFileSync(descriptorSetPath)),
    catch: (cause) => new GrpcServerError({ op: "loading descriptors for reflection", cause })
  })

  // opened before the server, so it closes after it: calls still running after the drain
  // deadline are interrupted here, not abandoned
  const run = yield* FiberSet.makeRuntime<never>()
  const closing = yield* Deferred.make<void>()
  const services = [healthServiceName, ...registrations.map((r) => r.serviceName)]

  const server = yield* Effect.acquireRelease(
    Effect.sync(() => new grpc.Server()),
    (server) =>
      Effect.gen(function*() {
        yield* Effect.logInfo("gRPC server draining")
        yield* health.drain
        yield* Deferred.succeed(closing, undefined)
        const drained = yield* Effect.async<void>((resume) => server.tryShutdown(() => resume(Effect.void))).pipe(
          Effect.interruptible, // releases are uninterruptible: without this the timeout never fires
          Effect.timeout(settings.drainTimeout),
          Effect.as(true),
          Effect.catchAll(() => Effect.succeed(false))
        )
        if (!drained) {
          yield* Effect.logWarning("gRPC drain deadline passed, cancelling remaining calls")
          server.forceShutdown()
        }
        yield* Effect.logInfo("gRPC server stopped")
      })
  )

  const add = (registration: Registration) =>
    Effect.try({
      try: () =>
        server.addService(
          registration.definition,
          bridge(registration, { run, closing })
        ),
      catch: (cause) => new GrpcServerError({ op: `adding ${registration.serviceName}`, cause })
    })

  yield* add({
    serviceName: healthServiceName,
    definition: makeHealthService.definition,
    handlers: makeHealthService.handlers(health)
  })
  yield* Effect.forEach(registrations, add, { discard: true })
  new ReflectionService(descriptors, { services }).addToServer(server)

  const address = `${settings.host}:${settings.grpcPort}`
  const port = yield* Effect.async<number, GrpcServerError>((resume) =>
    server.bindAsync(
      address,
      creds,
      (error, port) =>
        resume(
          error ? Effect.fail(new GrpcServerError({ op: `binding ${address}`, cause: error })) : Effect.succeed(port)
        )
    )
  )
  yield* Effect.forEach(services, health.registerGrpcService, { discard: true })
  yield* Effect.logInfo("gRPC server listening").pipe(
    Effect.annotateLogs({ port, services: services.join(","), tls: Option.isSome(settings.tls) })
  )
  return { port, services } satisfies GrpcServerInfo
})

/** See {@link GrpcServer.layer}. */
export const layer = <E, R>(services: Layer.Layer<never, E, R>) => GrpcServer.layer(services)

export class GrpcServer extends Context.Tag("@trading/platform/GrpcServer")<GrpcServer, GrpcServerInfo>() {
  /**
   * The server with every registration in `services` (a merge of GrpcService.layer's),
   * plus health and reflection. It binds once all registrations are built.
   */
  static readonly layer = <E, R>(
    services: Layer.Layer<never, E, R>
  ): Layer.Layer<GrpcServer, E | GrpcServerError, Exclude<R, GrpcRegistry> | ServerConfig | Health> =>
    Layer.scoped(GrpcServer, make).pipe(Layer.provide(services), Layer.provide(GrpcRegistry.layer))
}
