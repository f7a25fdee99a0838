// The order registry: the state machine the raft-node replicates.
//
// Keyed by order id, first writer wins: recording an order that is already recorded
// answers the stored canonical record, never a second one. Every function is deterministic
// and free of I/O, so replicas applying the same log reach the same state and answers, and
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
// Storage (ADR 0044). The state is *linear*, like the Raft core's (ADR 0030): `apply` and
// `applyRecords` update it in place and return it; only the newest state may be used.
// Records are kept as their canonical protobuf bytes in an append-only arena of segments
// off the JS heap (internal/Arena.ts), in insertion order, which is the eviction order;
// eviction only advances the arena's head. An open-addressing table of typed arrays maps
// order ids to arena locations (internal/IdIndex.ts). About 170 bytes per order and
// nothing for the GC to trace, where a persistent hash map of objects took ~500 bytes of
// small objects. `apply` validates and copies record bytes without decoding them
// (internal/recordScan.ts). A snapshot starts from `capture(state)`: segment references
// and positions, O(segments); written bytes never change while a capture is held (the arena
// reuses dropped segments only when none is, ADR 0100), so it stays consistent while
// applying goes on (ADR 0036) until `release`.
import {
  OrderRecord as ProtoOrderRecord,
  ReadRequest,
  ReadResponse,
  RecordOrdersRequest,
  RecordOrdersResponse
} from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Bytes from "./Bytes.js"
import type { DecodeError, FieldViolation } from "./DecodeError.js"
import { invalidFields, MalformedPayload } from "./DecodeError.js"
import { ID_PATTERN, PositiveInt } from "./Fields.js"
import * as Arena from "./internal/Arena.js"
import * as Canonical from "./internal/canonicalRecord.js"
import * as IdIndex from "./internal/IdIndex.js"
import { violationsOf, withDefaults } from "./internal/issues.js"
import * as Scan from "./internal/recordScan.js"
import * as RegistryWire from "./internal/registryWire.js"
import * as OrderRecord from "./OrderRecord.js"

