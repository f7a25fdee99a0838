// The order-executor as one Layer: SQLite outbox, executor, commands consumer, relay,
// health checks and the gRPC API. It needs a MessageBus and an OrderRegistry, so the
// service main (Kafka + Raft) and the all-in-one CLI (embedded or Kafka, in-process Raft)
// wire it differently. The gRPC server is built last: on shutdown it drains first, then the
// consumer drains and commits, then the relay stops, then SQLite closes.
import { MessageBus } from "@trading/bus"
import { GrpcServer, Health } from "@trading/platform"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as CommandConsumer from "./CommandConsumer.js"
import * as Executor from "./Executor.js"
import type { ExecutorSettings } from "./ExecutorConfig.js"
import * as OrderGrpc from "./OrderGrpc.js"
import { OrderRegistry } from "./OrderRegistry.js"
import * as Outbox from "./outbox/Outbox.js"
import * as OutboxRelay from "./OutboxRelay.js"
import * as Topics from "./Topics.js"

/** The outbox on its SQLite file (directory created), WAL + synchronous=FULL. */
export const outboxLayer = (dbPath: string) => Outbox.layer(dbPath)

const topicsLayer = (names: Topics.TopicNames) =>
  Layer.effectDiscard(Effect.flatMap(MessageBus, (bus) => bus.ensureTopics(Topics.specs(names))))

const RegistryCheck = Layer.scopedDiscard(Effect.gen(function*() {
  const registry = yield* OrderRegistry
  yield* Health.check("registry", registry.probe, { timeout: "3 seconds" })
}))

/** Everything but the gRPC server (for tests that drive the executor directly). */
export const core = (settings: ExecutorSettings) =>
  // the consumer is built after the relay, so on shutdown it stops first and the relay can flush
  Layer.mergeAll(CommandConsumer.layer(settings), RegistryCheck).pipe(
    Layer.provideMerge(OutboxRelay.layer(settings)),
    Layer.provideMerge(Executor.layer(settings.limits, settings)),
    Layer.provideMerge(outboxLayer(settings.dbPath)),
    Layer.provideMerge(topicsLayer(settings))
  )

export const layer = (settings: ExecutorSettings) =>
  GrpcServer.layer(OrderGrpc.layer).pipe(Layer.provideMerge(core(settings)))
