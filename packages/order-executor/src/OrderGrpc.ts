// gRPC OrderExecutorService: SubmitOrder takes the same path as Kafka input (validation,
// registry, outbox; no bypass) and returns the canonical outcome; GetOrder looks one up.
import { OrderCommand, OrderEvent } from "@trading/domain"
import { GrpcService, GrpcStatus } from "@trading/platform"
import { OrderExecutorServiceService, type SubmitOrderRequest } from "@trading/proto/gen/trading/v1/order_executor"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { Executor } from "./Executor.js"

export const layer = GrpcService.layer(
  OrderExecutorServiceService,
  Effect.gen(function*() {
    const executor = yield* Executor
    // made once and given each request: a generator function made anew per call would keep
    // the request through scavenges until a full collection (ADR 0093)
    function* submitOrderSteps(request: SubmitOrderRequest) {
      if (request.command === undefined) return yield* GrpcStatus.invalidArgument("command: is missing")
      const decoded = OrderCommand.fromProto(request.command)
      if (Either.isLeft(decoded)) return yield* GrpcStatus.invalidArgument(decoded.left.message)
      const { duplicate, event } = yield* executor.submit(decoded.right).pipe(
        Effect.catchTags({
          OrderTooOld: (e) => GrpcStatus.failedPrecondition(e.message),
          RegistryUnavailable: (e) => GrpcStatus.unavailable(e.message),
          SqlError: (e) => GrpcStatus.unavailable(`outbox: ${e.message}`)
        })
      )
      return { event: OrderEvent.toProto(event), duplicate }
    }
    function* getOrderSteps(orderId: string) {
      if (orderId === "") return yield* GrpcStatus.invalidArgument("order_id: is missing")
      const found = yield* executor.find(orderId).pipe(
        Effect.catchTag("SqlError", (e) => GrpcStatus.unavailable(`outbox: ${e.message}`))
      )
      if (Option.isSome(found)) return { event: OrderEvent.toProto(found.value) }
      // not in this executor's outbox (pruned, or recorded by another instance): ask the registry
      const recorded = yield* executor.registry.read(orderId).pipe(
        Effect.catchTag("RegistryUnavailable", (e) => GrpcStatus.unavailable(e.message))
      )
      return yield* Option.match(recorded, {
        onNone: () => GrpcStatus.notFound(`no order ${orderId}`),
        onSome: ({ index, record }) =>
          GrpcStatus.notFound(
            `order ${orderId} was recorded (${record.status}, registry index ${index}) but its event is no ` +
              `longer in this executor's outbox`
          )
      })
    }
    return {
      submitOrder: GrpcService.unary((request) => Effect.gen(() => submitOrderSteps(request))),
      getOrder: GrpcService.unary(({ orderId }) => Effect.gen(() => getOrderSteps(orderId)))
    }
  })
)
