// The executor on real SQLite files, the embedded bus (in-process, same semantics as Kafka)
// and the in-memory registry double; SubmitOrder through a real loopback gRPC server.
import { describe, expect, it } from "@effect/vitest"
import { BusError, type ConsumedRecord, DeadLetter, EmbeddedBus, MessageBus, type RecordBatch } from "@trading/bus"
import { OrderCommand, OrderEvent } from "@trading/domain"
import { GrpcClient, GrpcServer, Health, ServerConfig } from "@trading/platform"
import { OrderExecutorServiceService } from "@trading/proto/gen/trading/v1/order_executor"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { join } from "node:path"
import * as ExecutorModule from "./Executor.js"
import { Executor } from "./Executor.js"
import * as InMemoryRegistry from "./InMemoryRegistry.js"
import { collect, command, settings, takeN, tempDir } from "./internal/testkit.js"
import * as OrderExecutorService from "./OrderExecutorService.js"
import * as OrderGrpc from "./OrderGrpc.js"
import { Outbox } from "./outbox/Outbox.js"
import * as OutboxRelay from "./OutboxRelay.js"
import * as Topics from "./Topics.js"

const platform = Health.layer.pipe(Layer.provideMerge(ServerConfig.ServerConfig.layerTest()))

/** The whole executor (consumer, relay, health) on a fresh SQLite file and embedded bus. */
const running = (dbPath: string) =>
  OrderExecutorService.core(settings(dbPath)).pipe(
    Layer.provideMerge(InMemoryRegistry.layerTestDouble()),
    Layer.provideMerge(EmbeddedBus.layer),
    Layer.provideMerge(platform)
  )

/** Executor + outbox only (no consumer, no relay): the test drives batches by hand. */
const parts = (dbPath: string) =>
  ExecutorModule.layer(settings(dbPath).limits).pipe(
    Layer.provideMerge(OrderExecutorService.outboxLayer(dbPath)),
    Layer.provideMerge(InMemoryRegistry.layerTestDouble()),
    Layer.provideMerge(
      Layer.effectDiscard(Effect.flatMap(MessageBus, (bus) => bus.ensureTopics(Topics.specs(settings(dbPath)))))
    ),
    Layer.provideMerge(EmbeddedBus.layer),
    Layer.provideMerge(platform)
  )

/** `parts` with a registry that keeps one order, and a bus whose dead-letter produce fails when asked. */
const partsKeepingOne = (dbPath: string, deadLetterFails: boolean) =>
  ExecutorModule.layer(settings(dbPath).limits).pipe(
    Layer.provideMerge(OrderExecutorService.outboxLayer(dbPath)),
    Layer.provideMerge(InMemoryRegistry.layerTestDouble({ maxOrders: 1, maxAgeMs: 86_400_000 })),
    Layer.provideMerge(
      deadLetterFails
        ? Layer.effect(
          MessageBus,
          Effect.map(MessageBus, (bus) => ({
            ...bus,
            deadLetter: () => Effect.fail(new BusError({ op: "produce", message: "broker unavailable (test)" }))
          }))
        )
        : Layer.empty
    ),
    Layer.provideMerge(
      Layer.effectDiscard(Effect.flatMap(MessageBus, (bus) => bus.ensureTopics(Topics.specs(settings(dbPath)))))
    ),
    Layer.provideMerge(EmbeddedBus.layer),
    Layer.provideMerge(platform)
  )

const produceCommand = (c: OrderCommand.OrderCommand, headers: Record<string, string> = {}) =>
  Effect.flatMap(
    MessageBus,
    (bus) => bus.produce({ topic: Topics.commandsTopic, key: c.orderId, value: OrderCommand.toBytes(c), headers })
  )

/** Polls (without spinning: the bus's fibers must get to run) until the outbox is empty. */
const drained = Effect.flatMap(Outbox, (outbox) =>
  outbox.lag.pipe(
    Effect.repeat({ until: (l) => l.pending === 0, schedule: Schedule.spaced("10 millis") }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("outbox did not drain") })
  ))

const eventOf = (r: ConsumedRecord) => Either.getOrThrow(OrderEvent.fromBytes(r.value))

const record = (offset: number, value: Uint8Array): ConsumedRecord => ({
  topic: Topics.commandsTopic,
  partition: 0,
  offset,
  key: null,
  value,
  headers: {},
  timestamp: 0
})

const batchOf = (...records: ReadonlyArray<ConsumedRecord>): RecordBatch => ({
  topic: Topics.commandsTopic,
  partition: 0,
  records
})

