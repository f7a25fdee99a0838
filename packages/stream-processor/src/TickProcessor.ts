// The processor's one path from ticks to commands, used by the Kafka consumer and, through
// the ticks topic, by gRPC ProcessTick. Per batch of one partition, in this order:
//
//   1. skip records below the partition's stored next offset (already in the state);
//   2. decode every record; the first undecodable one is poison (dead-lettered by the bus
//      with the reason) before anything was produced or stored;
//   3. run the strategy from the stored state (pure);
//   4. produce the commands to `orders.commands`, keyed by order id (acks from all replicas);
//   5. one SQLite transaction: the changed symbol states + the partition's next offset;
//   6. return, and the bus commits the Kafka offset.
//
// A crash between 4 and 5 replays the batch from the old state: the same commands again,
// ids included. Between 5 and 6 the replay is skipped by step 1. See ADR 0070.
import type { SqlError } from "@effect/sql/SqlError"
import type { OutgoingRecord, RecordBatch } from "@trading/bus"
import { MessageBus, PoisonMessage } from "@trading/bus"
import type { BusError } from "@trading/bus"
import * as OrderCommand from "@trading/domain/OrderCommand"
import * as Strategy from "@trading/domain/Strategy"
import * as Tick from "@trading/domain/Tick"
import { Metrics } from "@trading/platform"
import * as Traceparent from "@trading/platform/Traceparent"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as PartitionStep from "./PartitionStep.js"
import { ProcessorConfig } from "./ProcessorConfig.js"
import { type PartitionState, StateStore } from "./StateStore.js"

const ticksApplied = Metrics.counter("processor_ticks_total", "Ticks applied to the strategy")
const ticksSkipped = Metrics.counter(
  "processor_ticks_skipped_total",
  "Redelivered ticks already covered by the stored state"
)
const commandsProduced = Metrics.counter("processor_commands_total", "Order commands produced")

type Waiter = Deferred.Deferred<ReadonlyArray<OrderCommand.OrderCommand>>

export class TickProcessor extends Context.Tag("@trading/stream-processor/TickProcessor")<TickProcessor, {
  readonly ticksTopic: string
  readonly commandsTopic: string
  readonly strategy: Strategy.StrategyConfig
  /** The consumer's batch handler. */
  readonly handleBatch: (batch: RecordBatch) => Effect.Effect<void, PoisonMessage | BusError | SqlError>
  /**
   * Publishes `tick` to the ticks topic and waits until the consumer has applied it:
   * the commands it produced (empty for a tick that decided nothing or was stale).
   */
  readonly submit: (tick: Tick.Tick) => Effect.Effect<ReadonlyArray<OrderCommand.OrderCommand>, BusError>
  /** The current state of a symbol, if any tick of it was applied. */
  readonly symbolState: (symbol: string) => Effect.Effect<Option.Option<Strategy.SymbolState>>
  /** Stored next offsets by partition (what the state covers). */
  readonly positions: Effect.Effect<ReadonlyMap<number, number>>
}>() {}

