// The order registry: the state machine the raft-node replicates.
//
// Keyed by order id, first writer wins: recording an order that is already recorded
// answers the stored canonical record, never a second one. Every function is pure and
// deterministic, so replicas applying the same log reach the same state and answers, and
// the same state always snapshots to the same bytes.
//
// Retention (bounded growth). Each record carries the order's logical time
// (`recorded_at_unix_ms` = the command's `created_at_unix_ms`, the same on every retry).
// The registry keeps
//   - `clock`: the highest logical time of any stored record (time comes from the log,
//     never from a local clock, so every replica evicts identically), and
//   - `horizon`: the highest logical time of any record it has evicted.
// After each insert it evicts, oldest inserted first, while it holds more than
// `maxOrders` records or the oldest one is older than `clock - maxAgeMs`. A record for an
// order that is not stored and whose time is <= `horizon` or < `clock - maxAgeMs` is
// answered `tooOld` and not stored: it may have been recorded and evicted, and storing it
// again could execute it twice. See docs/domain.md ("Order registry").
//
// State is persistent (an immutable hash map plus an immutable FIFO of insertion order):
// apply is O(1) amortised per record (O(log32 n) map updates), eviction pops from the
// FIFO's head instead of scanning, and older state values stay valid for snapshotting
// while newer entries are applied.
import {
  OrderRecord as ProtoOrderRecord,
  ReadRequest,
  ReadResponse,
  RecordOrdersRequest,
  RecordOrdersResponse
} from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { DecodeError, FieldViolation } from "./DecodeError.js"
import { invalidFields, MalformedPayload } from "./DecodeError.js"
import { PositiveInt } from "./Fields.js"
import * as Fifo from "./internal/Fifo.js"
import { violationsOf, withDefaults } from "./internal/issues.js"
import * as RegistryWire from "./internal/registryWire.js"
import * as OrderRecord from "./OrderRecord.js"

export const Retention = Schema.Struct({
  /** At most this many orders are kept (default 200,000, about 100 MB of heap at ~0.5 KB per order). */
  maxOrders: PositiveInt,
  /** Orders older than this, relative to the newest recorded order's time, are evicted (default 24 h). */
  maxAgeMs: PositiveInt
})
export type Retention = typeof Retention.Type

export const defaultRetention: Retention = { maxOrders: 200_000, maxAgeMs: 24 * 60 * 60 * 1000 }

/** Retention from partial settings (missing ones take the defaults), naming any bad field. */
export const makeRetention = (input: Partial<Retention> = {}): Either.Either<Retention, DecodeError> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(Retention, { errors: "all" })(withDefaults(defaultRetention, input)),
    (error) => invalidFields("OrderRegistry.Retention", violationsOf(error))
  )

/** A stored order: its canonical record and the log index that stored it. */
export interface Entry {
  readonly record: OrderRecord.OrderRecord
  readonly index: number
}

export interface State {
  readonly retention: Retention
  readonly entries: HashMap.HashMap<string, Entry>
  /** The stored entries in insertion (log) order, oldest first: the eviction order. */
  readonly order: Fifo.Fifo<Entry>
  /** Highest logical time of any stored record (0 before the first). */
  readonly clockUnixMs: number
  /** Highest logical time of any evicted record (0 before the first eviction). */
  readonly horizonUnixMs: number
}

export const initial = (retention: Retention = defaultRetention): State => ({
  retention,
  entries: HashMap.empty(),
  order: Fifo.empty(),
  clockUnixMs: 0,
  horizonUnixMs: 0
})

export const size = (state: State): number => state.order.size

/** The stored entry of an order, if it is (still) recorded. */
export const lookup = (state: State, orderId: string): Option.Option<Entry> => HashMap.get(state.entries, orderId)

/** Would a record with this logical time be refused as older than the retention horizon? */
export const isTooOld = (state: State, recordedAtUnixMs: number): boolean =>
  recordedAtUnixMs <= state.horizonUnixMs || recordedAtUnixMs < state.clockUnixMs - state.retention.maxAgeMs

