// The order-executor's one path for a command, whether it arrives from Kafka or gRPC:
// validate (domain rules + risk limits) -> record in the registry (first writer wins) ->
// write the canonical outcome to the outbox, in the same SQLite transaction as the consumed
// position. Offsets are committed by the bus only after `handleBatch` returns, i.e. after
// that transaction (ADR 0080).
import type { SqlError } from "@effect/sql/SqlError"
import { type BusError, MessageBus, PoisonMessage, type RecordBatch } from "@trading/bus"
import type { ConsumedRecord } from "@trading/bus"
import { Execution, type OrderCommand, OrderEvent, type OrderRecord, type RiskLimits } from "@trading/domain"
import { Metrics, Traceparent } from "@trading/platform"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as CommandWire from "./internal/commandWire.js"
import * as EventWire from "./internal/eventWire.js"
import * as OrderSpans from "./internal/orderSpans.js"
import { OrderRegistry, type OrderRegistryApi, type RegistryUnavailable } from "./OrderRegistry.js"
import { type ConsumedPosition, Outbox, type OutboxMessage } from "./outbox/Outbox.js"
import { commandsGroup, commandsTopic, eventsTopic, type TopicNames } from "./Topics.js"

const defaultNames: TopicNames = { commandsTopic, eventsTopic, group: commandsGroup }

/** The registry cannot tell whether this order was executed (it is older than its retention). */
export class OrderTooOld extends Data.TaggedError("OrderTooOld")<{ readonly orderId: string }> {
  override get message(): string {
    return `order ${this.orderId} is older than the registry's retention horizon: it may have been recorded and ` +
      `evicted, so it is not executed (too_old)`
  }
}

export interface Submitted {
  readonly event: OrderEvent.OrderEvent
  /** The order had been recorded before: the stored (canonical) outcome is returned. */
  readonly duplicate: boolean
}

export type ExecuteError = RegistryUnavailable | SqlError

export interface ExecutorApi {
  /** The batch handler of the `orders.commands` consumer. */
  readonly handleBatch: (batch: RecordBatch) => Effect.Effect<void, ExecuteError | BusError | PoisonMessage>
  /** SubmitOrder: the same path for one command. */
  readonly submit: (command: OrderCommand.OrderCommand) => Effect.Effect<Submitted, ExecuteError | OrderTooOld>
  /** GetOrder: the event of a recorded order, from the outbox (published or not). Asks the registry for its key first. */
  readonly find: (orderId: string) => Effect.Effect<Option.Option<OrderEvent.OrderEvent>, SqlError>
  /** The registry's canonical record, when the outbox no longer holds the event. */
  readonly registry: OrderRegistryApi
}

export class Executor extends Context.Tag("@trading/order-executor/Executor")<Executor, ExecutorApi>() {}

const outcomes = Metrics.counter("executor_outcomes_total", "canonical outcomes written to the outbox")
const deadLettered = Metrics.counter("executor_dead_letters_total", "commands sent to orders.commands.dlq")
const batchSeconds = Metrics.latency("executor_batch_seconds", "time to execute one batch of commands")

interface Item {
  readonly command: OrderCommand.OrderCommand
  /** The incoming trace context; the event carries a child of it. */
  readonly traceparent: string | undefined
}

type Result =
  | { readonly _tag: "Written"; readonly event: OrderEvent.OrderEvent; readonly created: boolean }
  | { readonly _tag: "TooOld" }

const tooOld: Result = { _tag: "TooOld" }
const noHeaders: Readonly<Record<string, string>> = {}