export const make = Effect.gen(function*() {
  const bus = yield* MessageBus
  const store = yield* StateStore
  const { commandsTopic, strategy, ticksTopic } = yield* ProcessorConfig
  const partitions = yield* Ref.make<ReadonlyMap<number, PartitionState>>(yield* store.load(ticksTopic))
  const waiters = yield* Ref.make<ReadonlyMap<string, ReadonlyArray<Waiter>>>(new Map())
  const loaded = yield* Ref.get(partitions)
  yield* Effect.logInfo("processor state loaded").pipe(
    Effect.annotateLogs({
      topic: ticksTopic,
      positions: [...loaded].map(([p, s]) => `${p}:${s.nextOffset}`).join(",") || "none",
      strategy: Strategy.label(strategy)
    })
  )

  const notify = (decisions: ReadonlyArray<PartitionStep.Decision>) =>
    Effect.gen(function*() {
      const pending = yield* Ref.get(waiters)
      if (pending.size === 0) return
      for (const decision of decisions) {
        for (const waiter of pending.get(decision.tick.tickId) ?? []) yield* Deferred.succeed(waiter, decision.commands)
      }
    })

  const handleBatch = (batch: RecordBatch) =>
    Effect.gen(function*() {
      const current = (yield* Ref.get(partitions)).get(batch.partition)
      const records = PartitionStep.unseen(current, batch.records)
      if (records.length < batch.records.length) {
        yield* Metric.incrementBy(ticksSkipped, batch.records.length - records.length)
      }
      if (records.length === 0) return
      const ticks: Array<PartitionStep.OffsetTick> = []
      for (const record of records) {
        // no clock here: a decision must not depend on when it is (re)made
        const decoded = Tick.fromBytes(record.value)
        if (Either.isLeft(decoded)) return yield* PoisonMessage.fromError(decoded.left, record.offset)
        const key = record.key === null ? null : new TextDecoder().decode(record.key)
        if (key !== decoded.right.symbol) {
          // state is per symbol within a partition: a tick outside its symbol's partition is misrouted
          return yield* new PoisonMessage({
            reason: `record key ${JSON.stringify(key)} is not the tick's symbol ${decoded.right.symbol}`,
            errorTag: "MisroutedTick",
            offset: record.offset
          })
        }
        ticks.push({ offset: record.offset, tick: decoded.right })
      }
      const result = PartitionStep.apply(current, ticks, strategy)
      const traceOf = new Map(records.map((r) => [r.offset, r.headers[Traceparent.headerName]]))
      const outgoing: Array<OutgoingRecord> = []
      for (const decision of result.decisions) {
        if (decision.commands.length === 0) continue
        // a short span per decision, child of the tick's (remote) span: each order's trace
        // continues the tick's across processes, and the command carries this span onward
        const traceparent = yield* Traceparent.current.pipe(
          Effect.withSpan("processor.decide", {
            attributes: {
              "tick.id": decision.tick.tickId,
              "order.id": decision.commands.map((c) => c.orderId).join(","),
              symbol: decision.tick.symbol
            }
          }),
          Traceparent.withRemoteParent(traceOf.get(decision.offset))
        )
        for (const command of decision.commands) {
          outgoing.push({
            topic: commandsTopic,
            key: command.orderId,
            value: OrderCommand.toBytes(command),
            ...(Option.isSome(traceparent) ? { headers: { [Traceparent.headerName]: traceparent.value } } : {})
          })
        }
      }
      yield* bus.produceBatch(outgoing)
      // the stored and the in-memory state move together (a rebalance may interrupt the batch)
      yield* Effect.uninterruptible(
        Effect.zipRight(
          store.save(batch.topic, batch.partition, result.next.nextOffset, result.changed),
          Ref.update(partitions, (all) => new Map(all).set(batch.partition, result.next))
        )
      )
      yield* Metric.incrementBy(ticksApplied, ticks.length)
      yield* Metric.incrementBy(commandsProduced, outgoing.length)
      yield* notify(result.decisions)
    }).pipe(
      Effect.withSpan("processor.batch", {
        attributes: { partition: batch.partition, records: batch.records.length }
      })
    )

  const submit = (tick: Tick.Tick) =>
    Effect.gen(function*() {
      const waiter = yield* Deferred.make<ReadonlyArray<OrderCommand.OrderCommand>>()
      const remove = Ref.update(waiters, (all) => {
        const rest = (all.get(tick.tickId) ?? []).filter((w) => w !== waiter)
        const next = new Map(all)
        if (rest.length === 0) next.delete(tick.tickId)
        else next.set(tick.tickId, rest)
        return next
      })
      // registered before producing: the consumer may apply the tick before produce returns
      yield* Ref.update(waiters, (all) => new Map(all).set(tick.tickId, [...(all.get(tick.tickId) ?? []), waiter]))
      return yield* bus.produce({ topic: ticksTopic, key: tick.symbol, value: Tick.toBytes(tick) }).pipe(
        Effect.zipRight(Deferred.await(waiter)),
        Effect.ensuring(remove)
      )
    }).pipe(Effect.withSpan("processor.submit"))

  const symbolState = (symbol: string) =>
    Effect.map(Ref.get(partitions), (all) => {
      for (const state of all.values()) {
        const found = state.symbols.get(symbol)
        if (found !== undefined) return Option.some(found)
      }
      return Option.none<Strategy.SymbolState>()
    })

  const positions = Effect.map(
    Ref.get(partitions),
    (all) => new Map([...all].map(([p, s]) => [p, s.nextOffset])) as ReadonlyMap<number, number>
  )

  return TickProcessor.of({ ticksTopic, commandsTopic, strategy, handleBatch, submit, symbolState, positions })
})

export const layer = Layer.effect(TickProcessor, make)
