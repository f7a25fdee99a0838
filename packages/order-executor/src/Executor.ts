// The order-executor's one path for a command, whether it arrives from Kafka or gRPC:
// validate (domain rules + risk limits) -> record in the registry (first writer wins) ->
// write the canonical outcome to the outbox, in the same SQLite transaction as the consumed
// position. Offsets are committed by the bus only after `handleBatch` returns, i.e. after
// that transaction (ADR 0080).
import type { SqlError } from "@effect/sql/SqlError"
import { type BusError, MessageBus, PoisonMessage, type RecordBatch } from "@trading/bus"
import type { ConsumedRecord } from "@trading/bus"
import { Execution, OrderCommand, OrderEvent, type OrderRecord, type RiskLimits } from "@trading/domain"
import { Metrics, Traceparent } from "@trading/platform"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { OrderRegistry, type OrderRegistryApi, type RegistryUnavailable } from "./OrderRegistry.js"
import { Outbox, type OutboxMessage } from "./outbox/Outbox.js"
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
  /** GetOrder: the event of a recorded order, from the outbox (published or not). */
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

export const make = (limits: RiskLimits.RiskLimits, names: TopicNames = defaultNames) =>
  Effect.gen(function*() {
    const registry = yield* OrderRegistry
    const outbox = yield* Outbox
    const bus = yield* MessageBus

    /** Validates, records and writes a batch; `positions` are stored in the same transaction. */
    const execute = (
      items: ReadonlyArray<Item>,
      positions: ReadonlyArray<{ topic: string; partition: number; nextOffset: string }>
    ) =>
      Effect.gen(function*() {
        const proposed: Array<OrderRecord.OrderRecord> = items.map((i) => Execution.outcome(i.command, limits))
        const answers = yield* registry.record(proposed)
        const results: Array<Result> = []
        const messages: Array<OutboxMessage> = []
        for (let i = 0; i < items.length; i++) {
          const item = items[i]!
          const answer = answers[i]!
          if (answer.tooOld) {
            results.push({ _tag: "TooOld" })
            continue
          }
          const event = Execution.toEvent(item.command, answer)
          // a span per order, child of the command's trace: the event carries it onward
          const traceparent = yield* Traceparent.current.pipe(
            Effect.withSpan("executor.order", {
              attributes: { "order.id": event.orderId, "order.status": event.status, "order.created": answer.created }
            }),
            Traceparent.withRemoteParent(item.traceparent)
          )
          messages.push({
            eventId: event.eventId,
            orderId: event.orderId,
            topic: names.eventsTopic,
            key: event.orderId,
            payload: OrderEvent.toBytes(event),
            headers: Option.match(traceparent, { onNone: () => ({}), onSome: (t) => ({ [Traceparent.headerName]: t }) })
          })
          results.push({ _tag: "Written", event, created: answer.created })
        }
        const now = yield* Clock.currentTimeMillis
        const inserted = yield* outbox.record(messages, positions, now)
        yield* Metric.incrementBy(outcomes, inserted)
        return results
      })

    const positionOf = (topic: string, partition: number) =>
      Effect.map(outbox.positions(topic), (ps) => {
        const found = ps.find((p) => p.partition === partition)
        return found === undefined ? -1 : Number(found.nextOffset)
      })

    const handleBatch = (batch: RecordBatch) =>
      Effect.gen(function*() {
        // records below the stored position were executed and written before a crash that
        // came between the outbox transaction and the offset commit: skip them (ADR 0080)
        const stored = yield* positionOf(batch.topic, batch.partition)
        const fresh = batch.records.filter((r) => r.offset >= stored)
        if (fresh.length === 0) return
        const items: Array<Item> = []
        for (const record of fresh) {
          const decoded = OrderCommand.fromBytes(record.value)
          if (Either.isLeft(decoded)) {
            // the bus re-delivers the records before it, then dead-letters this one
            yield* Metric.increment(deadLettered)
            return yield* Effect.fail(PoisonMessage.fromError(decoded.left, record.offset))
          }
          items.push({ command: decoded.right, traceparent: record.headers[Traceparent.headerName] })
        }
        const last = fresh[fresh.length - 1]!
        const results = yield* execute(items, [
          { topic: batch.topic, partition: batch.partition, nextOffset: String(last.offset + 1) }
        ])
        // too_old: the registry cannot know whether it executed; never execute, dead-letter
        yield* Effect.forEach(results, (result, i) =>
          result._tag === "TooOld"
            ? deadLetterTooOld(fresh[i]!, items[i]!.command.orderId)
            : Effect.void, { discard: true })
      }).pipe(
        Metrics.time(batchSeconds),
        Effect.withSpan("executor.batch", {
          attributes: { partition: batch.partition, records: batch.records.length }
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

    const submit = (command: OrderCommand.OrderCommand) =>
      Effect.gen(function*() {
        const [result] = yield* execute([{ command, traceparent: undefined }], [])
        if (result!._tag === "TooOld") return yield* new OrderTooOld({ orderId: command.orderId })
        return { event: result!.event, duplicate: !result!.created }
      }).pipe(Effect.withSpan("executor.submit", { attributes: { "order.id": command.orderId } }))

    const find = (orderId: string) =>
      Effect.map(outbox.findByOrderId(orderId), (row) =>
        Option.flatMap(row, (m) => Option.getRight(OrderEvent.fromBytes(m.payload))))

    return Executor.of({ handleBatch, submit, find, registry })
  })

export const layer = (limits: RiskLimits.RiskLimits, names?: TopicNames) => Layer.effect(Executor, make(limits, names))