describe("Executor (real SQLite, embedded bus)", () => {
  it.scopedLive("executes a valid command: one EXECUTED event keyed by order id, with a traceparent", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const events = yield* collect(Topics.eventsTopic)
        const c = command(1)
        yield* produceCommand(c)
        const [r] = yield* takeN(events, 1)
        const event = eventOf(r!)
        expect(new TextDecoder().decode(r!.key!)).toBe(c.orderId)
        expect(event).toMatchObject({ orderId: c.orderId, status: "EXECUTED", filledQuantity: 10 })
        expect(r!.headers["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
      }).pipe(Effect.provide(running(join(dir, "outbox.db"))))
    }))

  it.scopedLive("turns an invalid command into a REJECTED event with the reason", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const events = yield* collect(Topics.eventsTopic)
        yield* produceCommand(command(2, { quantity: -3 }))
        yield* produceCommand(command(3, { side: "UNSPECIFIED" }))
        const got = (yield* takeN(events, 2)).map(eventOf).sort((a, b) => a.quantity - b.quantity)
        expect(got.map((e) => [e.status, e.reason])).toEqual([
          ["REJECTED", expect.stringMatching(/^quantity_positive: quantity/)],
          ["REJECTED", expect.stringMatching(/^side_specified: side/)]
        ])
        expect(got.every((e) => e.filledQuantity === 0)).toBe(true)
      }).pipe(Effect.provide(running(join(dir, "outbox.db"))))
    }))

  it.scopedLive("dead-letters an undecodable record with the reason and keeps flowing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const events = yield* collect(Topics.eventsTopic)
        const dlq = yield* collect(DeadLetter.topicFor(Topics.commandsTopic))
        const bus = yield* MessageBus
        // same key as the valid command after it: same partition, so the order is fixed
        const c = command(4)
        yield* bus.produce({ topic: Topics.commandsTopic, key: c.orderId, value: new Uint8Array([0xff, 0xff, 0x07]) })
        yield* produceCommand(c)
        const [dead] = yield* takeN(dlq, 1)
        expect(dead!.value).toEqual(new Uint8Array([0xff, 0xff, 0x07]))
        expect(dead!.headers[DeadLetter.headerNames.reason]).toMatch(/not a protobuf trading\.v1\.OrderCommand/)
        expect(dead!.headers[DeadLetter.headerNames.errorTag]).toBe("MalformedPayload")
        expect(eventOf((yield* takeN(events, 1))[0]!).orderId).toBe(c.orderId)
      }).pipe(Effect.provide(running(join(dir, "outbox.db"))))
    }))

  it.scopedLive("a duplicated command gets the same outcome and exactly one event", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const events = yield* collect(Topics.eventsTopic)
        const c = command(5)
        yield* produceCommand(c)
        yield* produceCommand(c)
        // a retry under a new command id (e.g. a resubmission) still gets the first outcome
        yield* produceCommand({ ...c, commandId: "cmd-retry", quantity: 999 })
        const marker = command(6)
        yield* produceCommand(marker, {})
        const got = yield* takeN(events, 2)
        expect(got.map(eventOf).map((e) => e.orderId).sort()).toEqual([c.orderId, marker.orderId].sort())
        const outcome = got.map(eventOf).find((e) => e.orderId === c.orderId)!
        expect(outcome.filledQuantity).toBe(10)
        // everything consumed and relayed: no further event may show up
        yield* drained
        expect(yield* takeN(events, 1, "300 millis").pipe(Effect.flip)).toBeInstanceOf(Error)
      }).pipe(Effect.provide(running(join(dir, "outbox.db"))))
    }))
})

