// Handler semantics shared by both implementations, so they cannot drift apart:
// success -> mark processed; PoisonMessage -> dead letter, then mark processed;
// anything else (failure or defect) -> log, back off, try again. Never skipped.
import * as Traceparent from "@trading/platform/Traceparent"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Tracer from "effect/Tracer"
import type { BusError } from "../BusError.js"
import { PoisonMessage } from "../BusError.js"
import type { BatchHandler, ConsumeOptions, Handler } from "../MessageBus.js"
import type { ConsumedRecord } from "../Record.js"

export interface DeliveryContext {
  readonly group: string
  readonly deadLetter: (record: ConsumedRecord, poison: PoisonMessage) => Effect.Effect<void, BusError>
  /** Everything up to and including `record` is done: commit (embedded) or resolve (Kafka). */
  readonly processed: (record: ConsumedRecord) => Effect.Effect<void>
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly firstRetryDelay: Duration.Duration
  /** Checked between records: a stopping consumer finishes the record in hand, then yields. */
  readonly stopping: () => boolean
}

export const defaults = {
  concurrency: 3,
  maxBatchSize: 1000,
  retryInitial: Duration.millis(100),
  retryMax: Duration.seconds(10),
  drainTimeout: Duration.seconds(10)
} as const

export const firstRetryDelay = (options: ConsumeOptions): Duration.Duration =>
  Duration.decode(options.retryInitial ?? defaults.retryInitial)

/** Exponential backoff capped at `retryMax`, forever: a failing record blocks its partition, it is never dropped. */
export const retrySchedule = (options: ConsumeOptions): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential(options.retryInitial ?? defaults.retryInitial).pipe(
    Schedule.union(Schedule.spaced(options.retryMax ?? defaults.retryMax))
  )

type Outcome = { readonly _tag: "Done" } | { readonly _tag: "Poison"; readonly poison: PoisonMessage }
const done: Outcome = { _tag: "Done" }

const recordAttributes = (record: ConsumedRecord, group: string) => ({
  "messaging.destination": record.topic,
  "messaging.kafka.partition": record.partition,
  "messaging.kafka.offset": record.offset,
  "messaging.kafka.consumer_group": group
})

/**
 * Runs `attempt` until it succeeds or declares poison. `acceptPoison` rejects poison that
 * cannot be attributed (a batch handler naming an offset outside its batch): that is a
 * handler bug, retried and logged like any failure.
 */
const untilSettled = <E, R>(
  attempt: Effect.Effect<void, E | PoisonMessage, R>,
  ctx: DeliveryContext,
  where: Record<string, unknown>,
  acceptPoison: (poison: PoisonMessage) => boolean
): Effect.Effect<Outcome, never, R> => {
  const once: Effect.Effect<Outcome, Cause.Cause<unknown>, R> = attempt.pipe(
    Effect.as(done),
    Effect.sandbox,
    Effect.catchAll((cause): Effect.Effect<Outcome, Cause.Cause<unknown>> => {
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure) && failure.value instanceof PoisonMessage && acceptPoison(failure.value)) {
        return Effect.succeed({ _tag: "Poison", poison: failure.value })
      }
      return Effect.fail(cause)
    }),
    Effect.tapError((cause) =>
      Cause.isInterruptedOnly(cause) ?
        Effect.void :
        Effect.logWarning("bus handler failed; retrying after backoff", cause).pipe(
          Effect.annotateLogs(where)
        )
    )
  )
  // an interruption is shutdown or revocation: stop, do not retry
  const retrying = (cause: Cause.Cause<unknown>) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.fail(cause)
      : Effect.retry(once, { schedule: ctx.retry, while: (c) => !Cause.isInterruptedOnly(c) }).pipe(
        Effect.delay(ctx.firstRetryDelay)
      )
  // the retry machinery is built only after a failure: the happy path stays cheap
  return once.pipe(
    Effect.catchAll((cause) => Effect.unsandbox(retrying(cause))),
    Effect.orDie
  )
}

