// The shapes that cross the bus. Kept free of any client library so another Kafka client
// (or the embedded bus) can sit behind the same interface.

/** Header values are UTF-8 text: what the pipeline carries (traceparent, dead-letter facts). */
export type Headers = Readonly<Record<string, string>>

/** A record to produce. `key` picks the partition (murmur2, like Kafka's default partitioner). */
export interface OutgoingRecord {
  readonly topic: string
  /** Null or absent: partitions are chosen round-robin. */
  readonly key?: string | Uint8Array | null | undefined
  readonly value: Uint8Array
  readonly headers?: Headers | undefined
  /** Overrides the key hash; must name an existing partition. */
  readonly partition?: number | undefined
}

/** A record as delivered to a handler. Key and value are the exact bytes that were produced. */
export interface ConsumedRecord {
  readonly topic: string
  readonly partition: number
  /** Offsets are JS numbers: exact up to 2^53, far beyond any log this system keeps. */
  readonly offset: number
  readonly key: Uint8Array | null
  readonly value: Uint8Array
  readonly headers: Headers
  /** Broker (or embedded log) append time, epoch millis. */
  readonly timestamp: number
}

/** All records handed to one batch-handler call: one partition, ascending offsets. */
export interface RecordBatch {
  readonly topic: string
  readonly partition: number
  readonly records: ReadonlyArray<ConsumedRecord>
}

export interface TopicPartition {
  readonly topic: string
  readonly partition: number
}

export interface TopicSpec {
  readonly name: string
  readonly partitions: number
  /** Also create `<name>.dlq` with the same partition count (default true). */
  readonly deadLetter?: boolean | undefined
  /** Kafka only; default: the broker's `default.replication.factor`. */
  readonly replicationFactor?: number | undefined
}

export interface PartitionLag {
  readonly topic: string
  readonly partition: number
  /** Next offset the group will read (its committed position), or the log start if none. */
  readonly committed: number
  /** Offset the next produced record will get (high watermark). */
  readonly end: number
  readonly lag: number
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

/** The key as text (keys in this system are symbols and order ids). */
export const keyText = (record: ConsumedRecord): string | null =>
  record.key === null ? null : decoder.decode(record.key)

/** The value as UTF-8 text. */
export const valueText = (record: ConsumedRecord): string => decoder.decode(record.value)

export const encodeText = (text: string): Uint8Array => encoder.encode(text)

/** Normalises a produce key to bytes (null: no key). */
export const keyBytes = (key: OutgoingRecord["key"]): Uint8Array | null =>
  key === undefined || key === null ? null : typeof key === "string" ? encoder.encode(key) : key