/**
 * Records a batch (one log entry) at log index `index`; answers one outcome per record, in
 * order. A later record for an order id earlier in the same batch gets the earlier one.
 */
export const applyRecords = (
  state: State,
  records: ReadonlyArray<OrderRecord.OrderRecord>,
  index: number
): readonly [State, ReadonlyArray<OrderRecord.RecordOutcome>] => {
  const { maxAgeMs, maxOrders } = state.retention
  let { clockUnixMs, entries, horizonUnixMs, order } = state
  const outcomes: Array<OrderRecord.RecordOutcome> = []
  for (const record of records) {
    const stored = HashMap.get(entries, record.orderId)
    if (Option.isSome(stored)) {
      outcomes.push({ record: stored.value.record, created: false, index: stored.value.index, tooOld: false })
      continue
    }
    if (record.recordedAtUnixMs <= horizonUnixMs || record.recordedAtUnixMs < clockUnixMs - maxAgeMs) {
      outcomes.push({ record, created: false, index: 0, tooOld: true })
      continue
    }
    const entry: Entry = { record, index }
    entries = HashMap.set(entries, record.orderId, entry)
    order = Fifo.push(order, entry)
    if (record.recordedAtUnixMs > clockUnixMs) clockUnixMs = record.recordedAtUnixMs
    outcomes.push({ record, created: true, index, tooOld: false })
    // Evict from the oldest insert: stops at the first entry that may stay, so the cost
    // is proportional to what is evicted, never to the size of the registry.
    for (;;) {
      const [head, normalised] = Fifo.peek(order)
      order = normalised
      if (head === undefined) break
      if (order.size <= maxOrders && head.record.recordedAtUnixMs >= clockUnixMs - maxAgeMs) break
      const popped = Fifo.pop(order)!
      order = popped[1]
      entries = HashMap.remove(entries, head.record.orderId)
      if (head.record.recordedAtUnixMs > horizonUnixMs) horizonUnixMs = head.record.recordedAtUnixMs
    }
  }
  return [{ retention: state.retention, entries, order, clockUnixMs, horizonUnixMs }, outcomes]
}

// ---- log commands and results as bytes --------------------------------------------------

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A log command: the records of one proposal, as `RecordOrdersRequest` protobuf bytes. */
export const encodeCommand = (records: ReadonlyArray<OrderRecord.OrderRecord>): Uint8Array =>
  RecordOrdersRequest.encode({ records: records.map(OrderRecord.toProto) }).finish()

export const decodeCommand = (
  bytes: Uint8Array
): Either.Either<ReadonlyArray<OrderRecord.OrderRecord>, DecodeError> => {
  let request: RecordOrdersRequest
  try {
    request = RecordOrdersRequest.decode(bytes)
  } catch (cause) {
    return Either.left(
      new MalformedPayload({
        messageType: "trading.v1.RecordOrdersRequest",
        format: "protobuf",
        message: `not a protobuf trading.v1.RecordOrdersRequest message: ${
          cause instanceof Error ? cause.message : String(cause)
        }`
      })
    )
  }
  const records: Array<OrderRecord.OrderRecord> = []
  const violations: Array<FieldViolation> = []
  request.records.forEach((message, i) => {
    const decoded = OrderRecord.fromProto(message)
    if (Either.isRight(decoded)) records.push(decoded.right)
    else if (decoded.left._tag === "InvalidFields") {
      for (const v of decoded.left.violations) violations.push({ field: `records[${i}].${v.field}`, reason: v.reason })
    }
  })
  const [first, ...rest] = violations
  return first === undefined
    ? Either.right(records)
    : Either.left(invalidFields("trading.v1.RecordOrdersRequest", [first, ...rest]))
}

const RESULT_OK = 0
const RESULT_REJECTED = 1

/**
 * The generic state-machine form: command bytes in, result bytes out. A command that does
 * not decode leaves the state unchanged and answers a rejection (deterministically, on
 * every replica); proposers should validate records first (OrderRecord.fromProto).
 */
