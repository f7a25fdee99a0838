// Turns a batch of outgoing records into kafkajs `sendBatch` calls: one pass, few allocations
// per record (this is the hot path of produceBatch, see ADR 0023).
import * as Traceparent from "@trading/platform/Traceparent"
import type { IHeaders, Message, TopicMessages } from "kafkajs"
import { murmur2 } from "../Partitioner.js"
import type { OutgoingRecord } from "../Record.js"

/** Bytes of a zigzag varint (Kafka's record fields), for -2^31 <= n < 2^31. */
const varIntSize = (n: number): number => {
  const z = (n << 1) ^ (n >> 31)
  return z >>> 7 === 0 ? 1 : z >>> 14 === 0 ? 2 : z >>> 21 === 0 ? 3 : z >>> 28 === 0 ? 4 : 5
}
const bytesSize = (length: number) => varIntSize(length) + length

// A record in a v2 record batch: varint length, then attributes (1 byte), timestamp delta
// (1 byte: records carry no timestamp, kafkajs stamps the batch), offset delta (varint,
// bounded by 5), key, value and header count. Everything but the length prefix is the body.
const fixedBody = 1 + 1 + 5
/** The fixed header of a v2 record batch. */
export const batchFraming = 61

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** Encoded size of a record's headers, count included. */
export const headersSize = (headers: IHeaders): number => {
  let count = 0
  let bytes = 0
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined) continue
    const nameBytes = bytesSize(Buffer.byteLength(name))
    for (const one of Array.isArray(value) ? value : [value]) {
      count++
      bytes += nameBytes + bytesSize(Buffer.byteLength(one))
    }
  }
  return varIntSize(count) + bytes
}

/** Upper bound of a record's encoded size in a v2 record batch. */
export const recordSize = (keyLength: number | null, valueLength: number, headersBytes: number): number => {
  const body = fixedBody + (keyLength === null ? 1 : bytesSize(keyLength)) + bytesSize(valueLength) + headersBytes
  return varIntSize(body) + body
}

interface Key {
  readonly buffer: Buffer
  readonly hash: number
}

export interface Limits {
  /** Largest record batch per partition in one request (bytes), framing included. */
  readonly maxPartitionBytes: number
  /** Largest sum of record batches in one request (bytes). */
  readonly maxRequestBytes: number
}

/**
 * Splits `records` into produce requests, in order. Large requests amortise the round trip
 * (the idempotent producer has one request in flight) but each partition's record batch must
 * stay below the broker's message.max.bytes. Records without headers of their own share one
 * headers object carrying `traceparent` (its bytes are made once per call, not per record).
 */
export const produceRequests = (
  records: ReadonlyArray<OutgoingRecord>,
  partitionCount: (topic: string) => number,
  traceparent: string | undefined,
  limits: Limits
): Array<Array<TopicMessages>> => {
  const traceBytes = traceparent === undefined ? undefined : Buffer.from(traceparent)
  const shared: IHeaders = traceBytes === undefined ? {} : { [Traceparent.headerName]: traceBytes }
  const sharedSize = headersSize(shared)
  // keys repeat a lot (symbols, order ids in a burst): encode and hash each once per call
  const keys = new Map<string, Key>()
  const keyOf = (key: string): Key => {
    let known = keys.get(key)
    if (known === undefined) {
      const buffer = Buffer.from(key)
      known = { buffer, hash: murmur2(buffer) }
      keys.set(key, known)
    }
    return known
  }

  const requests: Array<Array<TopicMessages>> = []
  let byTopic = new Map<string, Array<Message>>()
  // bytes per partition (by topic) and in total of the request being built
  let partitionBytes = new Map<string, Array<number>>()
  let total = 0
  let roundRobin = 0
  const flush = () => {
    if (byTopic.size === 0) return
    requests.push([...byTopic].map(([topic, messages]) => ({ topic, messages })))
    byTopic = new Map()
    partitionBytes = new Map()
    total = 0
  }

  for (const record of records) {
    let key: Buffer | null = null
    let hash = 0
    if (typeof record.key === "string") {
      const known = keyOf(record.key)
      key = known.buffer
      hash = known.hash
    } else if (record.key !== undefined && record.key !== null) {
      key = asBuffer(record.key)
      hash = murmur2(key)
    }
    let headers = shared
    let headerBytes = sharedSize
    if (record.headers !== undefined) {
      // kafkajs only reads the headers: copy them only to add the call's traceparent
      if (traceBytes !== undefined && record.headers[Traceparent.headerName] === undefined) {
        headers = { ...record.headers, [Traceparent.headerName]: traceBytes }
      } else headers = record.headers
      headerBytes = headersSize(headers)
    }
    const value = asBuffer(record.value)
    const count = partitionCount(record.topic)
    const partition = record.partition ?? (key === null ? roundRobin++ % count : (hash & 0x7fffffff) % count)
    const bytes = recordSize(key === null ? null : key.length, value.length, headerBytes)

    let slots = partitionBytes.get(record.topic)
    let inSlot = slots?.[partition] ?? 0
    if (
      total > 0 &&
      ((inSlot === 0 ? batchFraming : inSlot) + bytes > limits.maxPartitionBytes ||
        total + bytes + batchFraming > limits.maxRequestBytes)
    ) {
      flush()
      slots = undefined
      inSlot = 0
    }
    if (slots === undefined) {
      slots = []
      partitionBytes.set(record.topic, slots)
    }
    const added = inSlot === 0 ? batchFraming + bytes : bytes
    slots[partition] = inSlot + added
    total += added

    // a keyed record carries the partition its key hashes to, so kafkajs's partitioner does not
    // hash the key again (the same murmur2, ADR 0024); keyless ones keep kafkajs's round-robin
    const message: Message = record.partition === undefined && key === null
      ? { key, value, headers }
      : { key, value, headers, partition }
    const list = byTopic.get(record.topic)
    if (list === undefined) byTopic.set(record.topic, [message])
    else list.push(message)
  }
  flush()
  return requests
}
