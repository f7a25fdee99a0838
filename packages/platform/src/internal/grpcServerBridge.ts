// Turns Effect handlers into grpc-js handlers. Each call runs as a fiber in the server's
// FiberSet runtime; the client cancelling (or its deadline passing) interrupts the fiber.
// Every call gets a server span continuing the caller's `traceparent`, a status-code
// counter and a latency histogram; defects are logged here because grpc-js would only
// see an opaque INTERNAL.
import * as grpc from "@grpc/grpc-js"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { AnyHandler, CallContext, Registration } from "../GrpcService.js"
import * as GrpcStatus from "../GrpcStatus.js"
import * as Metrics from "../Metrics.js"
import * as Traceparent from "../Traceparent.js"
import { fromReadable } from "./grpcRead.js"
import { write } from "./grpcWrite.js"

export interface BridgeRuntime {
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
  /** Completed when the server starts draining. */
  readonly closing: Deferred.Deferred<void>
}

// built once per method (and code): a per-call Metric.tagged would build a new metric key each time
const handled = Metrics.family((method, code) =>
  Metrics.counter(
    "grpc_server_handled_total",
    "gRPC calls completed by the server, by method and status code",
    [["method", method], ["code", code]]
  )
)
const handling = Metrics.family((method) =>
  Metrics.latency("grpc_server_handling_seconds", "gRPC server call latency, by method", undefined, [[
    "method",
    method
  ]])
)

const toMetadata = (values: Readonly<Record<string, string>> | undefined) => {
  const metadata = new grpc.Metadata()
  for (const [key, value] of Object.entries(values ?? {})) metadata.set(key, value)
  return metadata
}

const statusOf = (cause: Cause.Cause<GrpcStatus.GrpcStatusError>): grpc.StatusObject =>
  Option.match(Cause.failureOption(cause), {
    onSome: (error) => ({ code: error.code, details: error.details, metadata: toMetadata(error.metadata) }),
    onNone: () =>
      Cause.isInterruptedOnly(cause)
        ? { code: grpc.status.UNAVAILABLE, details: "server is shutting down", metadata: new grpc.Metadata() }
        : { code: grpc.status.INTERNAL, details: "internal error", metadata: new grpc.Metadata() }
  })

const codeOf = (exit: Exit.Exit<unknown, GrpcStatus.GrpcStatusError>): grpc.status =>
  Exit.isSuccess(exit) ? grpc.status.OK : statusOf(exit.cause).code

const contextOf = (method: string, call: { metadata: grpc.Metadata; getPeer(): string }): CallContext => ({
  method,
  metadata: call.metadata,
  peer: call.getPeer()
})

/** A handler that died (neither failed with a status nor was interrupted): logged as a defect. */
const isDefect = (cause: Cause.Cause<unknown>) =>
  !Cause.isInterruptedOnly(cause) && Option.isNone(Cause.failureOption(cause))

const instrument = <A>(
  method: string,
  metadata: grpc.Metadata,
  effect: Effect.Effect<A, GrpcStatus.GrpcStatusError>
): Effect.Effect<A, GrpcStatus.GrpcStatusError> =>
  effect.pipe(
    Effect.onExit((exit) => {
      const code = GrpcStatus.codeName(codeOf(exit))
      return Effect.all([
        Effect.annotateCurrentSpan("rpc.grpc.status_code", code),
        Metric.update(handled(method, code), 1),
        Exit.isFailure(exit) && isDefect(exit.cause)
          ? Effect.logError("gRPC handler defect", exit.cause).pipe(Effect.annotateLogs({ method }))
          : Effect.void
      ], { discard: true })
    }),
    Metrics.time(handling(method)),
    Effect.withSpan(`grpc.server ${method}`, {
      kind: "server",
      // the stack here is the bridge's own, the same for every call: not worth an Error per call
      captureStackTrace: false,
      attributes: { "rpc.system": "grpc", "rpc.method": method }
    }),
    Traceparent.withRemoteParent(metadata.get(Traceparent.headerName)[0]?.toString())
  )

interface Cancellable {
  readonly cancelled: boolean
  once(event: "cancelled", listener: () => void): unknown
  off(event: "cancelled", listener: () => void): unknown
}

/** Runs the call's fiber; the client going away interrupts it. */
const runCall = <A>(
  runtime: BridgeRuntime,
  call: Cancellable,
  effect: Effect.Effect<A, GrpcStatus.GrpcStatusError>,
  onExit: (exit: Exit.Exit<A, GrpcStatus.GrpcStatusError>) => void
) => {
  const fiber = runtime.run(effect)
  const onCancel = () => fiber.unsafeInterruptAsFork(fiber.id())
  call.once("cancelled", onCancel)
  fiber.addObserver((exit) => {
    call.off("cancelled", onCancel)
    if (!call.cancelled) onExit(exit)
  })
}

/**
 * A multiplexed stream (GrpcService.MultiplexedHandler): one fiber per request message,
 * its response written when it completes; or, for requests the handler's `now` takes, no
 * fiber at all: its callback writes the response (ADR 0095). Plain listeners rather than a Stream per call:
 * each message should cost what the unary bridge costs per call, minus grpc-js's call setup
 * (a Stream.mapEffect per message cost the raft-node's leader more than unary calls did).
 */