export const apply = (state: State, command: Uint8Array, index: number): readonly [State, Uint8Array] => {
  const decoded = decodeCommand(command)
  if (Either.isLeft(decoded)) {
    const message = encoder.encode(decoded.left.message)
    const result = new Uint8Array(1 + message.length)
    result[0] = RESULT_REJECTED
    result.set(message, 1)
    return [state, result]
  }
  const [next, outcomes] = applyRecords(state, decoded.right, index)
  return [next, RegistryWire.encodeOutcomes(outcomes, RESULT_OK)]
}

/** A command the state machine refused (it did not decode); nothing was recorded. */
export class CommandRejected extends Schema.TaggedError<CommandRejected>()("CommandRejected", {
  message: Schema.String
}) {}

export const decodeResult = (
  result: Uint8Array
): Either.Either<ReadonlyArray<OrderRecord.RecordOutcome>, CommandRejected | DecodeError> => {
  if (result[0] === RESULT_REJECTED) {
    return Either.left(new CommandRejected({ message: decoder.decode(result.subarray(1)) }))
  }
  if (result[0] !== RESULT_OK) {
    return Either.left(new CommandRejected({ message: "not an order registry result" }))
  }
  let response: RecordOrdersResponse
  try {
    response = RecordOrdersResponse.decode(result.subarray(1))
  } catch (cause) {
    return Either.left(new CommandRejected({ message: `corrupt result: ${String(cause)}` }))
  }
  return Either.all(response.outcomes.map(OrderRecord.outcomeFromProto))
}

// ---- reads as bytes (the state machine's query) -------------------------------------------

/** A lookup query: `ReadRequest` protobuf bytes. */
export const encodeQuery = (orderId: string): Uint8Array => ReadRequest.encode({ orderId }).finish()

/**
 * Answers a query with `ReadResponse` protobuf bytes (`found` false when the order is not
 * stored, including after eviction, and for bytes that are not a ReadRequest).
 */
export const query = (state: State, bytes: Uint8Array): Uint8Array => {
  let orderId: string
  try {
    orderId = ReadRequest.decode(bytes).orderId
  } catch {
    orderId = ""
  }
  const entry = HashMap.get(state.entries, orderId)
  return ReadResponse.encode(
    Option.isSome(entry)
      ? { found: true, record: OrderRecord.toProto(entry.value.record), index: entry.value.index }
      : { found: false, record: undefined, index: 0 }
  ).finish()
}

export const decodeQueryResult = (bytes: Uint8Array): Either.Either<Option.Option<Entry>, DecodeError> => {
  let response: ReadResponse
  try {
    response = ReadResponse.decode(bytes)
  } catch (cause) {
    return Either.left(
      new MalformedPayload({
        messageType: "trading.v1.ReadResponse",
        format: "protobuf",
        message: `not a protobuf trading.v1.ReadResponse message: ${String(cause)}`
      })
    )
  }
  if (!response.found) return Either.right(Option.none())
  if (response.record === undefined) {
    return Either.left(invalidFields("trading.v1.ReadResponse", [{ field: "record", reason: "is missing" }]))
  }
  return Either.map(OrderRecord.fromProto(response.record), (record) => Option.some({ record, index: response.index }))
}

// ---- snapshots ------------------------------------------------------------------------

// Layout (big-endian):
//   "OREG" u8 version=1
//   f64 maxOrders, f64 maxAgeMs, f64 clockUnixMs, f64 horizonUnixMs, u32 count
//   count x (f64 index, u32 length, OrderRecord protobuf bytes), oldest insert first
// Entries are written in insertion order (not hash order), so equal states give equal
// bytes and the restored state evicts in the same order.
const MAGIC = [0x4f, 0x52, 0x45, 0x47] // "OREG"
const SNAPSHOT_VERSION = 1
const HEADER = 4 + 1 + 8 * 4 + 4

/**
 * The snapshot built in slices: each step of the generator encodes at most `slice` records,
 * so a runtime can give its event loop back between steps instead of stalling for the whole
 * registry (hundreds of milliseconds at a few hundred thousand orders). The state is
 * immutable, so records applied meanwhile do not change what is written. The generator's
 * return value is the snapshot, the same bytes as `snapshot(state)`.
 */
