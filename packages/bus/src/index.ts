// Public API of @trading/bus.
export { BusError, PoisonMessage } from "./BusError.js"
export * as BusSelection from "./BusSelection.js"
export * as DeadLetter from "./DeadLetter.js"
export * as EmbeddedBus from "./EmbeddedBus.js"
export * as KafkaBus from "./KafkaBus.js"
export { defaultTuning, KafkaConfig, type KafkaTuning } from "./KafkaConfig.js"
export {
  type BatchHandler,
  type ConsumeOptions,
  type Consumer,
  type ConsumerState,
  type ConsumerStatus,
  type Handler,
  MessageBus,
  type MessageBusShape,
  type RecordMetadata
} from "./MessageBus.js"
export * as Partitioner from "./Partitioner.js"
export {
  type ConsumedRecord,
  encodeText,
  type Headers,
  keyText,
  type OutgoingRecord,
  type PartitionLag,
  type RecordBatch,
  type TopicPartition,
  type TopicSpec,
  valueText
} from "./Record.js"