describe("Executor crash windows", () => {
  it.scopedLive("a command older than the registry's retention is dead-lettered with its reason, never executed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const executor = yield* Executor
        const outbox = yield* Outbox
        const dlq = yield* collect(DeadLetter.topicFor(Topics.commandsTopic))
        yield* executor.handleBatch(batchOf(record(0, OrderCommand.toBytes(command(1)))))
        // a newer order evicts the first (the registry keeps one); the first comes again
        yield* executor.handleBatch(batchOf(record(1, OrderCommand.toBytes(command(2)))))
        yield* executor.handleBatch(batchOf(record(2, OrderCommand.toBytes(command(1)))))
        const [dead] = yield* takeN(dlq, 1)
        expect(dead!.headers[DeadLetter.headerNames.errorTag]).toBe("OrderTooOld")
        expect(dead!.headers[DeadLetter.headerNames.reason]).toContain(command(1).orderId)
        expect((yield* outbox.pending(10)).length).toBe(2) // the two first executions only
        expect(yield* outbox.positions(Topics.commandsTopic)).toEqual([
          { topic: Topics.commandsTopic, partition: 0, nextOffset: "3" }
        ])
      }).pipe(Effect.provide(partsKeepingOne(join(dir, "outbox.db"), false)))
    }))

  it.scopedLive("a too_old dead letter that cannot be sent keeps the stored position before its record", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const executor = yield* Executor
        const outbox = yield* Outbox
        yield* executor.handleBatch(batchOf(record(0, OrderCommand.toBytes(command(1)))))
        yield* executor.handleBatch(batchOf(record(1, OrderCommand.toBytes(command(2)))))
        const failed = yield* Effect.exit(executor.handleBatch(batchOf(record(2, OrderCommand.toBytes(command(1))))))
        expect(failed._tag).toBe("Failure")
        // the batch is handled again after a restart or a retry: its dead letter is not lost
        expect(yield* outbox.positions(Topics.commandsTopic)).toEqual([
          { topic: Topics.commandsTopic, partition: 0, nextOffset: "2" }
        ])
      }).pipe(Effect.provide(partsKeepingOne(join(dir, "outbox.db"), true)))
    }))

  it.scopedLive("a batch redelivered after the outbox transaction (crash before the commit) adds no event", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const executor = yield* Executor
        const outbox = yield* Outbox
        const batch = batchOf(record(0, OrderCommand.toBytes(command(7))), record(1, OrderCommand.toBytes(command(8))))
        yield* executor.handleBatch(batch)
        // the process "dies" before Kafka commits: the same records come again
        yield* executor.handleBatch(batch)
        expect((yield* outbox.pending(10)).length).toBe(2)
        // relayed and pruned, then redelivered once more: still nothing new
        yield* OutboxRelay.publishOnce(10)
        expect(yield* outbox.prune({ retainPublishedMs: 0, keepPublished: 0 }, Date.now() + 1)).toBe(2)
        yield* executor.handleBatch(batch)
        expect(yield* outbox.lag).toMatchObject({ pending: 0 })
        expect(yield* outbox.positions(Topics.commandsTopic)).toEqual([
          { topic: Topics.commandsTopic, partition: 0, nextOffset: "2" }
        ])
      }).pipe(Effect.provide(parts(join(dir, "outbox.db"))))
    }))

  it.scopedLive("a replay of the same command at a new offset after its row was pruned publishes nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const executor = yield* Executor
        const outbox = yield* Outbox
        const bytes = OrderCommand.toBytes(command(9))
        yield* executor.handleBatch(batchOf(record(0, bytes)))
        yield* OutboxRelay.publishOnce(10)
        yield* outbox.prune({ retainPublishedMs: 0, keepPublished: 0 }, Date.now() + 1)
        // e.g. the stream-processor re-emitting identical commands after its own crash
        yield* executor.handleBatch(batchOf(record(5, bytes)))
        expect(yield* outbox.lag).toMatchObject({ pending: 0 })
      }).pipe(Effect.provide(parts(join(dir, "outbox.db"))))
    }))

  it.scopedLive("a registry record without an outbox row (crash after Raft, before SQLite) still yields its event", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const executor = yield* Executor
        const outbox = yield* Outbox
        const c = command(10)
        // the first attempt reached the registry only
        const [first] = yield* executor.registry.record([
          {
            ...command(10),
            status: "EXECUTED",
            reason: "",
            filledQuantity: 10,
            fillPriceMicros: 101_250_000,
            eventId: "evt-first-attempt",
            recordedAtUnixMs: c.createdAtUnixMs
          } as never
        ])
        expect(first!.created).toBe(true)
        yield* executor.handleBatch(batchOf(record(0, OrderCommand.toBytes(c))))
        const [row] = yield* outbox.pending(10)
        expect(row!.eventId).toBe("evt-first-attempt") // the canonical outcome, not a second one
      }).pipe(Effect.provide(parts(join(dir, "outbox.db"))))
    }))
})

