// GrpcService.multiplexed and GrpcClient's duplex calls against a real loopback server:
// unary calls multiplexed on one bidi stream, each message `<id>:<command>` answered with
// `<id>:<result>` when its fiber completes.
import { expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as GrpcClient from "./GrpcClient.js"
import { GrpcServer } from "./GrpcServer.js"
import * as GrpcService from "./GrpcService.js"
import * as GrpcStatus from "./GrpcStatus.js"
import { Health } from "./Health.js"
import { ServerConfig } from "./ServerConfig.js"

const text = (value: string): Buffer => Buffer.from(value)
const read = (value: Buffer): string => value.toString()

const EchoService = {
  calls: {
    path: "/test.v1.Echo/Calls",
    requestStream: true,
    responseStream: true,
    requestSerialize: text,
    requestDeserialize: read,
    responseSerialize: text,
    responseDeserialize: read,
    originalName: "calls"
  }
} as const

interface Probe {
  readonly release: Deferred.Deferred<void>
  readonly interrupted: Queue.Queue<string>
}

// commands: echo -> ok, wait -> ok once `release` completes, fail -> the stream ends INVALID_ARGUMENT
const service = (probe: Probe) =>
  GrpcService.layer(EchoService, {
    calls: GrpcService.multiplexed((message: string) =>
      Effect.gen(function*() {
        const [id, command] = message.split(":")
        if (command === "fail") return yield* GrpcStatus.invalidArgument(`call ${id}: bad command`)
        if (command === "wait") {
          yield* Deferred.await(probe.release).pipe(Effect.onInterrupt(() => Queue.offer(probe.interrupted, id!)))
        }
        return `${id}:ok`
      })
    )
  })

const start = Effect.gen(function*() {
  const probe: Probe = { release: yield* Deferred.make<void>(), interrupted: yield* Queue.unbounded<string>() }
  const serverScope = yield* Scope.make()
  yield* Effect.addFinalizer(() => Scope.close(serverScope, Exit.void))
  const context = yield* Layer.buildWithScope(
    GrpcServer.layer(service(probe)).pipe(
      Layer.provideMerge(Health.layer),
      Layer.provideMerge(ServerConfig.layerTest({ drainTimeout: Duration.seconds(5) })),
      Layer.provide(Logger.replace(Logger.defaultLogger, Logger.none))
    ),
    serverScope
  )
  const client = yield* GrpcClient.make(EchoService, {
    address: `127.0.0.1:${Context.get(context, GrpcServer).port}`,
    tls: "insecure"
  })
  const answers = yield* Queue.unbounded<string>()
  const call = yield* client.calls((answer) => Queue.unsafeOffer(answers, answer), { deadline: "30 seconds" })
  return { probe, call, answers, serverScope }
})

it.scopedLive("answers each message when its call completes, and ends OK once the client half-closed", () =>
  Effect.gen(function*() {
    const { answers, call, probe } = yield* start
    call.write("1:wait")
    call.write("2:echo")
    expect(yield* Queue.take(answers)).toBe("2:ok")
    yield* Deferred.succeed(probe.release, undefined)
    expect(yield* Queue.take(answers)).toBe("1:ok")
    yield* call.end
    yield* call.done.pipe(Effect.timeout("5 seconds"))
  }))

it.scopedLive("a failed call ends the stream with its status and interrupts the calls in flight", () =>
  Effect.gen(function*() {
    const { call, probe } = yield* start
    call.write("1:wait")
    call.write("2:fail")
    const error = yield* Effect.flip(call.done)
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(error.details).toBe("call 2: bad command")
    expect(yield* Queue.take(probe.interrupted).pipe(Effect.timeout("5 seconds"))).toBe("1")
  }))

it.scopedLive("the client cancelling interrupts the calls in flight", () =>
  Effect.gen(function*() {
    const { answers, call, probe } = yield* start
    call.write("1:wait")
    call.write("2:echo")
    expect(yield* Queue.take(answers)).toBe("2:ok")
    call.cancel()
    expect(yield* Queue.take(probe.interrupted).pipe(Effect.timeout("5 seconds"))).toBe("1")
    expect((yield* Effect.flip(call.done)).code).toBe(grpc.status.CANCELLED)
  }))

it.scopedLive("a draining server answers the calls it took and ends the stream OK", () =>
  Effect.gen(function*() {
    const { answers, call, probe, serverScope } = yield* start
    call.write("1:wait")
    // wait until the call is running: a second call's answer comes after it was read
    call.write("2:echo")
    expect(yield* Queue.take(answers)).toBe("2:ok")
    const stopping = yield* Effect.fork(Scope.close(serverScope, Exit.void))
    yield* Effect.sleep("100 millis")
    yield* Deferred.succeed(probe.release, undefined)
    expect(yield* Queue.take(answers)).toBe("1:ok")
    yield* call.done.pipe(Effect.timeout("5 seconds"))
    yield* stopping.await
  }))
