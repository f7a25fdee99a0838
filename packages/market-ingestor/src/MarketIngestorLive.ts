// The market-ingestor as one Layer: topics first (created with their dead-letter twins,
// every partition led), then the publisher, the sources (synthetic generator, file
// replay) and the gRPC ingest API. Built last, the gRPC server closes first on shutdown;
// the feeds stop next, then the bus. It needs a MessageBus: `main.ts` provides Kafka (or
// the embedded bus by MESSAGE_BUS), the all-in-one process shares its own.
import { BusSelection, MessageBus } from "@trading/bus"
import { GrpcServer, Health } from "@trading/platform"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as IngestGrpc from "./IngestGrpc.js"
import { IngestorConfig } from "./IngestorConfig.js"
import * as ReplayFeed from "./ReplayFeed.js"
import * as SyntheticFeed from "./SyntheticFeed.js"
import * as TickPublisher from "./TickPublisher.js"

/** Creates the ticks topic (and its `.dlq`) and keeps probing the broker for health. */
export const TopicsLive = Layer.scopedDiscard(Effect.gen(function*() {
  const bus = yield* MessageBus
  const { partitions, ticksTopic } = yield* IngestorConfig
  const topics = [{ name: ticksTopic, partitions }]
  // kafkajs can report a just-created topic's partitions as unknown for a moment
  // ("does not host this topic-partition"): retry the start-up creation briefly
  yield* bus.ensureTopics(topics).pipe(
    Effect.tapError((error) => Effect.logWarning("creating topics failed; retrying", error)),
    Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.intersect(Schedule.recurs(5))))
  )
  // named per service: the all-in-one process registers both services with one Health
  yield* Health.check("ingestor-broker", Effect.as(bus.ensureTopics(topics), `topic ${ticksTopic} ready`))
}))

/** Publisher, topics and the background sources, without a gRPC server. */
export const FeedsLive = Layer.mergeAll(SyntheticFeed.layer, ReplayFeed.layer).pipe(
  Layer.provideMerge(TickPublisher.layer),
  Layer.provideMerge(TopicsLive)
)

/** The ingest API registration, for a gRPC server of the caller's choosing. */
export const IngestGrpcLive = IngestGrpc.layer

/** The whole service on a given MessageBus: feeds plus its own gRPC server on PORT_GRPC. */
export const MarketIngestorLive = GrpcServer.layer(IngestGrpcLive).pipe(Layer.provideMerge(FeedsLive))

/** The service as `pnpm start:market-ingestor` runs it: the bus chosen by MESSAGE_BUS (default Kafka). */
export const MarketIngestorMain = MarketIngestorLive.pipe(Layer.provide(BusSelection.layerFromConfig))