export const Retention = Schema.Struct({
  /** At most this many orders are kept (default 200,000, about 35 MB at ~170 bytes per order). */
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

/**
 * The registry. Linear: `apply`/`applyRecords` change it in place and return it, so a
 * caller keeps exactly one reference and never expects an older value to stay as it was;
 * use `capture` for a consistent view to snapshot later.
 */
export interface State {
  readonly retention: Retention
  /** Highest logical time of any stored record (0 before the first). */
  readonly clockUnixMs: number
  /** Highest logical time of any evicted record (0 before the first eviction). */
  readonly horizonUnixMs: number
}

/** Storage tuning; tests use tiny segments to exercise segment turnover. */
export interface StorageOptions {
  /** Largest arena segment in bytes (default and maximum 1 MiB). */
  readonly segmentBytes?: number
}

// What a State really is; only this module sees it.
interface Registry {
  readonly retention: Retention
  clockUnixMs: number
  horizonUnixMs: number
  /** Entries `f64 index | u32 length | canonical OrderRecord`, oldest insert first. */
  readonly arena: Arena.Arena
  /** Order id -> arena location. */
  readonly ids: IdIndex.IdIndex
  /** Reused by `apply` so that a command allocates nothing but its result. */
  readonly scan: Scan.Scan
  outcomeKinds: Uint8Array
  outcomeLocations: Float64Array
  outcomeLengths: Float64Array
}

const make = (
  retention: Retention,
  clockUnixMs: number,
  horizonUnixMs: number,
  options: StorageOptions,
  expected: number
): Registry => ({
  retention,
  clockUnixMs,
  horizonUnixMs,
  arena: Arena.make(options.segmentBytes),
  ids: IdIndex.make(expected),
  scan: Scan.makeScan(),
  outcomeKinds: new Uint8Array(64),
  outcomeLocations: new Float64Array(64),
  outcomeLengths: new Float64Array(64)
})

export const initial = (retention: Retention = defaultRetention, options: StorageOptions = {}): State =>
  make(retention, 0, 0, options, 0)

export const size = (state: State | Capture): number => isCapture(state) ? state.size : (state as Registry).arena.count

/** Would a record with this logical time be refused as older than the retention horizon? */
export const isTooOld = (state: State, recordedAtUnixMs: number): boolean =>
  recordedAtUnixMs <= state.horizonUnixMs || recordedAtUnixMs < state.clockUnixMs - state.retention.maxAgeMs

// ---- the store ---------------------------------------------------------------------------

const payloadAt = (loc: number): number => Arena.offsetOf(loc) + Arena.FRAME

/** Arena location of the entry whose order id is `id[start, start + length)`, or -1. */
const find = (r: Registry, hash: number, id: Uint8Array, start: number, length: number): number => {
  const { arena, ids } = r
  for (
    let slot = IdIndex.probe(ids, hash, hash & ids.mask);
    slot >= 0;
    slot = IdIndex.probe(ids, hash, (slot + 1) & ids.mask)
  ) {
    const loc = ids.locations[slot]!
    if (Canonical.orderIdEquals(Arena.segmentAt(arena, loc), payloadAt(loc), id, start, length)) return loc
  }
  return -1
}

/** The same for an id given as a string, with its `IdIndex.hashAscii`. */
const findString = (r: Registry, hash: number, id: string): number => {
  const { arena, ids } = r
  for (
    let slot = IdIndex.probe(ids, hash, hash & ids.mask);
    slot >= 0;
    slot = IdIndex.probe(ids, hash, (slot + 1) & ids.mask)
  ) {
    const loc = ids.locations[slot]!
    if (Canonical.orderIdEqualsString(Arena.segmentAt(arena, loc), payloadAt(loc), id)) return loc
  }
  return -1
}

const entryAt = (r: Registry, loc: number): Entry => ({
  record: Canonical.decode(Arena.segmentAt(r.arena, loc), payloadAt(loc), Arena.payloadLengthAt(r.arena, loc)),
  index: Arena.keyAt(r.arena, loc)
})

/** Indexes an entry just appended and written, moves the clock, evicts. */
const stored = (r: Registry, hash: number, loc: number, recordedAtUnixMs: number): void => {
  IdIndex.insert(r.ids, hash, loc)
  if (recordedAtUnixMs > r.clockUnixMs) r.clockUnixMs = recordedAtUnixMs
  evict(r)
}

// Evicts from the oldest insert: stops at the first entry that may stay, so the cost is
// proportional to what is evicted, never to the size of the registry.
const evict = (r: Registry): void => {
  const { arena, ids } = r
  const { maxAgeMs, maxOrders } = r.retention
  while (arena.count > 0) {
    const loc = Arena.head(arena)
    const segment = Arena.segmentAt(arena, loc)
    const at = payloadAt(loc)
    const recordedAt = Canonical.recordedAt(segment, at, Arena.payloadLengthAt(arena, loc))
    if (arena.count <= maxOrders && recordedAt >= r.clockUnixMs - maxAgeMs) break
    const hash = IdIndex.hashBytes(segment, Canonical.orderIdStart(segment, at), Canonical.orderIdLength(segment, at))
    IdIndex.removeAt(ids, IdIndex.slotOf(ids, hash, loc))
    Arena.popHead(arena)
    if (recordedAt > r.horizonUnixMs) r.horizonUnixMs = recordedAt
  }
}

/** Appends a typed record's canonical encoding; returns its location (not yet indexed). */
const appendTyped = (r: Registry, record: OrderRecord.OrderRecord, index: number): number => {
  const loc = Arena.append(r.arena, index, RegistryWire.recordLength(record))
  // the arena reserved exactly the record's length, so the writer never reallocates
  RegistryWire.writeRecord({ buf: Arena.segmentAt(r.arena, loc), pos: payloadAt(loc) }, record)
  return loc
}

// The arena compares and hashes ids as ASCII bytes, reads the logical time back from the
// end of the record and must be able to encode it: a typed record must be a valid
// OrderRecord in these respects (it is when it comes from OrderRecord.validate/fromProto).
const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0
const checkStorable = (record: OrderRecord.OrderRecord): void => {
  if (
    !ID_PATTERN.test(record.orderId) || !(isCount(record.recordedAtUnixMs) && record.recordedAtUnixMs > 0) ||
    !isCount(record.filledQuantity) || !isCount(record.fillPriceMicros) ||
    !(record.status === "ACCEPTED" || record.status === "REJECTED" || record.status === "EXECUTED")
  ) {
    throw new RangeError(
      `OrderRegistry: not a valid OrderRecord (order id ${JSON.stringify(record.orderId)}); ` +
        `validate records with OrderRecord.validate or OrderRecord.fromProto`
    )
  }
}

/**
 * Records a batch (one log entry) at log index `index`; answers one outcome per record, in
 * order. A later record for an order id earlier in the same batch gets the earlier one.
 * Records must be valid (`OrderRecord.validate`/`fromProto`): one that the store cannot
 * hold (bad order id, status or integers) is a defect (RangeError) and nothing of the batch
 * is recorded. Updates `state` in place and returns it.
 */
export const applyRecords = (
  state: State,
  records: ReadonlyArray<OrderRecord.OrderRecord>,
  index: number
): readonly [State, ReadonlyArray<OrderRecord.RecordOutcome>] => {
  const r = state as Registry
  // all checked before any is stored: a refused batch leaves the state as it was
  for (const record of records) checkStorable(record)
  const outcomes: Array<OrderRecord.RecordOutcome> = []
  for (const record of records) {
    const hash = IdIndex.hashAscii(record.orderId)
    const found = findString(r, hash, record.orderId)
    if (found >= 0) {
      const entry = entryAt(r, found)
      outcomes.push({ record: entry.record, created: false, index: entry.index, tooOld: false })
    } else if (isTooOld(r, record.recordedAtUnixMs)) {
      outcomes.push({ record, created: false, index: 0, tooOld: true })
    } else {
      stored(r, hash, appendTyped(r, record, index), record.recordedAtUnixMs)
      outcomes.push({ record, created: true, index, tooOld: false })
    }
  }
  Arena.trim(r.arena)
  return [state, outcomes]
}

/** The stored entry of an order, if it is (still) recorded. */
export const lookup = (state: State, orderId: string): Option.Option<Entry> => {
  const loc = findString(state as Registry, IdIndex.hashAscii(orderId), orderId)
  return loc < 0 ? Option.none() : Option.some(entryAt(state as Registry, loc))
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

const CREATED = 0
const DUPLICATE = 1
const TOO_OLD = 2

/**
 * The generic state-machine form: command bytes in, result bytes out (the bytes of
 * `applyRecords`' outcomes, see `decodeResult`). A command that does not decode leaves the
 * state unchanged and answers a rejection (deterministically, on every replica); proposers
 * should validate records first (OrderRecord.fromProto). Updates `state` in place.
 */
export const apply = (state: State, command: Uint8Array, index: number): readonly [State, Uint8Array] => {
  const r = state as Registry
  const scan = r.scan
  // Records in any other encoding, and invalid ones, take the generated decoder and the
  // Schema: same answers, and the Schema's rejection messages.
  if (!Scan.scanCommand(command, scan)) return applyDecoded(r, command, index)
  const n = scan.count
  const fields = scan.fields
  if (r.outcomeKinds.length < n) {
    r.outcomeKinds = new Uint8Array(n * 2)
    r.outcomeLocations = new Float64Array(n * 2)
    r.outcomeLengths = new Float64Array(n * 2)
  }
  const kinds = r.outcomeKinds
  const locations = r.outcomeLocations
  for (let i = 0; i < n; i++) {
    const at = i * Scan.STRIDE
    const idStart = fields[at + Scan.ORDER_ID]!
    const idLength = fields[at + Scan.ORDER_ID + 1]!
    const hash = IdIndex.hashBytes(command, idStart, idLength)
    const found = find(r, hash, command, idStart, idLength)
    const recordedAt = fields[at + Scan.RECORDED_AT]!
    if (found >= 0) {
      kinds[i] = DUPLICATE
      locations[i] = found
    } else if (isTooOld(r, recordedAt)) {
      kinds[i] = TOO_OLD
    } else {
      const loc = Arena.append(r.arena, index, fields[at + Scan.CANONICAL_LENGTH]!)
      Scan.writeCanonical(command, fields, at, Arena.segmentAt(r.arena, loc), payloadAt(loc))
      stored(r, hash, loc, recordedAt)
      kinds[i] = CREATED
      locations[i] = loc
    }
  }
  const result = encodeResult(r, command, n)
  // only now: an outcome may point into an entry this very command evicted
  Arena.trim(r.arena)
  return [state, result]
}

/**
 * `RecordOrdersResponse { repeated RecordOutcome outcomes = 1 }` after the OK byte, from the
 * stored (or, for `tooOld`, submitted) canonical record bytes: the bytes of
 * `RegistryWire.encodeOutcomes` for the same outcomes.
 */
const encodeResult = (r: Registry, command: Uint8Array, n: number): Uint8Array => {
  const { arena, outcomeKinds: kinds, outcomeLengths: lengths, outcomeLocations: locations } = r
  const fields = r.scan.fields
  // sizes first, so the result is allocated once at its exact length
  let total = 1
  for (let i = 0; i < n; i++) {
    const kind = kinds[i]!
    const length = kind === TOO_OLD
      ? fields[i * Scan.STRIDE + Scan.CANONICAL_LENGTH]!
      : Arena.payloadLengthAt(arena, locations[i]!)
    const index = kind === TOO_OLD ? 0 : Arena.keyAt(arena, locations[i]!)
    const outcome = 1 + Scan.varintLength(length) + length + (kind === DUPLICATE ? 0 : 2) +
      (index === 0 ? 0 : 1 + Scan.varintLength(index))
    lengths[i] = length
    total += 1 + Scan.varintLength(outcome) + outcome
  }
  const out = new Uint8Array(total)
  out[0] = RESULT_OK
  let pos = 1
  for (let i = 0; i < n; i++) {
    const kind = kinds[i]!
    const length = lengths[i]!
    const index = kind === TOO_OLD ? 0 : Arena.keyAt(arena, locations[i]!)
    out[pos++] = 0x0a // outcomes
    pos = Scan.writeVarint(
      out,
      pos,
      1 + Scan.varintLength(length) + length + (kind === DUPLICATE ? 0 : 2) +
        (index === 0 ? 0 : 1 + Scan.varintLength(index))
    )
    out[pos++] = 0x0a // record
    pos = Scan.writeVarint(out, pos, length)
    if (kind === TOO_OLD) {
      pos = Scan.writeCanonical(command, fields, i * Scan.STRIDE, out, pos)
    } else {
      pos = Scan.copy(Arena.segmentAt(arena, locations[i]!), payloadAt(locations[i]!), length, out, pos)
    }
    if (kind === CREATED) {
      out[pos++] = 0x10 // created
      out[pos++] = 1
    }
    if (index !== 0) {
      out[pos++] = 0x18 // index
      pos = Scan.writeVarint(out, pos, index)
    }
    if (kind === TOO_OLD) {
      out[pos++] = 0x20 // too_old
      out[pos++] = 1
    }
  }
  return out
}

/** `apply` through the generated decoder and the Schema (see `apply`). */
const applyDecoded = (r: Registry, command: Uint8Array, index: number): readonly [State, Uint8Array] => {
  const decoded = decodeCommand(command)
  if (Either.isLeft(decoded)) {
    const message = encoder.encode(decoded.left.message)
    const result = new Uint8Array(1 + message.length)
    result[0] = RESULT_REJECTED
    result.set(message, 1)
    return [r, result]
  }
  const [next, outcomes] = applyRecords(r, decoded.right, index)
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
  const r = state as Registry
  const loc = findString(r, IdIndex.hashAscii(orderId), orderId)
  if (loc < 0) return ReadResponse.encode({ found: false, record: undefined, index: 0 }).finish()
  // `found`, `record`, `index` in field order from the stored bytes: the generated encoder's bytes
  const segment = Arena.segmentAt(r.arena, loc)
  const from = payloadAt(loc)
  const length = Arena.payloadLengthAt(r.arena, loc)
  const index = Arena.keyAt(r.arena, loc)
  const out = new Uint8Array(3 + Scan.varintLength(length) + length + (index === 0 ? 0 : 1 + Scan.varintLength(index)))
  out[0] = 0x08
  out[1] = 1
  out[2] = 0x12
  let pos = Scan.writeVarint(out, 3, length)
  out.set(segment.subarray(from, from + length), pos)
  pos += length
  if (index !== 0) {
    out[pos++] = 0x18
    Scan.writeVarint(out, pos, index)
  }
  return out
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

// ---- captures and snapshots ---------------------------------------------------------------

/**
 * The registry as of now, for a snapshot taken later: the arena's segment references and
 * positions plus the clock, horizon and retention. O(number of segments) (tens for a few
 * hundred thousand orders). Stays valid and unchanged while the state is applied to, until
 * `release`: the arena reuses no segment while a capture is held (internal/Arena.ts), so
 * a capture never released keeps it allocating fresh ones.
 */
export interface Capture {
  readonly retention: Retention
  readonly clockUnixMs: number
  readonly horizonUnixMs: number
  readonly size: number
  readonly entries: Arena.Capture
}

const isCapture = (value: State | Capture): value is Capture => "entries" in value

export const capture = (state: State): Capture => {
  const r = state as Registry
  return {
    retention: r.retention,
    clockUnixMs: r.clockUnixMs,
    horizonUnixMs: r.horizonUnixMs,
    size: r.arena.count,
    entries: Arena.capture(r.arena)
  }
}

/**
 * Ends a capture of this state: the parts `snapshotParts` made of it may change from now
 * on. Releasing twice, or a capture of a state a restore replaced, does nothing.
 */
export const release = (state: State, captured: Capture): void =>
  Arena.release((state as Registry).arena, captured.entries)

// Layout (big-endian):
//   "OREG" u8 version=1
//   f64 maxOrders, f64 maxAgeMs, f64 clockUnixMs, f64 horizonUnixMs, u32 count
//   count x (f64 index, u32 length, OrderRecord protobuf bytes), oldest insert first
// Entries are written in insertion order (not hash order), so equal states give equal
// bytes and the restored state evicts in the same order. The arena frames its entries
// exactly so, so the entry section is the arena's live byte ranges.
const MAGIC = [0x4f, 0x52, 0x45, 0x47] // "OREG"
const SNAPSHOT_VERSION = 1
const HEADER = 4 + 1 + 8 * 4 + 4

/**
 * The snapshot of a capture as parts whose concatenation is the snapshot's bytes: a header,
 * then the arena's live ranges themselves (views, not copies; ADR 0036). The parts do not
 * change, however much is applied to the state, until the capture is released: a writer
 * may take its time, and releases the capture when it is done with them.
 */
export const snapshotParts = (captured: Capture): Array<Uint8Array> => {
  const header = new Uint8Array(HEADER)
  const view = new DataView(header.buffer)
  header.set(MAGIC, 0)
  header[4] = SNAPSHOT_VERSION
  view.setFloat64(5, captured.retention.maxOrders)
  view.setFloat64(13, captured.retention.maxAgeMs)
  view.setFloat64(21, captured.clockUnixMs)
  view.setFloat64(29, captured.horizonUnixMs)
  view.setUint32(37, captured.entries.count)
  return [header, ...Arena.ranges(captured.entries)]
}

/**
 * The whole snapshot in one buffer of its own (see `snapshotParts`): of a capture, valid
 * after its release too; of a state, as of now (captured and released at once).
 */
export const snapshot = (from: State | Capture): Uint8Array => {
  if (isCapture(from)) return Bytes.concatFresh(snapshotParts(from))
  const captured = capture(from)
  const bytes = Bytes.concatFresh(snapshotParts(captured))
  release(from, captured)
  return bytes
}

const corrupt = (detail: string) =>
  Either.left(
    new MalformedPayload({
      messageType: "OrderRegistry snapshot",
      format: "protobuf",
      message: `not an order registry snapshot: ${detail}`
    })
  )

export const restore = (bytes: Uint8Array, options: StorageOptions = {}): Either.Either<State, DecodeError> => {
  if (bytes.length < HEADER || MAGIC.some((b, i) => bytes[i] !== b)) return corrupt("bad header")
  if (bytes[4] !== SNAPSHOT_VERSION) return corrupt(`unsupported version ${bytes[4]}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const retention = makeRetention({ maxOrders: view.getFloat64(5), maxAgeMs: view.getFloat64(13) })
  if (Either.isLeft(retention)) return corrupt(`bad retention: ${retention.left.message}`)
  const clockUnixMs = view.getFloat64(21)
  const horizonUnixMs = view.getFloat64(29)
  if (!Number.isSafeInteger(clockUnixMs) || !Number.isSafeInteger(horizonUnixMs)) return corrupt("bad clock")
  const count = view.getUint32(37)
  // a count larger than the bytes can hold must not size the index
  const r = make(retention.right, clockUnixMs, horizonUnixMs, options, Math.min(count, bytes.length / 20))
  const fields = r.scan.fields
  let pos = HEADER
  for (let i = 0; i < count; i++) {
    if (pos + 12 > bytes.length) return corrupt(`truncated at entry ${i}`)
    const index = view.getFloat64(pos)
    const length = view.getUint32(pos + 8)
    if (!Number.isSafeInteger(index) || index < 0) return corrupt(`bad index at entry ${i}`)
    if (pos + 12 + length > bytes.length) return corrupt(`truncated at entry ${i}`)
    const start = pos + 12
    if (Scan.scanRecord(bytes, start, start + length, fields, 0)) {
      // the common case: a record this module wrote, validated in place and copied
      const idStart = fields[Scan.ORDER_ID]!
      const idLength = fields[Scan.ORDER_ID + 1]!
      const hash = IdIndex.hashBytes(bytes, idStart, idLength)
      if (find(r, hash, bytes, idStart, idLength) >= 0) return corrupt(`duplicate order id at entry ${i}`)
      const loc = Arena.append(r.arena, index, fields[Scan.CANONICAL_LENGTH]!)
      Scan.writeCanonical(bytes, fields, 0, Arena.segmentAt(r.arena, loc), payloadAt(loc))
      IdIndex.insert(r.ids, hash, loc)
    } else {
      let message: ProtoOrderRecord
      try {
        message = ProtoOrderRecord.decode(bytes.subarray(start, start + length))
      } catch (cause) {
        return corrupt(`entry ${i}: ${String(cause)}`)
      }
      const record = OrderRecord.fromProto(message)
      if (Either.isLeft(record)) return corrupt(`entry ${i}: ${record.left.message}`)
      const hash = IdIndex.hashAscii(record.right.orderId)
      if (findString(r, hash, record.right.orderId) >= 0) return corrupt(`duplicate order id at entry ${i}`)
      IdIndex.insert(r.ids, hash, appendTyped(r, record.right, index))
    }
    pos += 12 + length
  }
  if (pos !== bytes.length) return corrupt("trailing bytes")
  return Either.right(r)
}
