// Dead-letter naming and headers (pure). A dead letter is the original record, key and
// value byte-for-byte, on `<topic>.dlq`, with the original headers kept and these added.
import type { PoisonMessage } from "./BusError.js"
import type { ConsumedRecord, Headers, OutgoingRecord, TopicSpec } from "./Record.js"

export const suffix = ".dlq"

export const topicFor = (topic: string): string => `${topic}${suffix}`

export const headerNames = {
  topic: "dlq-original-topic",
  partition: "dlq-original-partition",
  offset: "dlq-original-offset",
  timestamp: "dlq-original-timestamp",
  group: "dlq-consumer-group",
  errorTag: "dlq-error-tag",
  reason: "dlq-error-reason",
  failedAt: "dlq-failed-at"
} as const

/** The record to publish for a poisoned `record`. */
export const make = (record: ConsumedRecord, poison: PoisonMessage, group: string, now: number): OutgoingRecord => {
  const headers: Headers = {
    ...record.headers,
    [headerNames.topic]: record.topic,
    [headerNames.partition]: String(record.partition),
    [headerNames.offset]: String(record.offset),
    [headerNames.timestamp]: String(record.timestamp),
    [headerNames.group]: group,
    [headerNames.errorTag]: poison.errorTag ?? poison._tag,
    [headerNames.reason]: poison.reason,
    [headerNames.failedAt]: new Date(now).toISOString()
  }
  return { topic: topicFor(record.topic), key: record.key, value: record.value, headers }
}

/** The specs plus a `.dlq` twin (same partition count) for each spec that wants one. */
export const withDeadLetterTopics = (specs: ReadonlyArray<TopicSpec>): ReadonlyArray<TopicSpec> =>
  specs.flatMap((spec) =>
    spec.deadLetter === false || spec.name.endsWith(suffix)
      ? [spec]
      : [spec, { ...spec, name: topicFor(spec.name), deadLetter: false }]
  )
