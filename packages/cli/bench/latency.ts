// Tick-to-event latency per order, from what is on the topics after the fact (the bench
// reads nothing while a phase runs, so it takes no CPU from the pipeline).
//
// Clock: everything runs on this one machine, so every stamp below is the same wall clock
// (Date.now() of the process that made it).
// - start: the command's `createdAtUnixMs`, which the strategy copies from its tick's
//   `observedAtUnixMs`; the synthetic feed stamps that with its clock when it generates the
//   tick, before validating and producing it. So the figure includes the ingestor's own
//   publish, not only the hops after the broker.
// - end: the Kafka timestamp of the event record (CreateTime: kafkajs stamps each produce
//   request with Date.now() when the executor's outbox relay sends it).
// Joined through the order id, which the event and its command share.
import * as OrderCommand from "@trading/domain/OrderCommand"
import * as OrderEvent from "@trading/domain/OrderEvent"
import * as Either from "effect/Either"
import type * as KafkaJs from "../../bus/node_modules/kafkajs/types/index.js"

/** Calls `onRecord` for every record of `topic` below the high watermarks of now. */
export const readTopic = async (
  kafka: KafkaJs.Kafka,
  topic: string,
  onRecord: (message: KafkaJs.KafkaMessage) => void,
  timeoutMs = 120_000
) => {
  const admin = kafka.admin()
  await admin.connect()
  const ends = new Map<number, number>()
  try {
    for (const p of await admin.fetchTopicOffsets(topic)) if (Number(p.high) > 0) ends.set(p.partition, Number(p.high))
  } finally {
    await admin.disconnect()
  }
  if (ends.size === 0) return
  const consumer = kafka.consumer({
    groupId: `bench-reader-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
    sessionTimeout: 6_000,
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: 4 * 1024 * 1024
  })
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${topic}: not read to its end in ${timeoutMs} ms`)), timeoutMs)
      void consumer.run({
        eachBatch: async ({ batch }) => {
          const end = ends.get(batch.partition)
          if (end === undefined) return
          for (const message of batch.messages) if (Number(message.offset) < end) onRecord(message)
          if (Number(batch.lastOffset()) + 1 >= end) ends.delete(batch.partition)
          if (ends.size === 0) {
            clearTimeout(timer)
            resolve()
          }
        }
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
}

export interface LatencySample {
  /** When the tick was generated (ms since the epoch). */
  readonly tickAt: number
  readonly latencyMs: number
  /** Of which: tick generated -> its command on the commands topic (ingestor, broker, processor). */
  readonly toCommandMs: number
  /** Of which: command on the topic -> its event on the events topic (executor, raft, outbox relay). */
  readonly toEventMs: number
}

/** One sample per order that has both a command and an event on the topics. */
export const tickToEvent = async (kafka: KafkaJs.Kafka, commandsTopic: string, eventsTopic: string) => {
  const tickAtByOrder = new Map<string, { readonly tickAt: number; readonly commandAt: number }>()
  await readTopic(kafka, commandsTopic, (m) => {
    const decoded = OrderCommand.fromBytes(m.value!)
    if (Either.isRight(decoded) && !tickAtByOrder.has(decoded.right.orderId)) {
      tickAtByOrder.set(decoded.right.orderId, {
        tickAt: decoded.right.createdAtUnixMs,
        commandAt: Number(m.timestamp)
      })
    }
  })
  const samples: Array<LatencySample> = []
  const seen = new Set<string>()
  await readTopic(kafka, eventsTopic, (m) => {
    const decoded = OrderEvent.fromBytes(m.value!)
    if (Either.isLeft(decoded) || seen.has(decoded.right.orderId)) return
    const stamps = tickAtByOrder.get(decoded.right.orderId)
    if (stamps === undefined) return
    seen.add(decoded.right.orderId)
    const eventAt = Number(m.timestamp)
    samples.push({
      tickAt: stamps.tickAt,
      latencyMs: eventAt - stamps.tickAt,
      toCommandMs: stamps.commandAt - stamps.tickAt,
      toEventMs: eventAt - stamps.commandAt
    })
  })
  return samples
}

export const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
