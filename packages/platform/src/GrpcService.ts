// How a service package contributes a gRPC service: a Layer that registers typed Effect
// handlers for a ts-proto `grpc-js` service definition. The server (GrpcServer.layer)
// builds all registrations first and binds once, after the last one is in.
import type * as grpc from "@grpc/grpc-js"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import type * as Stream from "effect/Stream"
import type { GrpcStatusError } from "./GrpcStatus.js"

/** What a handler knows about its call. */
export interface CallContext {
  /** Full method path, e.g. `/trading.v1.OrderExecutorService/SubmitOrder`. */
  readonly method: string
  readonly metadata: grpc.Metadata
  readonly peer: string
}

export interface UnaryHandler<Req, Res> {
  readonly _tag: "Unary"
  readonly handle: (request: Req, call: CallContext) => Effect.Effect<Res, GrpcStatusError>
}

export interface ServerStreamHandler<Req, Res> {
  readonly _tag: "ServerStream"
  readonly handle: (request: Req, call: CallContext) => Stream.Stream<Res, GrpcStatusError>
  /** End the stream (status OK) when the server starts draining, instead of waiting for the drain deadline. */
  readonly endOnShutdown: boolean
}

export interface ClientStreamHandler<Req, Res> {
  readonly _tag: "ClientStream"
  readonly handle: (
    requests: Stream.Stream<Req, GrpcStatusError>,
    call: CallContext
  ) => Effect.Effect<Res, GrpcStatusError>
}

/**
 * A bidi-streaming method used as unary calls multiplexed on one stream: each request
 * message is handled on a fiber of its own, as a unary call would be, and answered with one
 * response message when it completes (in completion order, so the messages must carry
 * their own correlation id). A handler failure ends the whole stream with its status: use
 * it for a stream that cannot go on (a request without an id), and answer a failed call
 * inside its response message. The stream ends (status OK) once the client half-closed
 * and every call is answered; a draining server stops reading and ends it the same way.
 */
export interface MultiplexedHandler<Req, Res> {
  readonly _tag: "Multiplexed"
  readonly handle: (request: Req, call: CallContext) => Effect.Effect<Res, GrpcStatusError>
  /** Calls of one stream handled at once; the stream is not read while this many are running. */
  readonly maxInFlight: number
  /**
   * Optional fast path (ADR 0095): takes the request without a fiber of its own and answers
   * it by calling `answer` once (as `handle`'s exit would be), returning true; or returns
   * false, having done nothing, and `handle` serves the request as usual.
   */
  readonly now?: AnswerNow<Req, Res> | undefined
}

export type AnswerNow<Req, Res> = (
  request: Req,
  call: CallContext,
  answer: (exit: Exit.Exit<Res, GrpcStatusError>) => void
) => boolean

export type AnyHandler =
  | UnaryHandler<never, unknown>
  | ServerStreamHandler<never, unknown>
  | ClientStreamHandler<never, unknown>
  | MultiplexedHandler<never, unknown>

/** One call = one fiber, interrupted when the client cancels or the deadline passes. */
export const unary = <Req, Res>(
  handle: (request: Req, call: CallContext) => Effect.Effect<Res, GrpcStatusError>
): UnaryHandler<Req, Res> => ({ _tag: "Unary", handle })

/** Writes each element with backpressure; the stream's failure becomes the call's status. */
export const serverStream = <Req, Res>(
  handle: (request: Req, call: CallContext) => Stream.Stream<Res, GrpcStatusError>,
  options: { readonly endOnShutdown?: boolean } = {}
): ServerStreamHandler<Req, Res> => ({ _tag: "ServerStream", handle, endOnShutdown: options.endOnShutdown ?? false })

/** The request messages arrive as a Stream (pulled with backpressure). */
export const clientStream = <Req, Res>(
  handle: (requests: Stream.Stream<Req, GrpcStatusError>, call: CallContext) => Effect.Effect<Res, GrpcStatusError>
): ClientStreamHandler<Req, Res> => ({ _tag: "ClientStream", handle })

/** See {@link MultiplexedHandler}. */
export const multiplexed = <Req, Res>(
  handle: (request: Req, call: CallContext) => Effect.Effect<Res, GrpcStatusError>,
  options: { readonly maxInFlight?: number; readonly now?: AnswerNow<Req, Res> } = {}
): MultiplexedHandler<Req, Res> => ({
  _tag: "Multiplexed",
  handle,
  maxInFlight: options.maxInFlight ?? 1024,
  now: options.now
})

type RequestOf<M> = M extends { readonly requestDeserialize: (value: Buffer) => infer Req } ? Req : never
type ResponseOf<M> = M extends { readonly responseSerialize: (value: infer Res) => Buffer } ? Res : never

/** The handler a method of a ts-proto service definition needs. */
export type HandlerFor<M> = M extends { readonly requestStream: false; readonly responseStream: false }
  ? UnaryHandler<RequestOf<M>, ResponseOf<M>>
  : M extends { readonly requestStream: false; readonly responseStream: true }
    ? ServerStreamHandler<RequestOf<M>, ResponseOf<M>>
  : M extends { readonly requestStream: true; readonly responseStream: false }
    ? ClientStreamHandler<RequestOf<M>, ResponseOf<M>>
  : M extends { readonly requestStream: true; readonly responseStream: true }
    ? MultiplexedHandler<RequestOf<M>, ResponseOf<M>>
  : never

export type Handlers<D> = { readonly [K in keyof D]: HandlerFor<D[K]> }

export interface Registration {
  readonly serviceName: string
  readonly definition: grpc.ServiceDefinition
  readonly handlers: Readonly<Record<string, AnyHandler>>
}

/** `trading.v1.OrderExecutorService` from a definition's method paths. */
export const serviceNameOf = (definition: grpc.ServiceDefinition): string => {
  const first = Object.values(definition)[0]
  if (first === undefined) throw new Error("a gRPC service definition needs at least one method")
  return first.path.split("/")[1]!
}

/** Collects registrations for one server; created by GrpcServer.layer. */
export class GrpcRegistry extends Context.Tag("@trading/platform/GrpcRegistry")<GrpcRegistry, {
  readonly add: (registration: Registration) => Effect.Effect<void>
  readonly all: Effect.Effect<ReadonlyArray<Registration>>
}>() {
  static readonly layer: Layer.Layer<GrpcRegistry> = Layer.effect(
    GrpcRegistry,
    Effect.map(Ref.make<ReadonlyArray<Registration>>([]), (ref) => ({
      add: (registration) =>
        Ref.modify(ref, (all) =>
          all.some((r) => r.serviceName === registration.serviceName)
            ? [false, all] as const
            : [true, [...all, registration]] as const).pipe(
            Effect.flatMap((added) =>
              added ? Effect.void : Effect.dieMessage(`gRPC service ${registration.serviceName} registered twice`)
            )
          ),
      all: Ref.get(ref)
    }))
  )
}

/**
 * A Layer registering `definition` (a ts-proto `...Service` object) with the handlers made
 * by `make`, which may use any services it needs (handlers close over them).
 */
export const layer = <D extends grpc.ServiceDefinition, E = never, R = never>(
  definition: D,
  make: Effect.Effect<Handlers<D>, E, R> | Handlers<D>
): Layer.Layer<never, E, R | GrpcRegistry> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const registry = yield* GrpcRegistry
    const handlers = Effect.isEffect(make) ? yield* make : make
    yield* registry.add({
      serviceName: serviceNameOf(definition),
      definition,
      handlers: handlers as unknown as Readonly<Record<string, AnyHandler>>
    })
  }))
