// A gRPC client as a scoped resource: every method of a ts-proto service definition becomes
// an Effect (or a Stream; a bidirectional one a DuplexCall). Every call carries a deadline
// (GRPC_DEADLINE_MS unless overridden), interrupting the Effect cancels the call, the
// current span travels as `traceparent`, and a non-OK status becomes a typed GrpcCallError
// with its code and details.
import * as grpc from "@grpc/grpc-js"
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import { codeName } from "./GrpcStatus.js"
import { fromReadable } from "./internal/grpcRead.js"
import { write } from "./internal/grpcWrite.js"
import * as Metrics from "./Metrics.js"
import { ServerConfig, type TlsPaths } from "./ServerConfig.js"
import * as Traceparent from "./Traceparent.js"

export class GrpcCallError extends Data.TaggedError("GrpcCallError")<{
  readonly method: string
  readonly code: grpc.status
  readonly details: string
  readonly metadata: Readonly<Record<string, string>>
}> {
  override get message(): string {
    return `${this.method} failed with ${codeName(this.code)}: ${this.details}`
  }
}

export class GrpcClientError extends Data.TaggedError("GrpcClientError")<{
  readonly address: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `gRPC client for ${this.address}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

export interface CallOptions {
  /** Overrides the client's deadline; `Duration.infinity` for a call meant to stay open (Watch). */
  readonly deadline?: Duration.DurationInput | undefined
  readonly metadata?: Readonly<Record<string, string>> | undefined
}

type RequestOf<M> = M extends { readonly requestSerialize: (value: infer Req) => Buffer } ? Req : never
type ResponseOf<M> = M extends { readonly responseDeserialize: (value: Buffer) => infer Res } ? Res : never

export type MethodFor<M> = M extends { readonly requestStream: false; readonly responseStream: false }
  ? (request: RequestOf<M>, options?: CallOptions) => Effect.Effect<ResponseOf<M>, GrpcCallError>
  : M extends { readonly requestStream: false; readonly responseStream: true }
    ? (request: RequestOf<M>, options?: CallOptions) => Stream.Stream<ResponseOf<M>, GrpcCallError>
  : M extends { readonly requestStream: true; readonly responseStream: false } ? <E>(
      requests: Stream.Stream<RequestOf<M>, E>,
      options?: CallOptions
    ) => Effect.Effect<ResponseOf<M>, GrpcCallError | E>
  : M extends { readonly requestStream: true; readonly responseStream: true } ? (
      onMessage: (message: ResponseOf<M>) => void,
      options?: CallOptions
    ) => Effect.Effect<DuplexCall<RequestOf<M>>, never, Scope.Scope>
  : never

/**
 * An open bidi-streaming call (closed with the scope it was opened in, cancelling it if it is
 * still open). Responses go to the `onMessage` given when it was opened, synchronously as
 * they arrive: the shape for unary calls multiplexed on one stream (GrpcService.multiplexed),
 * where a Stream per message costs more than the unary call it replaces. It has no span or
 * call metrics of its own: its messages are the caller's calls, which the caller traces.
 */
export interface DuplexCall<Req> {
  /** Sends a message; grpc-js buffers it when the stream's window is full. */
  readonly write: (message: Req) => void
  /** Half-closes: the server ends the call once it has answered. */
  readonly end: Effect.Effect<void>
  /** Cancels the call (its `done` fails with CANCELLED); harmless once it ended. */
  readonly cancel: () => void
  /** False once the call ended or was cancelled: a write then goes nowhere. */
  readonly isOpen: () => boolean
  /** Completes when the call ends: with OK, or failing with its status. */
  readonly done: Effect.Effect<void, GrpcCallError>
}

export type Client<D> = { readonly [K in keyof D]: MethodFor<D[K]> }

export interface ClientOptions {
  /** `host:port` */
  readonly address: string
  /** Default deadline of every call (default: GRPC_DEADLINE_MS from ServerConfig, else 5 s). */
  readonly deadline?: Duration.DurationInput | undefined
  /** TLS files (default: GRPC_TLS_* from ServerConfig when present; else plaintext). */
  readonly tls?: TlsPaths | "insecure" | undefined
  readonly channelOptions?: grpc.ChannelOptions | undefined
}

const toCallError = (method: string, error: Partial<grpc.ServiceError>): GrpcCallError =>
  new GrpcCallError({
    method,
    code: error.code ?? grpc.status.UNKNOWN,
    details: error.details ?? error.message ?? "unknown error",
    metadata: Object.fromEntries(
      Object.entries(error.metadata?.getMap() ?? {}).map(([key, value]) => [key, value.toString()])
    )
  })

const channelCredentials = (address: string, tls: TlsPaths | undefined) =>
  tls === undefined
    ? Effect.succeed(grpc.credentials.createInsecure())
    : Effect.try({
      try: () =>
        grpc.credentials.createSsl(
          Option.getOrNull(Option.map(tls.ca, (path) => readFileSync(path))),
          readFileSync(tls.key),
          readFileSync(tls.cert)
        ),
      catch: (cause) => new GrpcClientError({ address, cause })
    })

// built once per method (and code): a per-call Metric.tagged would build a new metric key each time
const handled = Metrics.family((method, code) =>
  Metrics.counter(
    "grpc_client_handled_total",
    "gRPC calls completed by clients, by method and status code",
    [["method", method], ["code", code]]
  )
)
const latency = Metrics.family((method) =>
  Metrics.latency("grpc_client_call_seconds", "gRPC client call latency, by method", undefined, [["method", method]])
)

const observe = (method: string) => <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  effect.pipe(
    Effect.onExit((exit) => {
      const code = Exit.isSuccess(exit)
        ? "OK"
        : Option.match(Cause.failureOption(exit.cause), {
          onSome: (error) => error instanceof GrpcCallError ? codeName(error.code) : "CLIENT_ERROR",
          onNone: () => Cause.isInterruptedOnly(exit.cause) ? "CANCELLED" : "CLIENT_ERROR"
        })
      return Metric.update(handled(method, code), 1)
    }),
    Metrics.time(latency(method))
  )

/** Builds the call metadata: caller's entries plus the current span's traceparent. */
const metadataFor = (options: CallOptions | undefined) =>
  Effect.map(Traceparent.current, (traceparent) => {
    const metadata = new grpc.Metadata()
    for (const [key, value] of Object.entries(options?.metadata ?? {})) metadata.set(key, value)
    if (Option.isSome(traceparent)) metadata.set(Traceparent.headerName, traceparent.value)
    return metadata
  })

/** A client for `definition` at `options.address`, closed with the scope. */
export const make = <D extends grpc.ServiceDefinition>(
  definition: D,
  options: ClientOptions
): Effect.Effect<Client<D>, GrpcClientError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* Effect.serviceOption(ServerConfig)
    const defaultDeadline = Duration.decode(
      options.deadline ?? Option.match(settings, { onNone: () => "5 seconds", onSome: (s) => s.clientDeadline })
    )
    const tls = options.tls === "insecure"
      ? undefined
      : options.tls ?? Option.getOrUndefined(Option.flatMap(settings, (s) => s.tls))
    const credentials = yield* channelCredentials(options.address, tls)
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new grpc.Client(options.address, credentials, options.channelOptions),
        catch: (cause) => new GrpcClientError({ address: options.address, cause })
      }),
      (client) => Effect.sync(() => client.close())
    )

    const callOptions = (call: CallOptions | undefined): grpc.CallOptions => {
      const deadline = Duration.decode(call?.deadline ?? defaultDeadline)
      // grpc deadlines are wall-clock instants (real sockets run on real time)
      return Duration.isFinite(deadline) ? { deadline: Date.now() + Duration.toMillis(deadline) } : {}
    }

    const span = (method: string) =>
      Effect.withSpan(`grpc.client ${method}`, {
        kind: "client",
        // the stack would be this module's own, the same for every call
        captureStackTrace: false,
        attributes: { "rpc.system": "grpc", "rpc.method": method, "server.address": options.address }
      })

    const unary = (method: grpc.MethodDefinition<unknown, unknown>) => (request: unknown, call?: CallOptions) =>
      Effect.flatMap(metadataFor(call), (metadata) =>
        Effect.async<unknown, GrpcCallError>((resume) => {
          const pending = client.makeUnaryRequest(
            method.path,
            method.requestSerialize,
            method.responseDeserialize,
            request,
            metadata,
            callOptions(call),
            (error, response) => resume(error ? Effect.fail(toCallError(method.path, error)) : Effect.succeed(response))
          )
          return Effect.sync(() => pending.cancel())
        })).pipe(observe(method.path), span(method.path))

    const serverStream = (method: grpc.MethodDefinition<unknown, unknown>) => (request: unknown, call?: CallOptions) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const metadata = yield* metadataFor(call)
        const pending = yield* Effect.acquireRelease(
          Effect.sync(() =>
            client.makeServerStreamRequest(
              method.path,
              method.requestSerialize,
              method.responseDeserialize,
              request,
              metadata,
              callOptions(call)
            )
          ),
          // harmless after the stream ended; cancels it when the consumer stops early
          (pending) => Effect.sync(() => pending.cancel())
        )
        return fromReadable(pending, (error) => toCallError(method.path, error as Partial<grpc.ServiceError>))
      })).pipe(
        Stream.withSpan(`grpc.client ${method.path}`, {
          kind: "client",
          attributes: { "rpc.system": "grpc", "rpc.method": method.path, "server.address": options.address }
        })
      )

    const clientStream =
      (method: grpc.MethodDefinition<unknown, unknown>) =>
      <E>(requests: Stream.Stream<unknown, E>, call?: CallOptions) =>
        Effect.scoped(Effect.gen(function*() {
          const metadata = yield* metadataFor(call)
          const result = yield* Deferred.make<unknown, GrpcCallError>()
          const pending = yield* Effect.acquireRelease(
            Effect.sync(() =>
              client.makeClientStreamRequest(
                method.path,
                method.requestSerialize,
                method.responseDeserialize,
                metadata,
                callOptions(call),
                (error, response) =>
                  Deferred.unsafeDone(
                    result,
                    error ? Exit.fail(toCallError(method.path, error)) : Exit.succeed(response)
                  )
              )
            ),
            (pending, exit) => Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => pending.cancel())
          )
          const writer = yield* Stream.runForEach(requests, (message) => write(pending, message)).pipe(
            Effect.zipRight(Effect.sync(() => pending.end())),
            Effect.forkScoped
          )
          // the server may answer before reading everything; a failing request stream cancels the call
          return yield* Effect.raceFirst(
            Deferred.await(result),
            Fiber.join(writer).pipe(Effect.zipRight(Effect.never))
          )
        })).pipe(observe(method.path), span(method.path))

    const duplex =
      (method: grpc.MethodDefinition<unknown, unknown>) =>
      (onMessage: (message: unknown) => void, call?: CallOptions) =>
        Effect.gen(function*() {
          const metadata = yield* metadataFor(call)
          const done = yield* Deferred.make<void, GrpcCallError>()
          let open = true
          const pending = yield* Effect.acquireRelease(
            Effect.sync(() => {
              const pending = client.makeBidiStreamRequest(
                method.path,
                method.requestSerialize,
                method.responseDeserialize,
                metadata,
                callOptions(call)
              )
              pending.on("data", onMessage)
              pending.on("error", (error) => {
                open = false
                Deferred.unsafeDone(done, Exit.fail(toCallError(method.path, error)))
              })
              pending.on("status", (status: grpc.StatusObject) => {
                open = false
                if (status.code === grpc.status.OK) Deferred.unsafeDone(done, Exit.void)
              })
              return pending
            }),
            // harmless after the call ended
            (pending) => Effect.sync(() => pending.cancel())
          )
          return {
            write: (message) => void pending.write(message),
            end: Effect.sync(() => pending.end()),
            cancel: () => {
              open = false
              pending.cancel()
            },
            isOpen: () => open,
            done: Deferred.await(done)
          } satisfies DuplexCall<unknown>
        })

    const methods: Record<string, unknown> = {}
    for (const [key, method] of Object.entries(definition)) {
      methods[key] = method.requestStream
        ? method.responseStream ? duplex(method) : clientStream(method)
        : method.responseStream
        ? serverStream(method)
        : unary(method)
    }
    return methods as Client<D>
  })

/**
 * A client as a Layer for `tag`; `options` may be an Effect, e.g. reading the address
 * from Config: `GrpcClient.layer(RaftClient, RaftNodeServiceService, Effect.map(Config.string("RAFT_NODE_GRPC_ADDR"), (address) => ({ address })))`.
 */
export const layer = <Id, D extends grpc.ServiceDefinition, E = never, R = never>(
  tag: Context.Tag<Id, Client<D>>,
  definition: D,
  options: ClientOptions | Effect.Effect<ClientOptions, E, R>
): Layer.Layer<Id, E | GrpcClientError, R> =>
  Layer.scoped(
    tag,
    Effect.flatMap(
      Effect.isEffect(options) ? options : Effect.succeed(options),
      (resolved) => make(definition, resolved)
    )
  )