export function* snapshotSlices(state: State, slice = 4096): Generator<void, Uint8Array, void> {
  const entries = Fifo.toArray(state.order)
  const encoded: Array<Uint8Array> = new Array(entries.length)
  let length = HEADER
  for (let i = 0; i < entries.length; i++) {
    const bytes = RegistryWire.encodeRecord(entries[i]!.record)
    encoded[i] = bytes
    length += 12 + bytes.length
    if ((i + 1) % slice === 0) yield
  }
  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  out[4] = SNAPSHOT_VERSION
  view.setFloat64(5, state.retention.maxOrders)
  view.setFloat64(13, state.retention.maxAgeMs)
  view.setFloat64(21, state.clockUnixMs)
  view.setFloat64(29, state.horizonUnixMs)
  view.setUint32(37, entries.length)
  let pos = HEADER
  for (let i = 0; i < entries.length; i++) {
    const bytes = encoded[i]!
    view.setFloat64(pos, entries[i]!.index)
    view.setUint32(pos + 8, bytes.length)
    out.set(bytes, pos + 12)
    pos += 12 + bytes.length
    if ((i + 1) % (slice * 4) === 0) yield
  }
  return out
}

/** The whole snapshot at once (see `snapshotSlices`). */
export const snapshot = (state: State): Uint8Array => {
  const slices = snapshotSlices(state, Number.MAX_SAFE_INTEGER)
  for (;;) {
    const step = slices.next()
    if (step.done === true) return step.value
  }
}

const corrupt = (detail: string) =>
  Either.left(
    new MalformedPayload({
      messageType: "OrderRegistry snapshot",
      format: "protobuf",
      message: `not an order registry snapshot: ${detail}`
    })
  )

export const restore = (bytes: Uint8Array): Either.Either<State, DecodeError> => {
  if (bytes.length < HEADER || MAGIC.some((b, i) => bytes[i] !== b)) return corrupt("bad header")
  if (bytes[4] !== SNAPSHOT_VERSION) return corrupt(`unsupported version ${bytes[4]}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const retention = makeRetention({ maxOrders: view.getFloat64(5), maxAgeMs: view.getFloat64(13) })
  if (Either.isLeft(retention)) return corrupt(`bad retention: ${retention.left.message}`)
  const clockUnixMs = view.getFloat64(21)
  const horizonUnixMs = view.getFloat64(29)
  if (!Number.isSafeInteger(clockUnixMs) || !Number.isSafeInteger(horizonUnixMs)) return corrupt("bad clock")
  const count = view.getUint32(37)
  let entries = HashMap.empty<string, Entry>().pipe(HashMap.beginMutation)
  let order = Fifo.empty<Entry>()
  let pos = HEADER
  for (let i = 0; i < count; i++) {
    if (pos + 12 > bytes.length) return corrupt(`truncated at entry ${i}`)
    const index = view.getFloat64(pos)
    const length = view.getUint32(pos + 8)
    if (!Number.isSafeInteger(index) || index < 0) return corrupt(`bad index at entry ${i}`)
    if (pos + 12 + length > bytes.length) return corrupt(`truncated at entry ${i}`)
    let message: ProtoOrderRecord
    try {
      message = ProtoOrderRecord.decode(bytes.subarray(pos + 12, pos + 12 + length))
    } catch (cause) {
      return corrupt(`entry ${i}: ${String(cause)}`)
    }
    const record = OrderRecord.fromProto(message)
    if (Either.isLeft(record)) return corrupt(`entry ${i}: ${record.left.message}`)
    if (HashMap.has(entries, record.right.orderId)) return corrupt(`duplicate order id at entry ${i}`)
    const entry: Entry = { record: record.right, index }
    entries = HashMap.set(entries, record.right.orderId, entry)
    order = Fifo.push(order, entry)
    pos += 12 + length
  }
  if (pos !== bytes.length) return corrupt("trailing bytes")
  return Either.right({
    retention: retention.right,
    entries: HashMap.endMutation(entries),
    order,
    clockUnixMs,
    horizonUnixMs
  })
}