const multiplex = (
  method: string,
  handler: Extract<AnyHandler, { _tag: "Multiplexed" }>,
  runtime: BridgeRuntime,
  call: grpc.ServerDuplexStream<unknown, unknown>
) => {
  // headers at once, as for a client stream: the client's writes are released sooner
  call.sendMetadata(new grpc.Metadata())
  const context = contextOf(method, call)
  /** The calls' fibers, interrupted when the stream finishes. */
  const running = new Set<Fiber.RuntimeFiber<unknown, GrpcStatus.GrpcStatusError>>()
  /** Calls taken and not yet answered: those fibers and the calls on the fast path (`now`). */
  let inFlight = 0
  let inputEnded = false
  let finished = false
  // set once the watcher below is running (it may run `finish` itself)
  const drain: { watcher?: Fiber.RuntimeFiber<void> } = {}
  /** Ends the call: OK (`status` undefined), a status, or nothing to send (cancelled). */
  const finish = (status: grpc.StatusObject | undefined | "cancelled") => {
    if (finished) return
    finished = true
    call.off("data", onData)
    drain.watcher?.unsafeInterruptAsFork(drain.watcher.id())
    for (const fiber of running) fiber.unsafeInterruptAsFork(fiber.id())
    if (status === undefined) call.end()
    else if (status !== "cancelled") call.emit("error", status)
  }
  /** One call answered (counted by its code): its response written, or the stream ended with its failure. */
  const answered = (exit: Exit.Exit<unknown, GrpcStatus.GrpcStatusError>) => {
    inFlight--
    handled(method, GrpcStatus.codeName(codeOf(exit))).unsafeUpdate(1, [])
    if (finished) return
    if (Exit.isFailure(exit)) {
      if (isDefect(exit.cause)) {
        runtime.run(Effect.logError("gRPC handler defect", exit.cause).pipe(Effect.annotateLogs({ method })))
      }
      return finish(statusOf(exit.cause))
    }
    call.write(exit.value)
    if (inputEnded) {
      if (inFlight === 0) finish(undefined)
    } else if (call.isPaused() && inFlight < handler.maxInFlight) call.resume()
  }
  const now = handler.now
  /** The fast path's answer: taken at most once, like a fiber's exit. */
  const answerNow = () => {
    let done = false
    return (exit: Exit.Exit<unknown, GrpcStatus.GrpcStatusError>) => {
      if (done) return
      done = true
      answered(exit)
    }
  }
  const onData = (message: unknown) => {
    inFlight++
    if (inFlight >= handler.maxInFlight) call.pause()
    if (now !== undefined && now(message as never, context, answerNow())) return
    const fiber = runtime.run(handler.handle(message as never, context))
    running.add(fiber)
    fiber.addObserver((exit) => {
      running.delete(fiber)
      answered(exit)
    })
  }
  const endInput = () => {
    if (inputEnded) return
    inputEnded = true
    call.pause()
    if (inFlight === 0) finish(undefined)
  }
  call.on("data", onData)
  call.once("end", endInput)
  // a cancelled call still emits its CANCELLED error: without a listener Node would throw it
  call.on("error", () => {})
  call.once("cancelled", () => finish("cancelled"))
  // draining: answer what was taken, then end the stream, without waiting for the client
  drain.watcher = runtime.run(Effect.andThen(Deferred.await(runtime.closing), Effect.sync(endInput)))
}

const unimplemented = (method: string) => (_call: unknown, callback?: grpc.sendUnaryData<unknown>) => {
  const status = { code: grpc.status.UNIMPLEMENTED, details: `${method} is not implemented` }
  if (callback !== undefined) callback(status)
}

const handlerFor = (method: string, handler: AnyHandler, runtime: BridgeRuntime) => {
  switch (handler._tag) {
    case "Unary":
      return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
        runCall(
          runtime,
          call,
          instrument(method, call.metadata, handler.handle(call.request as never, contextOf(method, call))),
          (exit) => Exit.isSuccess(exit) ? callback(null, exit.value) : callback(statusOf(exit.cause))
        )
    case "ServerStream":
      return (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const stream = handler.handle(call.request as never, contextOf(method, call))
        const bounded = handler.endOnShutdown
          ? Stream.interruptWhen(stream, Deferred.await(runtime.closing))
          : stream
        runCall(
          runtime,
          call,
          instrument(method, call.metadata, Stream.runForEach(bounded, (message) => write(call, message))),
          (exit) => Exit.isSuccess(exit) ? call.end() : call.emit("error", statusOf(exit.cause))
        )
      }
    case "ClientStream":
      return (call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        // Headers at once, not with the reply: a grpc-js client keeps every message it wrote
        // (for a transparent retry) until the server's headers commit the call, up to 256
        // KiB of them per stream, each pinning the pool slab its bytes were cut from.
        call.sendMetadata(new grpc.Metadata())
        const requests = fromReadable<never, GrpcStatus.GrpcStatusError>(
          call,
          (cause) => GrpcStatus.cancelled(`request stream failed: ${cause.message}`)
        )
        runCall(
          runtime,
          call,
          instrument(method, call.metadata, handler.handle(requests, contextOf(method, call))),
          (exit) => Exit.isSuccess(exit) ? callback(null, exit.value) : callback(statusOf(exit.cause))
        )
      }
    case "Multiplexed":
      return (call: grpc.ServerDuplexStream<unknown, unknown>) => multiplex(method, handler, runtime, call)
  }
}

/** The grpc-js implementation object for one registration. */
export const bridge = (registration: Registration, runtime: BridgeRuntime): grpc.UntypedServiceImplementation => {
  const implementation: grpc.UntypedServiceImplementation = {}
  for (const [key, definition] of Object.entries(registration.definition)) {
    const handler = registration.handlers[key]
    implementation[key] = (handler === undefined
      ? unimplemented(definition.path)
      : handlerFor(definition.path, handler, runtime)) as grpc.UntypedHandleCall
  }
  return implementation
}