describe("OutboxRelay recovery", () => {
  it.scopedLive("marks rows that were published before a crash instead of publishing them again", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const dbPath = join(dir, "outbox.db")
      yield* Effect.gen(function*() {
        const executor = yield* Executor
        const outbox = yield* Outbox
        const bus = yield* MessageBus
        yield* executor.handleBatch(batchOf(record(0, OrderCommand.toBytes(command(11)))))
        const [row] = yield* outbox.pending(10)
        // published, then the process died before marking the row
        yield* bus.produceBatch([{ topic: row!.topic, key: row!.key, value: row!.payload, headers: row!.headers }])
        const events = yield* collect(Topics.eventsTopic)
        // the relay starts: its scan finds the event and marks the row
        yield* Layer.build(OutboxRelay.layer(settings(dbPath)))
        yield* drained
        // a later row is published: anything re-sent would have come before it
        yield* executor.handleBatch(batchOf(record(1, OrderCommand.toBytes(command(12)))))
        const got = (yield* takeN(events, 2)).map(eventOf)
        expect(got.map((e) => e.orderId)).toEqual([command(11).orderId, command(12).orderId])
        expect(yield* takeN(events, 1, "300 millis").pipe(Effect.flip)).toBeInstanceOf(Error)
      }).pipe(Effect.scoped, Effect.provide(parts(dbPath)))
    }))
})

describe("SubmitOrder over loopback gRPC", () => {
  it.scopedLive("answers the same canonical outcome as the Kafka path, with duplicate set on a retry", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const events = yield* collect(Topics.eventsTopic)
        const { port } = yield* GrpcServer.GrpcServer
        const client = yield* GrpcClient.make(OrderExecutorServiceService, { address: `127.0.0.1:${port}` })
        // A via Kafka, then submitted over gRPC: the stored outcome comes back
        const a = command(20)
        yield* produceCommand(a)
        const viaKafka = eventOf((yield* takeN(events, 1))[0]!)
        const retried = yield* client.submitOrder({ command: OrderCommand.toProto(a) })
        expect(retried.duplicate).toBe(true)
        expect(Either.getOrThrow(OrderEvent.fromProto(retried.event!))).toEqual(viaKafka)
        // B via gRPC first: its event is published like any other
        const b = command(21, { quantity: 5000 })
        const submitted = yield* client.submitOrder({ command: OrderCommand.toProto(b) })
        expect(submitted.duplicate).toBe(false)
        const answered = Either.getOrThrow(OrderEvent.fromProto(submitted.event!))
        expect(answered.status).toBe("REJECTED")
        expect(answered.reason).toMatch(/^max_order_quantity/)
        expect(eventOf((yield* takeN(events, 1))[0]!)).toEqual(answered)
        // and B arriving later through Kafka adds no event
        yield* produceCommand(b)
        expect(yield* takeN(events, 1, "500 millis").pipe(Effect.flip)).toBeInstanceOf(Error)
        // GetOrder finds both; an unknown id is NOT_FOUND; a bad command is INVALID_ARGUMENT naming the field
        const found = yield* client.getOrder({ orderId: b.orderId })
        expect(Either.getOrThrow(OrderEvent.fromProto(found.event!))).toEqual(answered)
        const missing = yield* client.getOrder({ orderId: "ord-nope" }).pipe(Effect.flip)
        expect(missing.code).toBe(5)
        const bad = yield* client.submitOrder({ command: { ...OrderCommand.toProto(a), orderId: "" } }).pipe(
          Effect.flip
        )
        expect(bad.code).toBe(3)
        expect(bad.details).toMatch(/order_id/)
      }).pipe(
        Effect.provide(
          GrpcServer.layer(OrderGrpc.layer).pipe(Layer.provideMerge(running(join(dir, "outbox.db"))))
        )
      )
    }))

  it.scopedLive("GetOrder of an order recorded elsewhere explains that its event is not in this outbox", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const executor = yield* Executor
        const { port } = yield* GrpcServer.GrpcServer
        const client = yield* GrpcClient.make(OrderExecutorServiceService, { address: `127.0.0.1:${port}` })
        const c = command(30)
        yield* executor.registry.record([{
          orderId: c.orderId,
          eventId: "evt-x",
          commandId: c.commandId,
          status: "EXECUTED",
          reason: "",
          filledQuantity: 1,
          fillPriceMicros: 1,
          recordedAtUnixMs: c.createdAtUnixMs
        }])
        const error = yield* client.getOrder({ orderId: c.orderId }).pipe(Effect.flip)
        expect(error.code).toBe(5)
        expect(error.details).toMatch(/was recorded \(EXECUTED, registry index 1\)/)
        expect(Option.isNone(yield* executor.find(c.orderId))).toBe(true)
      }).pipe(Effect.provide(GrpcServer.layer(OrderGrpc.layer).pipe(Layer.provideMerge(parts(join(dir, "o.db"))))))
    }))
})
