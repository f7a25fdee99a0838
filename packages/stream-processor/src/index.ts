// Public API of @trading/stream-processor (docs/stream-processor.md). The all-in-one
// process composes `StreamProcessorLive` (or `ConsumerLive` + `ProcessorGrpcLive` on a
// shared gRPC server) on its own MessageBus.
export * as PartitionStep from "./PartitionStep.js"
export { KafkaSessionTimeout, ProcessorConfig, type ProcessorSettings, StrategySettings } from "./ProcessorConfig.js"
export { CorruptState, type PartitionState, StateStore } from "./StateStore.js"
export {
  ConsumerLive,
  ProcessorCoreLive,
  ProcessorGrpcLive,
  SqliteLive,
  StreamProcessorLive,
  StreamProcessorMain,
  TopicsLive
} from "./StreamProcessorLive.js"
export { TickProcessor } from "./TickProcessor.js"