export const make = (limits: RiskLimits.RiskLimits, names: TopicNames = defaultNames) =>
  Effect.gen(function*() {
    const registry = yield* OrderRegistry
    const outbox = yield* Outbox
    const bus = yield* MessageBus
    const orderSpan = OrderSpans.maker("executor.order")

    // The steps of each call are generator functions made once, with the service, and given
    // the call's values: a generator function made anew per batch would keep the batch's
    // records and commands through scavenges until a full collection (ADR 0093).

    /**
     * Validates and records a batch: each item's result and the outbox rows to write. One
     * Effect for the whole batch: the per-order work below is plain synchronous code.
     */
    function* decideSteps(items: ReadonlyArray<Item>) {
      const proposed: Array<OrderRecord.OrderRecord> = items.map((i) => Execution.outcome(i.command, limits))
      const answers = yield* registry.record(proposed)
      // a span per order, child of the command's trace: the event carries it onward
      const span = yield* orderSpan
      const results: Array<Result> = []
      const messages: Array<OutboxMessage> = []
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!
        const answer = answers[i]!
        if (answer.tooOld) {
          results.push(tooOld)
          continue
        }
        const event = Execution.toEvent(item.command, answer)
        const traceparent = span(item.traceparent, event.orderId, event.status, answer.created)
        messages.push({
          registryIndex: event.registryIndex,
          eventId: event.eventId,
          orderId: event.orderId,
          topic: names.eventsTopic,
          key: event.orderId,
          payload: EventWire.encode(event),
          headers: traceparent === undefined ? noHeaders : { [Traceparent.headerName]: traceparent }
        })
        results.push({ _tag: "Written", event, created: answer.created })
      }
      return { results, messages }
    }
    const decide = (items: ReadonlyArray<Item>) => Effect.gen(() => decideSteps(items))

    /** Writes a batch's rows; `positions` are stored in the same transaction. */
    function* writeSteps(messages: ReadonlyArray<OutboxMessage>, positions: ReadonlyArray<ConsumedPosition>) {
      const now = yield* Clock.currentTimeMillis
      const inserted = yield* outbox.record(messages, positions, now)
      yield* Metric.incrementBy(outcomes, inserted)
    }
    const write = (messages: ReadonlyArray<OutboxMessage>, positions: ReadonlyArray<ConsumedPosition>) =>
      Effect.gen(() => writeSteps(messages, positions))

    function* handleBatchSteps(batch: RecordBatch) {
      // records below the stored position were executed and written before a crash that
      // came between the outbox transaction and the offset commit: skip them (ADR 0080)
      const stored = yield* outbox.nextOffset(batch.topic, batch.partition)
      const fresh: Array<ConsumedRecord> = []
      const items: Array<Item> = []
      for (const record of batch.records) {
        if (record.offset < stored) continue
        const decoded = CommandWire.decode(record.value)
        if (Either.isLeft(decoded)) {
          // the bus re-delivers the records before it, then dead-letters this one
          yield* Metric.increment(deadLettered)
          return yield* Effect.fail(PoisonMessage.fromError(decoded.left, record.offset))
        }
        fresh.push(record)
        items.push({ command: decoded.right, traceparent: record.headers[Traceparent.headerName] })
      }
      if (fresh.length === 0) return
      const last = fresh[fresh.length - 1]!
      const { messages, results } = yield* decide(items)
      // too_old: the registry cannot know whether it executed; never execute, dead-letter.
      // Before the transaction that moves the stored position past these records: a crash
      // (or a failed dead-letter produce) in between has the batch handled again and the
      // dead letter sent again, at least once; after it, the record would be skipped and
      // its dead letter lost.
      for (let i = 0; i < results.length; i++) {
        if (results[i]!._tag === "TooOld") yield* deadLetterTooOld(fresh[i]!, items[i]!.command.orderId)
      }
      yield* write(messages, [
        { topic: batch.topic, partition: batch.partition, nextOffset: String(last.offset + 1) }
      ])
    }
    const handleBatch = (batch: RecordBatch) =>
      Effect.gen(() => handleBatchSteps(batch)).pipe(
        Metrics.time(batchSeconds),
        Effect.withSpan("executor.batch", {
          attributes: { partition: batch.partition, records: batch.records.length },
          captureStackTrace: false
        })
      )

    const deadLetterTooOld = (record: ConsumedRecord, orderId: string) =>
      Effect.zipRight(
        Metric.increment(deadLettered),
        bus.deadLetter(
          record,
          new PoisonMessage({ reason: new OrderTooOld({ orderId }).message, errorTag: "OrderTooOld" }),
          names.group
        )
      )

    function* submitSteps(command: OrderCommand.OrderCommand) {
      const { messages, results: [result] } = yield* decide([{ command, traceparent: undefined }])
      if (result!._tag === "TooOld") return yield* new OrderTooOld({ orderId: command.orderId })
      yield* write(messages, [])
      return { event: result!.event, duplicate: !result!.created }
    }
    const submit = (command: OrderCommand.OrderCommand) =>
      Effect.gen(() => submitSteps(command)).pipe(
        Effect.withSpan("executor.submit", { attributes: { "order.id": command.orderId }, captureStackTrace: false })
      )

    // The registry knows the key of an order it holds (its canonical record's index and
    // event id): one index lookup. Orders it no longer holds (or while it cannot answer)
    // are looked for by order id alone.
    function* findSteps(orderId: string) {
      const recorded = yield* Effect.either(registry.read(orderId))
      const row = Either.isRight(recorded) && Option.isSome(recorded.right)
        ? yield* outbox.findByKey({
          registryIndex: recorded.right.value.index,
          eventId: recorded.right.value.record.eventId
        })
        : yield* outbox.findByOrderId(orderId)
      return Option.flatMap(row, (m) => Option.getRight(OrderEvent.fromBytes(m.payload)))
    }
    const find = (orderId: string) => Effect.gen(() => findSteps(orderId))

    return Executor.of({ handleBatch, submit, find, registry })
  })

export const layer = (limits: RiskLimits.RiskLimits, names?: TopicNames) => Layer.effect(Executor, make(limits, names))
