import { describe, expect, it } from "@effect/vitest"
import type { IHeaders, Message } from "kafkajs"
import { createRequire } from "node:module"
import { partitionForKey } from "../Partitioner.js"
import type { OutgoingRecord } from "../Record.js"
import { batchFraming, headersSize, produceRequests, recordSize } from "./produceRequests.js"

// kafkajs's own record encoder (what goes on the wire): our sizes must bound it
const require = createRequire(import.meta.url)
const encodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0") as (
  record: { offsetDelta: number; timestampDelta: number; key: Buffer | null; value: Buffer; headers: IHeaders }
) => { buffer: Buffer }

const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

const encodedSize = (message: Message, offsetDelta: number) =>
  encodeRecord({
    offsetDelta,
    timestampDelta: 0,
    key: message.key as Buffer | null,
    value: message.value as Buffer,
    headers: message.headers ?? {}
  }).buffer.length

describe("produceRequests", () => {
  it("sizes records as an upper bound of kafkajs's encoding, at most 4 bytes over", () => {
    for (const keyLength of [null, 0, 4, 200]) {
      for (const valueLength of [0, 1, 63, 64, 200, 8191, 8192, 70_000]) {
        for (const headers of [{}, { traceparent }, { traceparent, "x-é": "ü".repeat(100) }]) {
          for (const offsetDelta of [0, 63, 64, 9000, 2_000_000]) {
            const message: Message = {
              key: keyLength === null ? null : Buffer.alloc(keyLength, 1),
              value: Buffer.alloc(valueLength, 2),
              headers
            }
            const actual = encodedSize(message, offsetDelta)
            const bound = recordSize(keyLength, valueLength, headersSize(headers))
            expect(bound).toBeGreaterThanOrEqual(actual)
            expect(bound - actual).toBeLessThanOrEqual(4)
          }
        }
      }
    }
  })

  it("keeps every partition's record batch within the limit, in order, with traceparent on every record", () => {
    const symbols = Array.from({ length: 10 }, (_, i) => `SYM${i}`)
    const records: Array<OutgoingRecord> = Array.from({ length: 5000 }, (_, i) => ({
      topic: i % 3 === 0 ? "a" : "b",
      key: symbols[i % symbols.length]!,
      value: new Uint8Array(200).fill(i % 256),
      ...(i % 11 === 0 ? { headers: { "x-seq": String(i) } } : {})
    }))
    const limits = { maxPartitionBytes: 50_000, maxRequestBytes: 120_000 }
    const requests = produceRequests(records, () => 3, traceparent, limits)
    expect(requests.length).toBeGreaterThan(1)

    for (const request of requests) {
      let total = 0
      for (const { messages } of request) {
        const perPartition = new Map<number, Array<Message>>()
        for (const message of messages) {
          // keyed records: kafkajs places them exactly as the estimate does
          const partition = partitionForKey(message.key as Buffer, 3)
          perPartition.set(partition, [...(perPartition.get(partition) ?? []), message])
          const headers = message.headers!
          expect(String(headers.traceparent)).toBe(traceparent)
        }
        for (const batch of perPartition.values()) {
          const bytes = batchFraming + batch.reduce((sum, message, i) => sum + encodedSize(message, i), 0)
          total += bytes
          expect(bytes).toBeLessThanOrEqual(limits.maxPartitionBytes)
        }
      }
      expect(total).toBeLessThanOrEqual(limits.maxRequestBytes)
    }
    // per topic, records keep their order across requests
    const order = (topic: string) =>
      requests.flatMap((request) =>
        request.filter((t) => t.topic === topic).flatMap((t) => t.messages.map((m) => (m.value as Buffer)[0]))
      )
    expect(order("a")).toEqual(records.filter((r) => r.topic === "a").map((r) => r.value[0]))
    expect(order("b")).toEqual(records.filter((r) => r.topic === "b").map((r) => r.value[0]))
  })

  it("keeps a record's own traceparent header and adds none without a span", () => {
    const own = "00-11111111111111111111111111111111-2222222222222222-01"
    const [[{ messages }]] = produceRequests(
      [
        { topic: "t", key: "k", value: new Uint8Array(1), headers: { traceparent: own } },
        { topic: "t", key: "k", value: new Uint8Array(1) }
      ],
      () => 1,
      traceparent,
      { maxPartitionBytes: 1_000_000, maxRequestBytes: 1_000_000 }
    ) as unknown as [[{ messages: Array<Message> }]]
    expect(String(messages[0]!.headers!.traceparent)).toBe(own)
    expect(String(messages[1]!.headers!.traceparent)).toBe(traceparent)
    const [[untraced]] = produceRequests([{ topic: "t", key: null, value: new Uint8Array(1) }], () => 1, undefined, {
      maxPartitionBytes: 1_000_000,
      maxRequestBytes: 1_000_000
    })
    expect(untraced!.messages[0]!.headers).toEqual({})
  })
})
