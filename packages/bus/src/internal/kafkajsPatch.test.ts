// The kafkajs patch (patches/kafkajs@2.2.4.patch, ADR 0025) writes a produce request's record
// batches in one pass, and decodes fetched records without per-record Long arithmetic; the
// bytes must be exactly what kafkajs 2.2.4 writes with its own Record and RecordBatch
// encoders (left in place for everything else), and the decoded records what its own record
// decoder returned (its code is repeated below as the reference).
import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)
type Encoder = { readonly buffer: Buffer; size(): number }
type EncoderClass = new() => Encoder & {
  writeInt32(n: number): EncoderClass["prototype"]
  writeInt16(n: number): EncoderClass["prototype"]
  writeString(s: string | null): EncoderClass["prototype"]
  writeEncoder(e: Encoder): EncoderClass["prototype"]
  writeArray(a: ReadonlyArray<Encoder>): EncoderClass["prototype"]
}
const Encoder = require("kafkajs/src/protocol/encoder") as EncoderClass
const Long = require("kafkajs/src/utils/long") as { fromValue(n: number): unknown; fromInt(n: number): unknown }
const Record = require("kafkajs/src/protocol/recordBatch/record/v0") as (r: object) => Encoder
const { RecordBatch } = require("kafkajs/src/protocol/recordBatch/v0") as {
  RecordBatch: (options: object) => Promise<Encoder>
}
const produceV3 = require("kafkajs/src/protocol/requests/produce/v3/request") as (options: object) => {
  encode(): Promise<Encoder>
}
type Decoder = { readonly offset: number }
const Decoder = require("kafkajs/src/protocol/decoder") as new(buffer: Buffer) => Decoder
const HeaderDecoder = require("kafkajs/src/protocol/recordBatch/header/v0/decoder") as (
  d: Decoder
) => { key: string; value: Buffer | null }
const decodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0/decoder") as (
  d: Decoder,
  context: object
) => Record<string, unknown>

/** kafkajs 2.2.4's record decoder, as published. */
const referenceDecode = (decoder: Decoder & Record<string, (...args: Array<unknown>) => unknown>, batchContext: {
  firstOffset: string
  firstTimestamp: string
  magicByte: number
  isControlBatch?: boolean
  timestampType: number
  maxTimestamp: string
}) => {
  const { firstOffset, firstTimestamp, isControlBatch = false, magicByte, maxTimestamp, timestampType } = batchContext
  const attributes = decoder.readInt8!()
  const timestampDelta = decoder.readVarLong!()
  const timestamp = timestampType === 1 && maxTimestamp
    ? maxTimestamp
    : (Long.fromValue(firstTimestamp as unknown as number) as { add(x: unknown): { toString(): string } }).add(
      timestampDelta
    ).toString()
  const offsetDelta = decoder.readVarInt!()
  const offset = (Long.fromValue(firstOffset as unknown as number) as { add(x: unknown): { toString(): string } })
    .add(offsetDelta).toString()
  const key = decoder.readVarIntBytes!()
  const value = decoder.readVarIntBytes!()
  const headers = (decoder.readVarIntArray!(HeaderDecoder) as Array<{ key: string; value: unknown }>).reduce(
    (obj: Record<string, unknown>, { key, value }) => ({
      ...obj,
      [key]: obj[key] === undefined
        ? value
        : Array.isArray(obj[key])
        ? (obj[key] as Array<unknown>).concat([value])
        : [obj[key], value]
    }),
    {}
  )
  return {
    magicByte,
    attributes,
    timestamp,
    offset,
    key,
    value,
    headers,
    isControlRecord: isControlBatch,
    batchContext
  }
}

type Bytes = string | Buffer | null | undefined
interface Message {
  readonly key?: Bytes
  readonly value: Bytes
  readonly headers?: Record<string, string | Buffer | ReadonlyArray<string | Buffer>>
}

