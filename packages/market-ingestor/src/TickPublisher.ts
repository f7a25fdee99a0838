// The one way a tick reaches `market.ticks`, whatever its source: validated with the
// domain's tick validation (a bad tick is never published), stamped with the next
// per-symbol sequence, keyed by symbol. Sequencing and producing happen under one lock,
// so the order of sequences per symbol is the order of records in its partition.
import { MessageBus } from "@trading/bus"
import type { BusError, OutgoingRecord } from "@trading/bus"
import * as Tick from "@trading/domain/Tick"
import { Metrics } from "@trading/platform"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { InvalidTick } from "./IngestError.js"
import { IngestorConfig } from "./IngestorConfig.js"
import * as TickWire from "./internal/TickWire.js"
import * as Sequencer from "./Sequencer.js"

export interface Published {
  readonly tickId: string
  readonly symbol: string
  readonly sequence: number
}

export interface ValidateOptions {
  /** Where the tick came from, for the error message (`grpc`, `replay:ticks.csv:12`). */
  readonly origin: string
  /** Refuse ticks observed in the future of this process's clock (live sources; not replays of history). */
  readonly checkClock: boolean
}

const publishedTotal = Metrics.counter(
  "ingest_ticks_published_total",
  "Ticks published to the ticks topic, by source kind"
)
export const rejectedTotal = Metrics.counter(
  "ingest_ticks_rejected_total",
  "Ticks refused by validation, by source kind"
)

/** A publish span lists its tick ids up to this many ticks. */
const maxListedTicks = 100

/** `replay:ticks.csv` -> `replay`: a bounded label for metrics. */
const kindOf = (source: string) => source.split(":")[0] ?? source

export class TickPublisher extends Context.Tag("@trading/market-ingestor/TickPublisher")<TickPublisher, {
  readonly topic: string
  /** Checks a tick in domain shape (its `sequence` is ignored: the publisher assigns it). */
  readonly validate: (input: unknown, options: ValidateOptions) => Effect.Effect<Tick.Tick, InvalidTick>
  /** `validate` for many ticks of one source at once (one clock reading); fails on the first bad one. */
  readonly validateAll: (
    inputs: ReadonlyArray<unknown>,
    options: ValidateOptions
  ) => Effect.Effect<Array<Tick.Tick>, InvalidTick>
  /** Stamps sequences and produces the ticks (already validated) in order; acks from all replicas. */
  readonly publish: (ticks: ReadonlyArray<Tick.Tick>) => Effect.Effect<ReadonlyArray<Published>, BusError>
}>() {}

/** A bounded metric label per source (`replay:ticks.csv` -> `replay`), each tagged counter made once. */
const counterFor = (counter: typeof publishedTotal) => {
  const tagged = new Map<string, typeof publishedTotal>()
  return (source: string) => {
    const kind = kindOf(source)
    let metric = tagged.get(kind)
    if (metric === undefined) {
      metric = counter.pipe(Metric.tagged("source", kind))
      tagged.set(kind, metric)
    }
    return metric
  }
}

export const make = Effect.gen(function*() {
  const bus = yield* MessageBus
  const { ticksTopic: topic } = yield* IngestorConfig
  const lock = yield* Effect.makeSemaphore(1)
  // owned by the lock holder; a plain variable would do, a closure keeps it per layer
  let sequences: Sequencer.Sequences = Sequencer.empty
  const published = counterFor(publishedTotal)
  const rejected = counterFor(rejectedTotal)

  /** One input against the rules: the fast check first, the domain's validation for the verdict on the rest. */
  const check = (input: unknown, options: ValidateOptions, now: number): Either.Either<Tick.Tick, InvalidTick> => {
    const withSequence = typeof input === "object" && input !== null ? { ...input, sequence: 0 } : input
    const fast = TickWire.checkTick(withSequence, options.checkClock ? now : undefined)
    if (fast !== undefined) return Either.right(fast)
    return Either.mapLeft(
      Tick.validate(withSequence, options.checkClock ? { nowUnixMs: now } : {}),
      (error) => new InvalidTick({ origin: options.origin, error })
    )
  }

  const refuse = (error: InvalidTick, options: ValidateOptions) =>
    Effect.zipRight(Metric.increment(rejected(options.origin)), Effect.fail(error))

  const validate = (input: unknown, options: ValidateOptions) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const result = check(input, options, now)
      return Either.isRight(result) ? Effect.succeed(result.right) : refuse(result.left, options)
    })

  const validateAll = (inputs: ReadonlyArray<unknown>, options: ValidateOptions) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const ticks: Array<Tick.Tick> = new Array(inputs.length)
      for (let i = 0; i < inputs.length; i++) {
        const result = check(inputs[i], options, now)
        if (Either.isLeft(result)) return refuse(result.left, options)
        ticks[i] = result.right
      }
      return Effect.succeed(ticks)
    })

  // made once and given each batch: a generator function made anew per publish would keep
  // the batch's ticks and records through scavenges until a full collection (ADR 0093)
  function* publishSteps(ticks: ReadonlyArray<Tick.Tick>) {
    const now = yield* Clock.currentTimeMillis
    const [assigned, updated] = Sequencer.assign(sequences, ticks.map((t) => t.symbol), now)
    const stamped = ticks.map((tick, i) => ({ ...tick, sequence: assigned[i]! }))
    const values = TickWire.encodeTicks(stamped)
    const records: Array<OutgoingRecord> = new Array(stamped.length)
    for (let i = 0; i < stamped.length; i++) records[i] = { topic, key: stamped[i]!.symbol, value: values[i]! }
    yield* bus.produceBatch(records)
    // only sequences that reached the log count as issued
    sequences = updated
    // one counter update per source in the call (a call is nearly always one source)
    let from = 0
    for (let i = 1; i <= stamped.length; i++) {
      if (i === stamped.length || stamped[i]!.source !== stamped[from]!.source) {
        yield* Metric.incrementBy(published(stamped[from]!.source), i - from)
        from = i
      }
    }
    return stamped.map((t): Published => ({ tickId: t.tickId, symbol: t.symbol, sequence: t.sequence }))
  }
  const publish = (ticks: ReadonlyArray<Tick.Tick>) =>
    ticks.length === 0 ? Effect.succeed([]) : Effect.gen(() => publishSteps(ticks)).pipe(
      lock.withPermits(1),
      Effect.withSpan("ingest.publish", {
        // the tick ids let one order's trace be followed back to its tick (a decision span
        // names its tick); huge batches (a max-speed replay, a backlog) are only counted
        attributes: {
          ticks: ticks.length,
          ...(ticks.length <= maxListedTicks ? { "tick.id": ticks.map((t) => t.tickId).join(",") } : {})
        },
        captureStackTrace: false
      })
    )

  return TickPublisher.of({ topic, validate, validateAll, publish })
})

export const layer = Layer.effect(TickPublisher, make)
