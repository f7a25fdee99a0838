// Public API of @trading/market-ingestor (docs/market-ingestor.md). The all-in-one process
// composes `MarketIngestorLive` (or `FeedsLive` + `IngestGrpcLive` on a shared gRPC server)
// on its own MessageBus.
export { fieldsOf, InvalidTick } from "./IngestError.js"
export { IngestorConfig, type IngestorSettings, type ReplaySpeed } from "./IngestorConfig.js"
export { FeedsLive, IngestGrpcLive, MarketIngestorLive, MarketIngestorMain, TopicsLive } from "./MarketIngestorLive.js"
export * as ReplayFeed from "./ReplayFeed.js"
export * as ReplayParser from "./ReplayParser.js"
export * as Sequencer from "./Sequencer.js"
export * as SyntheticFeed from "./SyntheticFeed.js"
export * as SyntheticWalk from "./SyntheticWalk.js"
export { layer as TickPublisherLive, type Published, TickPublisher } from "./TickPublisher.js"
