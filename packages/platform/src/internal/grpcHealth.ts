// grpc.health.v1.Health backed by the Health service: Check, List and Watch report the
// same derived status as `/healthz`, per registered gRPC service name and for "".
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService
} from "@trading/proto/gen/grpc/health/v1/health"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as GrpcService from "../GrpcService.js"
import * as GrpcStatus from "../GrpcStatus.js"
import type { HealthApi, ServingStatus as Status } from "../Health.js"

const toProto = (status: Status): ServingStatus =>
  status === "serving"
    ? ServingStatus.SERVING
    : status === "not_serving"
    ? ServingStatus.NOT_SERVING
    : ServingStatus.SERVICE_UNKNOWN

export const makeHealthService = {
  definition: HealthService,
  handlers: (health: HealthApi): GrpcService.Handlers<typeof HealthService> => ({
    check: GrpcService.unary(({ service }) =>
      Effect.flatMap(health.status(service), (status) =>
        status === "unknown"
          ? Effect.fail(GrpcStatus.notFound(`unknown service ${JSON.stringify(service)}`))
          : Effect.succeed({ status: toProto(status) }))
    ),
    list: GrpcService.unary(() =>
      health.status("").pipe(
        Effect.zip(health.grpcServices),
        Effect.flatMap(([overall, names]) =>
          Effect.forEach(names, (name) => Effect.map(health.status(name), (status) => [name, status] as const)).pipe(
            Effect.map((entries) => ({
              statuses: Object.fromEntries([
                ["", { status: toProto(overall) }],
                ...entries.map(([name, status]) => [name, { status: toProto(status) }])
              ])
            }))
          )
        )
      )
    ),
    // a long-lived stream: ended when the server drains so it does not hold the drain up
    watch: GrpcService.serverStream(
      ({ service }) => Stream.map(health.watch(service), (status) => ({ status: toProto(status) })),
      { endOnShutdown: true }
    )
  })
}
