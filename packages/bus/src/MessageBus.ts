// The one bus interface every service uses. Two implementations sit behind it, chosen by
// Layer: `KafkaBus.layer` (kafkajs against real brokers) and `EmbeddedBus.layer` (in-process,
// same semantics, for the quick start and unit tests).
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { BusError, PoisonMessage } from "./BusError.js"
import type { ConsumedRecord, OutgoingRecord, PartitionLag, RecordBatch, TopicPartition, TopicSpec } from "./Record.js"

/** Where a produced record landed. */
export interface RecordMetadata {
  readonly topic: string
  readonly partition: number
  readonly offset: number
}

export interface ConsumeOptions {
  /** Consumer group: members share the topics' partitions; offsets are committed per group. */
  readonly group: string
  readonly topics: ReadonlyArray<string>
  /** How many partitions are handled at the same time (default 3). Order within a partition is always kept. */
  readonly concurrency?: number | undefined
  /** Upper bound on records per handler batch (embedded; Kafka batches are bounded by fetch size). Default 1000. */
  readonly maxBatchSize?: number | undefined
  /** A group without committed offsets starts at the oldest record (default true) or at the end. */
  readonly fromBeginning?: boolean | undefined
  /**
   * Kafka: a fetch returns once this many bytes are ready, or after the client's longest fetch
   * wait (`maxWaitTimeInMs`), whichever comes first. Default 1: at once, the lowest latency. A
   * consumer that can lag by that wait trades it for far fewer fetches, batches and commits.
   * The embedded bus hands records over at once whatever this says.
   */
  readonly fetchMinBytes?: number | undefined
  /** Backoff for failing handlers: exponential from `retryInitial` (100 ms) capped at `retryMax` (10 s), forever. */
  readonly retryInitial?: Duration.DurationInput | undefined
  readonly retryMax?: Duration.DurationInput | undefined
  /** On shutdown or revocation, in-flight handlers get this long to finish before they are interrupted (default 10 s). */
  readonly drainTimeout?: Duration.DurationInput | undefined
}

export type ConsumerState = "joining" | "running" | "stopping" | "stopped" | "failed"

export interface ConsumerStatus {
  readonly group: string
  readonly state: ConsumerState
  /** Partitions currently owned by this member. */
  readonly assignments: ReadonlyArray<TopicPartition>
  /** Last proof of life (heartbeat, fetch, or handled batch), epoch millis. */
  readonly lastActivityAt: number
  /** Why the consumer failed, when `state` is "failed". */
  readonly failure?: string | undefined
}

/** A running group member. Health registers `fiber` (and/or polls `status`/`lag`). */
export interface Consumer {
  readonly group: string
  readonly status: Effect.Effect<ConsumerStatus>
  /** Every status change (assignment, state). */
  readonly changes: Stream.Stream<ConsumerStatus>
  /** Committed position vs. end of log for each assigned partition. */
  readonly lag: Effect.Effect<ReadonlyArray<PartitionLag>, BusError>
  /** Runs while the consumer runs; ends with a BusError if the consumer dies, succeeds once it was stopped. */
  readonly fiber: Fiber.Fiber<void, BusError>
}

export type Handler<E, R> = (record: ConsumedRecord) => Effect.Effect<void, E | PoisonMessage, R>
export type BatchHandler<E, R> = (batch: RecordBatch) => Effect.Effect<void, E | PoisonMessage, R>

export interface MessageBusShape {
  /** Produces one record (acks from all in-sync replicas). Injects the current span's `traceparent`. */
  readonly produce: (record: OutgoingRecord) => Effect.Effect<RecordMetadata, BusError>
  /** Produces many records in as few broker requests as possible; order per partition is kept. */
  readonly produceBatch: (records: ReadonlyArray<OutgoingRecord>) => Effect.Effect<void, BusError>
  /** Creates missing topics (and their `.dlq`), checks partition counts, waits until every partition has a leader. */
  readonly ensureTopics: (topics: ReadonlyArray<TopicSpec>) => Effect.Effect<void, BusError>
  /**
   * Joins `options.group` and hands records to `handler` one at a time, per partition in order.
   * At-least-once: an offset is committed only after the handler succeeded. `PoisonMessage`
   * dead-letters the record; any other failure is retried with backoff. Closing the scope
   * drains in-flight handlers, commits and leaves the group.
   */
  readonly consume: <E, R>(
    options: ConsumeOptions,
    handler: Handler<E, R>
  ) => Effect.Effect<Consumer, BusError, Scope.Scope | R>
  /** Like `consume`, but one handler call per partition batch; the batch is committed after it succeeds. */
  readonly consumeBatch: <E, R>(
    options: ConsumeOptions,
    handler: BatchHandler<E, R>
  ) => Effect.Effect<Consumer, BusError, Scope.Scope | R>
  /** Publishes `record` unchanged to its dead-letter topic with the reason in headers. */
  readonly deadLetter: (record: ConsumedRecord, poison: PoisonMessage, group: string) => Effect.Effect<void, BusError>
}

export class MessageBus extends Context.Tag("@trading/bus/MessageBus")<MessageBus, MessageBusShape>() {}
