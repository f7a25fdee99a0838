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
//
// Steps 1 to 3 and the encoding of the commands are one synchronous pass per batch, with no
// Effect, allocation or span per tick beyond what the result needs (ADR 0073): at 10,000
// ticks/s every microsecond per tick is a percent of a core.
//
// Steps 4 and 5 are a group commit: the partitions' batches of one fetch arrive together, and
// one committer fiber takes every batch that is ready, produces all their commands in one
// request and stores all their states and offsets in one transaction, then releases their
// handlers. Each partition's state still moves only with the offsets it covers; a batch is
// applied to the state its handler saw, and a partition never has two batches in flight (the
// bus hands out one batch per partition at a time). See ADR 0075.
import type { SqlError } from "@effect/sql/SqlError"
import type { OutgoingRecord, RecordBatch } from "@trading/bus"
import { MessageBus, PoisonMessage } from "@trading/bus"
import type { BusError } from "@trading/bus"
import type * as OrderCommand from "@trading/domain/OrderCommand"
import * as Strategy from "@trading/domain/Strategy"
import * as Tick from "@trading/domain/Tick"
import { Metrics } from "@trading/platform"
import * as Traceparent from "@trading/platform/Traceparent"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Tracer from "effect/Tracer"
import { encodeCommands } from "./internal/CommandWire.js"
import { decodeTick, keyIsSymbol } from "./internal/TickWire.js"
import * as PartitionStep from "./PartitionStep.js"
import { ProcessorConfig } from "./ProcessorConfig.js"
import { StateStore } from "./StateStore.js"

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

/** A partition's committed state as the processor holds it (the symbol map is its own, see `adopt`). */
interface Held {
  nextOffset: number
  readonly symbols: Map<string, Strategy.SymbolState>
}

/** A decided batch waiting for the committer. */
interface Ready {
  readonly topic: string
  readonly partition: number
  readonly outgoing: ReadonlyArray<OutgoingRecord>
  readonly nextOffset: number
  readonly changed: ReadonlyMap<string, Strategy.SymbolState>
  readonly decisions: ReadonlyArray<PartitionStep.Decision>
  readonly done: Deferred.Deferred<void, BusError | SqlError>
}

/** The first record of the batch that is not a valid tick of its key's symbol, as poison. */
const poisonOf = (record: RecordBatch["records"][number], tick: Tick.Tick | undefined): PoisonMessage => {
  if (tick === undefined) {
    // the fast decoder declined: the domain's decoder names what is wrong
    const decoded = Tick.fromBytes(record.value)
    if (Either.isLeft(decoded)) return PoisonMessage.fromError(decoded.left, record.offset)
    tick = decoded.right
  }
  const key = record.key === null ? null : new TextDecoder().decode(record.key)
  return new PoisonMessage({
    reason: `record key ${JSON.stringify(key)} is not the tick's symbol ${tick.symbol}`,
    errorTag: "MisroutedTick",
    offset: record.offset
  })
}

/**
 * The parent of a decision's span: the remote span in the tick's `traceparent`, else the
 * batch's span. Parsed once per distinct value (a batch's ticks mostly share their publish's).
 */
const parentCache = (fallback: Option.Option<Tracer.AnySpan>) => {
  let lastValue: string | undefined
  let lastParent = fallback
  return (value: string | undefined): Option.Option<Tracer.AnySpan> => {
    if (value !== lastValue) {
      lastValue = value
      const parsed = Traceparent.parse(value)
      lastParent = Option.isSome(parsed) ? parsed : fallback
    }
    return lastParent
  }
}

