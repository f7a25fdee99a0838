// The order registry on the raft-node cluster, through the raft client library (leader
// discovery, redirects, safe retries: recording is keyed by order id, so resending after an
// ambiguous failure returns the canonical outcome instead of recording twice).
import type { OrderRecord } from "@trading/domain"
import { RaftClient } from "@trading/raft/client/index"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { coalesced } from "./internal/coalescedCalls.js"
import { OrderRegistry, RegistryUnavailable } from "./OrderRegistry.js"

/** `RAFT_NODE_GRPC_ADDR`: one or more comma-separated `host:port` of raft-node gRPC APIs. */
export const RaftSeeds = Config.string("RAFT_NODE_GRPC_ADDR").pipe(
  Config.withDefault("127.0.0.1:50070"),
  Config.map((s) => s.split(",").map((a) => a.trim()).filter((a) => a.length > 0)),
  Config.validate({
    message: "expected host:port[,host:port...] (e.g. 127.0.0.1:50070)",
    validation: (seeds) => seeds.length > 0 && seeds.every((a) => /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(a))
  })
)

/** A record span lists its order ids up to this many orders. */
const maxListedOrders = 100

const unavailable = (op: string) => (e: RaftClient.RaftClientError) =>
  new RegistryUnavailable({ op, reason: e.message })

export const make = (options: RaftClient.RaftClientOptions) =>
  Effect.gen(function*() {
    const client = yield* RaftClient.make(options)
    // one call in flight; the batches of the other partitions that arrive meanwhile go
    // together in the next call (ADR 0088)
    const recordCall = yield* coalesced(
      (records: ReadonlyArray<OrderRecord.OrderRecord>) =>
        client.recordBatch(records).pipe(Effect.mapError(unavailable("record"))),
      { spanName: "registry.call", maxItems: RaftClient.maxRecordsPerCall }
    )
    return OrderRegistry.of({
      description: `raft ${options.seeds.join(",")}`,
      record: (records) =>
        recordCall(records).pipe(
          Effect.withSpan("registry.record", {
            // the order ids connect this batch's trace to each order's own trace, and its
            // `registry.call` attribute to the call that carried it (which the raft node
            // continues over gRPC); huge batches are only counted
            attributes: {
              records: records.length,
              ...(records.length <= maxListedOrders ? { "order.id": records.map((r) => r.orderId).join(",") } : {})
            },
            captureStackTrace: false
          })
        ),
      read: (orderId) =>
        client.read(orderId).pipe(
          Effect.mapError(unavailable("read")),
          Effect.withSpan("registry.read", { captureStackTrace: false })
        ),
      probe: client.leader.pipe(
        Effect.map((l) => `leader ${l.leaderId} at ${l.grpcAddr} (term ${l.term})`),
        Effect.mapError(unavailable("leader"))
      )
    })
  })

/** From `RAFT_NODE_GRPC_ADDR`. */
export const layer = Layer.scoped(
  OrderRegistry,
  Effect.flatMap(RaftSeeds, (seeds) => make({ seeds }))
)

/** For callers that know the addresses (the all-in-one CLI). */
export const layerWith = (options: RaftClient.RaftClientOptions) => Layer.scoped(OrderRegistry, make(options))