/** kafkajs 2.2.4's own encoding of one partition (produce v3 partitionsEncoder, no timestamps). */
const reference = async (
  partition: number,
  messages: ReadonlyArray<Message>,
  options: { transactionalId: string | null; producerId: unknown; producerEpoch: number; firstSequence: number }
) => {
  const now = Date.now()
  const records = messages.map((m, i) => Record({ ...m, offsetDelta: i, timestampDelta: 0 }))
  const batch = await RecordBatch({
    compression: 0,
    records,
    firstTimestamp: now,
    maxTimestamp: now,
    producerId: options.producerId,
    producerEpoch: options.producerEpoch,
    firstSequence: options.firstSequence,
    transactional: !!options.transactionalId,
    lastOffsetDelta: records.length - 1
  })
  return new Encoder().writeInt32(partition).writeInt32(batch.size()).writeEncoder(batch)
}

const bytes: fc.Arbitrary<Bytes> = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b))
)
const headerValue = fc.oneof(fc.string({ maxLength: 60 }), fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b)))
const message: fc.Arbitrary<Message> = fc.record({
  key: bytes,
  value: bytes,
  headers: fc.option(
    fc.dictionary(
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 }))
    ),
    { nil: undefined }
  )
}, { requiredKeys: ["value"] })

describe("kafkajs produce patch", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it("writes the bytes kafkajs's own record encoders write", async () => {
    vi.spyOn(Date, "now").mockReturnValue(1_760_000_000_123)
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(message, { minLength: 1, maxLength: 70 }), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.nat(1_000_000),
        async (partitions, transactional, firstSequence) => {
          const options = {
            transactionalId: transactional ? "tx" : null,
            producerId: Long.fromValue(4_000_000_123),
            producerEpoch: 3,
            firstSequence
          }
          const request = produceV3({
            acks: -1,
            timeout: 30_000,
            ...options,
            topicData: [{
              topic: "ticks",
              partitions: partitions.map((messages, partition) => ({ partition, firstSequence, messages }))
            }]
          })
          const encoded = await request.encode()
          const topic = new Encoder().writeString("ticks").writeArray(
            await Promise.all(partitions.map((messages, partition) => reference(partition, messages, options)))
          )
          const expected = new Encoder().writeString(options.transactionalId).writeInt16(-1).writeInt32(30_000)
            .writeArray([topic])
          expect(encoded.buffer.toString("hex")).toBe(expected.buffer.toString("hex"))
        }
      ),
      { numRuns: 300 }
    )
  })
})

describe("kafkajs record decoder patch", () => {
  it("decodes what kafkajs's own decoder decodes", () => {
    const decimal = fc.oneof(
      fc.nat().map(String),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
      fc.constantFrom("-1", "0", "9007199254740991", "9007199254740992")
    )
    // header names that repeat (array values are sent as repeated headers) or are "__proto__"
    const headers = fc.dictionary(
      fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constantFrom("a", "__proto__")),
      fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 }))
    )
    fc.assert(
      fc.property(
        bytes,
        bytes,
        headers,
        fc.integer({ min: 0, max: 2_000_000 }),
        fc.oneof(fc.constant(0), fc.integer({ min: -100, max: 100 }), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })),
        decimal,
        decimal,
        fc.constantFrom(0, 1),
        (key, value, headers, offsetDelta, timestampDelta, firstOffset, firstTimestamp, timestampType) => {
          const record = Record({ key, value, headers, offsetDelta, timestampDelta: Long.fromValue(timestampDelta) })
          // the record's body, after its length (what kafkajs's batch decoder hands the record decoder)
          const encoded = (new Decoder(record.buffer) as unknown as { readVarIntBytes(): Buffer }).readVarIntBytes()
          const context = { firstOffset, firstTimestamp, magicByte: 2, timestampType, maxTimestamp: "1760000000999" }
          const decoded = decodeRecord(new Decoder(encoded), context)
          const expected = referenceDecode(
            new Decoder(encoded) as unknown as Decoder & Record<string, (...args: Array<unknown>) => unknown>,
            context
          )
          expect(decoded).toEqual(expected)
          expect(Object.keys(decoded.headers as object)).toEqual(Object.keys(expected.headers))
        }
      ),
      { numRuns: 1000 }
    )
  })
})