export const make = Effect.gen(function*() {
  const bus = yield* MessageBus
  const store = yield* StateStore
  const { commandsTopic, strategy, ticksTopic } = yield* ProcessorConfig
  // Committed state per partition. Plain maps owned by this processor, changed only by
  // `adopt` after the store committed (atomic on the one JS thread): a Ref of immutable
  // maps would copy every symbol of a partition per batch, not just the changed ones.
  const held = new Map<number, Held>()
  for (const [partition, state] of yield* store.load(ticksTopic)) {
    held.set(partition, { nextOffset: state.nextOffset, symbols: new Map(state.symbols) })
  }
  const waiters = yield* Ref.make<ReadonlyMap<string, ReadonlyArray<Waiter>>>(new Map())
  yield* Effect.logInfo("processor state loaded").pipe(
    Effect.annotateLogs({
      topic: ticksTopic,
      positions: [...held].map(([p, s]) => `${p}:${s.nextOffset}`).join(",") || "none",
      strategy: Strategy.label(strategy)
    })
  )

  const adopt = (partition: number, nextOffset: number, changed: ReadonlyMap<string, Strategy.SymbolState>) => {
    const state = held.get(partition)
    if (state === undefined) {
      held.set(partition, { nextOffset, symbols: new Map(changed) })
      return
    }
    state.nextOffset = nextOffset
    for (const [symbol, symbolState] of changed) state.symbols.set(symbol, symbolState)
  }

  // The steps of each batch, commit and submit are generator functions made once and given
  // their values: one made anew per batch would keep the batch's ticks and commands through
  // scavenges until a full collection (ADR 0093).
  function* notifySteps(decisions: ReadonlyArray<PartitionStep.Decision>) {
    const pending = yield* Ref.get(waiters)
    if (pending.size === 0) return
    for (const decision of decisions) {
      for (const waiter of pending.get(decision.tick.tickId) ?? []) yield* Deferred.succeed(waiter, decision.commands)
    }
  }
  const notify = (decisions: ReadonlyArray<PartitionStep.Decision>) => Effect.gen(() => notifySteps(decisions))

  /** Steps 4 and 5 for every batch that is ready, then their handlers are released. */
  const ready = yield* Queue.unbounded<Ready>()
  function* saveSteps(batches: ReadonlyArray<Ready>) {
    for (const topic of new Set(batches.map((b) => b.topic))) {
      yield* store.save(
        topic,
        batches.filter((b) => b.topic === topic).map((b) => ({
          partition: b.partition,
          nextOffset: b.nextOffset,
          changed: b.changed.values()
        }))
      )
    }
    yield* Effect.sync(() => {
      for (const b of batches) adopt(b.partition, b.nextOffset, b.changed)
    })
  }
  function* commitSteps(batches: ReadonlyArray<Ready>) {
    const outgoing = batches.length === 1 ? batches[0]!.outgoing : batches.flatMap((b) => b.outgoing)
    yield* bus.produceBatch(outgoing)
    // the stored and the in-memory state move together (nothing interrupts between the two)
    yield* Effect.uninterruptible(Effect.gen(() => saveSteps(batches)))
    let applied = 0
    for (const b of batches) applied += b.decisions.length
    yield* Metric.incrementBy(ticksApplied, applied)
    yield* Metric.incrementBy(commandsProduced, outgoing.length)
    for (const b of batches) yield* notify(b.decisions)
  }
  const commit = (batches: ReadonlyArray<Ready>) =>
    Effect.gen(() => commitSteps(batches)).pipe(
      Effect.withSpan("processor.commit", { attributes: { batches: batches.length }, captureStackTrace: false })
    )
  yield* Effect.gen(function*() {
    const first = yield* Queue.take(ready)
    // let the other partitions' handlers of the same fetch reach the queue too
    yield* Effect.yieldNow()
    const batches = [first, ...(yield* Queue.takeAll(ready))]
    // every handler learns the outcome, interruption of the committer included
    yield* commit(batches).pipe(
      Effect.onExit((exit) => Effect.forEach(batches, (b) => Deferred.done(b.done, exit), { discard: true })),
      Effect.catchAllCause(() => Effect.void)
    )
  }).pipe(Effect.forever, Effect.forkScoped)

  function* handleBatchSteps(batch: RecordBatch) {
    const current = held.get(batch.partition)
    const records = batch.records
    const first = PartitionStep.firstUnseen(current, records)
    if (first > 0) yield* Metric.incrementBy(ticksSkipped, first)
    if (first === records.length) return
    const ticks: Array<PartitionStep.OffsetTick> = new Array(records.length - first)
    for (let i = first; i < records.length; i++) {
      const record = records[i]!
      // no clock here: a decision must not depend on when it is (re)made
      const tick = decodeTick(record.value) ?? Either.getOrUndefined(Tick.fromBytes(record.value))
      // state is per symbol within a partition: a tick outside its symbol's partition is misrouted
      if (tick === undefined || !keyIsSymbol(record.key, tick.symbol)) return yield* poisonOf(record, tick)
      ticks[i - first] = { offset: record.offset, tick }
    }
    const result = PartitionStep.apply(current, ticks, strategy)

    // Each command continues its tick's trace through a `processor.decide` span, child of
    // the tick's (remote) span. The spans are made with the tracer directly: they have no
    // work of their own to wrap, and an Effect per decision would cost more than the decision.
    const tracer = yield* Effect.tracer
    const clock = yield* Effect.clock
    const context = yield* Effect.context<never>()
    const parentOf = parentCache(yield* Effect.option(Effect.currentSpan))
    const decided: Array<OrderCommand.OrderCommand> = []
    const traces: Array<string> = []
    for (let i = 0; i < result.decisions.length; i++) {
      const decision = result.decisions[i]!
      if (decision.commands.length === 0) continue
      const now = clock.unsafeCurrentTimeNanos()
      const parent = parentOf(records[first + i]!.headers[Traceparent.headerName])
      const span = tracer.span("processor.decide", parent, context, [], now, "internal")
      span.attribute("tick.id", decision.tick.tickId)
      span.attribute("order.id", decision.commands.map((c) => c.orderId).join(","))
      span.attribute("symbol", decision.tick.symbol)
      span.end(now, Exit.void)
      const traceparent = Traceparent.format(span)
      for (const command of decision.commands) {
        decided.push(command)
        traces.push(traceparent)
      }
    }
    const values = encodeCommands(decided)
    const outgoing: Array<OutgoingRecord> = new Array(decided.length)
    for (let i = 0; i < decided.length; i++) {
      outgoing[i] = {
        topic: commandsTopic,
        key: decided[i]!.orderId,
        value: values[i]!,
        headers: { [Traceparent.headerName]: traces[i]! }
      }
    }
    const done = yield* Deferred.make<void, BusError | SqlError>()
    yield* Queue.offer(ready, {
      topic: batch.topic,
      partition: batch.partition,
      outgoing,
      nextOffset: result.nextOffset,
      changed: result.changed,
      decisions: result.decisions,
      done
    })
    yield* Deferred.await(done)
  }
  const handleBatch = (batch: RecordBatch) =>
    Effect.gen(() => handleBatchSteps(batch)).pipe(
      Effect.withSpan("processor.batch", {
        attributes: { partition: batch.partition, records: batch.records.length },
        captureStackTrace: false
      })
    )

  function* submitSteps(tick: Tick.Tick) {
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
  }
  const submit = (tick: Tick.Tick) => Effect.gen(() => submitSteps(tick)).pipe(Effect.withSpan("processor.submit"))

  const symbolState = (symbol: string) =>
    Effect.sync(() => {
      for (const state of held.values()) {
        const found = state.symbols.get(symbol)
        if (found !== undefined) return Option.some(found)
      }
      return Option.none<Strategy.SymbolState>()
    })

  const positions = Effect.sync(() =>
    new Map([...held].map(([p, s]) => [p, s.nextOffset])) as ReadonlyMap<number, number>
  )

  return TickProcessor.of({ ticksTopic, commandsTopic, strategy, handleBatch, submit, symbolState, positions })
})

export const layer = Layer.scoped(TickProcessor, make)