const deadLetterUntilDone = (record: ConsumedRecord, poison: PoisonMessage, ctx: DeliveryContext) =>
  ctx.deadLetter(record, poison).pipe(
    Effect.tapError((error) => Effect.logWarning("dead-letter publish failed; retrying", error)),
    Effect.retry(ctx.retry),
    Effect.tap(() =>
      Effect.logWarning("record dead-lettered").pipe(
        Effect.annotateLogs({ ...recordAttributes(record, ctx.group), reason: poison.reason })
      )
    ),
    Effect.orDie // the schedule never ends, so this never fires
  )

// The steps of a delivery are generator functions made once, given the batch: one made anew
// per batch would keep the batch's records through scavenges until a full collection (ADR 0093).
function* deliverEachSteps<E, R>(
  records: ReadonlyArray<ConsumedRecord>,
  handler: Handler<E, R>,
  ctx: DeliveryContext
) {
  for (const record of records) {
    if (ctx.stopping()) return
    const attributes = recordAttributes(record, ctx.group)
    const parent = Traceparent.parse(record.headers[Traceparent.headerName])
    const attempt = handler(record).pipe(
      Effect.withSpan("bus.handle", {
        kind: "consumer",
        attributes,
        parent: Option.getOrUndefined(parent),
        captureStackTrace: false
      })
    )
    const outcome = yield* untilSettled(attempt, ctx, attributes, () => true)
    if (outcome._tag === "Poison") yield* deadLetterUntilDone(record, outcome.poison, ctx)
    yield* ctx.processed(record)
  }
}

/** One handler call per record, in order; stops early (between records) when the consumer stops. */
export const deliverEach = <E, R>(
  records: ReadonlyArray<ConsumedRecord>,
  handler: Handler<E, R>,
  ctx: DeliveryContext
): Effect.Effect<void, never, R> => Effect.gen(() => deliverEachSteps(records, handler, ctx))

const maxLinks = 32

function* deliverBatchSteps<E, R>(
  topic: string,
  partition: number,
  records: ReadonlyArray<ConsumedRecord>,
  handler: BatchHandler<E, R>,
  ctx: DeliveryContext
) {
  if (records.length === 0) return
  const first = records[0]!
  const last = records[records.length - 1]!
  // a batch mixes traces: link them instead of picking one parent
  // (records of one publish share its traceparent: each run of equal values is parsed once)
  const links: Array<Tracer.SpanLink> = []
  let previous: string | undefined
  for (const record of records) {
    if (links.length >= maxLinks) break
    const value = record.headers[Traceparent.headerName]
    if (value === previous) continue
    previous = value
    const parent = Traceparent.parse(value)
    if (Option.isSome(parent)) links.push({ _tag: "SpanLink", span: parent.value, attributes: {} })
  }
  const where = {
    "messaging.destination": topic,
    "messaging.kafka.partition": partition,
    "messaging.kafka.first_offset": first.offset,
    "messaging.kafka.last_offset": last.offset,
    "messaging.kafka.consumer_group": ctx.group,
    "messaging.batch.message_count": records.length
  }
  const indexOf = (poison: PoisonMessage) =>
    records.length === 1 && poison.offset === undefined ? 0 : records.findIndex((r) => r.offset === poison.offset)
  const attempt = handler({ topic, partition, records }).pipe(
    Effect.withSpan("bus.handleBatch", { kind: "consumer", attributes: where, links, captureStackTrace: false })
  )
  const outcome = yield* untilSettled(attempt, ctx, where, (poison) => indexOf(poison) >= 0)
  if (outcome._tag === "Done") {
    yield* ctx.processed(last)
    return
  }
  const index = indexOf(outcome.poison)
  yield* deliverBatch(topic, partition, records.slice(0, index), handler, ctx)
  yield* deadLetterUntilDone(records[index]!, outcome.poison, ctx)
  yield* ctx.processed(records[index]!)
  yield* deliverBatch(topic, partition, records.slice(index + 1), handler, ctx)
}

/**
 * One handler call for the whole batch. Poison at offset X splits it: the records before X
 * go to the handler again (its transaction was rolled back), X is dead-lettered, the rest follow.
 */
export const deliverBatch = <E, R>(
  topic: string,
  partition: number,
  records: ReadonlyArray<ConsumedRecord>,
  handler: BatchHandler<E, R>,
  ctx: DeliveryContext
): Effect.Effect<void, never, R> => Effect.gen(() => deliverBatchSteps(topic, partition, records, handler, ctx))
