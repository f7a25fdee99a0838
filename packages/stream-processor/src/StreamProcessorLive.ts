// The stream-processor as one Layer. Built in this order and closed in reverse: topics,
// the SQLite state store, the processor, the consumer, the gRPC server. On shutdown the
// server drains first, then the consumer finishes its batch, commits and leaves the group,
// then the store closes. It needs a MessageBus: `main.ts` provides Kafka (or the embedded
// bus by MESSAGE_BUS), the all-in-one process shares its own.
import { BusSelection, KafkaBus, MessageBus } from "@trading/bus"
import { GrpcServer, Health } from "@trading/platform"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { KafkaSessionTimeout, ProcessorConfig } from "./ProcessorConfig.js"
import * as ProcessorGrpc from "./ProcessorGrpc.js"
import * as StateStore from "./StateStore.js"
import * as TickConsumer from "./TickConsumer.js"
import * as TickProcessor from "./TickProcessor.js"

/** Creates the ticks and commands topics (with `.dlq` twins) and keeps probing the broker. */
export const TopicsLive = Layer.scopedDiscard(Effect.gen(function*() {
  const bus = yield* MessageBus
  const { commandsTopic, partitions, ticksTopic } = yield* ProcessorConfig
  const topics = [{ name: ticksTopic, partitions }, { name: commandsTopic, partitions }]
  // kafkajs can report a just-created topic's partitions as unknown for a moment
  // ("does not host this topic-partition"): retry the start-up creation briefly
  yield* bus.ensureTopics(topics).pipe(
    Effect.tapError((error) => Effect.logWarning("creating topics failed; retrying", error)),
    Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.intersect(Schedule.recurs(5))))
  )
  // named per service: the all-in-one process registers both services with one Health
  yield* Health.check(
    "processor-broker",
    Effect.as(bus.ensureTopics(topics), `topics ${ticksTopic}, ${commandsTopic} ready`)
  )
}))

/** The SQLite file of PROCESSOR_STATE_FILE (its folder is created). */
export const SqliteLive = Layer.unwrapEffect(Effect.gen(function*() {
  const { stateFile } = yield* ProcessorConfig
  yield* Effect.sync(() => mkdirSync(dirname(stateFile), { recursive: true }))
  return StateStore.layerDatabase(stateFile)
}))

/** The processor core (state store + strategy path), without consumer or gRPC. */
export const ProcessorCoreLive = TickProcessor.layer.pipe(
  Layer.provideMerge(StateStore.layer),
  Layer.provide(SqliteLive),
  Layer.provideMerge(TopicsLive)
)

/** The consumer of the ticks topic plus the core. */
export const ConsumerLive = TickConsumer.layer.pipe(Layer.provideMerge(ProcessorCoreLive))

/** The gRPC registration, for a server of the caller's choosing. */
export const ProcessorGrpcLive = ProcessorGrpc.layer

/** The whole service on a given MessageBus, with its own gRPC server on PORT_GRPC. */
export const StreamProcessorLive = GrpcServer.layer(ProcessorGrpcLive).pipe(Layer.provideMerge(ConsumerLive))

/** Kafka with this consumer's session timeout (KAFKA_SESSION_TIMEOUT_MS), or the embedded bus. */
const BusLive = Layer.unwrapEffect(Effect.gen(function*() {
  const kind = yield* BusSelection.BusKind
  if (kind === "embedded") return BusSelection.layerFromConfig
  const sessionTimeout = yield* KafkaSessionTimeout
  return KafkaBus.layerWith({
    sessionTimeout,
    rebalanceTimeout: Math.max(sessionTimeout, 6_000),
    heartbeatInterval: Math.max(100, Math.floor(sessionTimeout / 10))
  })
}))

/** The service as `pnpm start:stream-processor` runs it. */
export const StreamProcessorMain = StreamProcessorLive.pipe(Layer.provide(BusLive))
