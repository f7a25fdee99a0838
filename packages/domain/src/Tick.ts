// A market data tick: the Schema, its validation, and its wire codecs.
import { Tick as ProtoTick } from "@trading/proto/gen/trading/v1/market"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { DecodeError } from "./DecodeError.js"
import { invalidFields } from "./DecodeError.js"
import { Id, InstrumentSymbol, Label, NonNegativeInt, PositiveInt, SchemaVersion, UnixMillis } from "./Fields.js"
import * as Codec from "./internal/codec.js"

const fields = {
  schemaVersion: SchemaVersion,
  tickId: Id,
  symbol: InstrumentSymbol,
  /** Fixed-point price in millionths of the quote currency, > 0. */
  priceMicros: PositiveInt,
  size: PositiveInt,
  observedAtUnixMs: UnixMillis,
  /** Per-symbol sequence number, monotonic across the ingestor's sources and restarts. */
  sequence: NonNegativeInt,
  source: Label
}

export const Tick = Schema.Struct(fields)
export type Tick = typeof Tick.Type

export const codec: Codec.WireCodec<Tick, ProtoTick> = Codec.make({
  messageType: "trading.v1.Tick",
  domain: Tick,
  proto: Schema.Struct({ ...fields, schemaVersion: Codec.ProtoSchemaVersion }),
  json: Codec.snakeCaseJson(fields),
  fns: ProtoTick,
  // the domain shape is the ts-proto shape
  toProto: (tick) => ({ ...tick }),
  wireFields: new Map([
    [1, { name: "schema_version", kind: "uint32" }],
    [2, { name: "tick_id", kind: "string" }],
    [3, { name: "symbol", kind: "string" }],
    [4, { name: "price_micros", kind: "int64" }],
    [5, { name: "size", kind: "int64" }],
    [6, { name: "observed_at_unix_ms", kind: "int64" }],
    [7, { name: "sequence", kind: "uint64" }],
    [8, { name: "source", kind: "string" }]
  ])
})

export interface ValidateOptions {
  /** The caller's clock, for rejecting ticks from the future; omit when replaying history. */
  readonly nowUnixMs?: number
  /** How far ahead of `nowUnixMs` an observation may be (clock skew between sources). */
  readonly maxFutureSkewMs?: number
}

export const DEFAULT_MAX_FUTURE_SKEW_MS = 60_000

const notFromTheFuture = (tick: Tick, options: ValidateOptions): Either.Either<Tick, DecodeError> => {
  if (options.nowUnixMs === undefined) return Either.right(tick)
  const limit = options.nowUnixMs + (options.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS)
  return tick.observedAtUnixMs <= limit ? Either.right(tick) : Either.left(invalidFields("trading.v1.Tick", [{
    field: "observed_at_unix_ms",
    reason: `must not be more than ${
      limit - options.nowUnixMs
    } ms after the receiver's clock (${options.nowUnixMs}), got ${tick.observedAtUnixMs}`
  }]))
}

/**
 * The one tick validation every ingestion source uses (synthetic generator, file replay,
 * gRPC ingest): schema version, symbol, price > 0, size > 0, a sane timestamp and, when
 * the caller passes its clock, not from the future.
 */
export const validate = (input: unknown, options: ValidateOptions = {}): Either.Either<Tick, DecodeError> =>
  Either.flatMap(codec.validate(input), (tick) => notFromTheFuture(tick, options))

/** Kafka `market.ticks` record value -> tick. */
export const fromBytes = (bytes: Uint8Array, options: ValidateOptions = {}): Either.Either<Tick, DecodeError> =>
  Either.flatMap(codec.fromBytes(bytes), (tick) => notFromTheFuture(tick, options))

export const toBytes: (tick: Tick) => Uint8Array = codec.toBytes

/** A gRPC ingest request's ts-proto `Tick` -> tick. */
export const fromProto = (message: ProtoTick, options: ValidateOptions = {}): Either.Either<Tick, DecodeError> =>
  Either.flatMap(codec.fromProto(message), (tick) => notFromTheFuture(tick, options))

export const toProto: (tick: Tick) => ProtoTick = codec.toProto

/** One parsed JSON line (snake_case fields) -> tick. */
export const fromJson = (json: unknown, options: ValidateOptions = {}): Either.Either<Tick, DecodeError> =>
  Either.flatMap(codec.fromJson(json), (tick) => notFromTheFuture(tick, options))

export const fromJsonText = (text: string, options: ValidateOptions = {}): Either.Either<Tick, DecodeError> =>
  Either.flatMap(codec.fromJsonText(text), (tick) => notFromTheFuture(tick, options))

export const toJson: (tick: Tick) => Record<string, unknown> = codec.toJson
export const toJsonText: (tick: Tick) => string = codec.toJsonText
