// The whole service on the embedded bus with a real gRPC server on loopback and a real
// SQLite file: gRPC ProcessTick takes the Kafka path, GetSymbolState, poison to the DLQ.
import { expect, it } from "@effect/vitest"
import { DeadLetter, EmbeddedBus, MessageBus } from "@trading/bus"
import type { ConsumedRecord } from "@trading/bus"
import * as OrderCommand from "@trading/domain/OrderCommand"
import * as Tick from "@trading/domain/Tick"
import { GrpcClient, GrpcServer, GrpcStatus, Health, ServerConfig } from "@trading/platform"
import { Tick as ProtoTick } from "@trading/proto/gen/trading/v1/market"
import { StreamProcessorServiceService } from "@trading/proto/gen/trading/v1/stream_processor"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as TestTicks from "./internal/testTicks.js"
import { StreamProcessorLive } from "./StreamProcessorLive.js"

const platform = Layer.mergeAll(Health.layer, Logger.minimumLogLevel(LogLevel.Error)).pipe(
  Layer.provideMerge(ServerConfig.ServerConfig.layerTest())
)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "processor-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** The service on its own embedded bus and state file. */
const service = (stateFile: string) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      StreamProcessorLive.pipe(Layer.provideMerge(EmbeddedBus.layer), Layer.provideMerge(platform))
    ).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["PROCESSOR_STATE_FILE", stateFile]]))))
    const { port } = Context.get(context, GrpcServer.GrpcServer)
    const client = yield* GrpcClient.make(StreamProcessorServiceService, { address: `127.0.0.1:${port}` })
    return { bus: Context.get(context, MessageBus), client }
  })

const tail = (bus: MessageBus["Type"], topic: string) =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<ConsumedRecord>()
    yield* bus.consume({ group: `tail-${topic}`, topics: [topic] }, (record) => Queue.offer(queue, record))
    return queue
  })

const commandKey = (c: OrderCommand.OrderCommand) =>
  `${c.commandId}|${c.orderId}|${c.symbol}|${c.side}|${c.quantity}|${c.limitPriceMicros}|${c.sourceTickId}`

const decodeCommand = (record: ConsumedRecord) => Either.getOrThrow(OrderCommand.fromBytes(record.value))

it.live("ProcessTick goes through the Kafka path: same commands as ticks from the topic, same state", () =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const ticks = TestTicks.wave(["ACME", "GLOBEX"], 40)
    // via gRPC, one call at a time
    const viaGrpc = yield* service(join(dir, "grpc.sqlite"))
    const grpcTail = yield* tail(viaGrpc.bus, "orders.commands")
    const answered: Array<OrderCommand.OrderCommand> = []
    for (const tick of ticks) {
      const reply = yield* viaGrpc.client.processTick({ tick: Tick.toProto(tick) })
      answered.push(...reply.commands.map((c) => Either.getOrThrow(OrderCommand.fromProto(c))))
    }
    expect(answered.length).toBeGreaterThan(5)
    // what ProcessTick answered is exactly what went to orders.commands, keyed by order id
    const onTopic = [...yield* Queue.takeBetween(grpcTail, answered.length, answered.length)]
    for (const record of onTopic) expect(new TextDecoder().decode(record.key!)).toBe(decodeCommand(record).orderId)
    expect(onTopic.map(decodeCommand).map(commandKey).sort()).toEqual(answered.map(commandKey).sort())

    // via the ticks topic on another instance
    const viaKafka = yield* service(join(dir, "kafka.sqlite"))
    const kafkaTail = yield* tail(viaKafka.bus, "orders.commands")
    yield* viaKafka.bus.produceBatch(
      ticks.map((tick) => ({ topic: "market.ticks", key: tick.symbol, value: Tick.toBytes(tick) }))
    )
    const fromKafka = [...yield* Queue.takeBetween(kafkaTail, answered.length, answered.length)].map(decodeCommand)
    expect(fromKafka.map(commandKey).sort()).toEqual(answered.map(commandKey).sort())

    // and the same per-symbol state, reported by GetSymbolState. ProcessTick answers once its
    // tick's state is stored; a batch from the topic reaches the state when its save is
    // durable, which is after its commands were published (the save's fsync runs off the
    // event loop, ADR 0089): poll until the Kafka path's state holds all 40 ticks
    for (const symbol of ["ACME", "GLOBEX"]) {
      const a = yield* viaGrpc.client.getSymbolState({ symbol })
      const b = yield* viaKafka.client.getSymbolState({ symbol }).pipe(
        Effect.filterOrFail((state) => state.ticksSeen === 40),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeout("10 seconds")
      )
      expect(b).toEqual(a)
      expect(a.ticksSeen).toBe(40)
      const own = answered.filter((c) => c.symbol === symbol)
      expect(a.commandsEmitted).toBe(own.length)
      expect(a.position).toBe(own.reduce((p, c) => p + (c.side === "BUY" ? c.quantity : -c.quantity), 0))
      expect(a.lastPriceMicros).toBe(ticks.filter((t) => t.symbol === symbol).at(-1)!.priceMicros)
    }
    // a redelivered (stale) tick decides nothing
    const again = yield* viaGrpc.client.processTick({ tick: Tick.toProto(ticks[0]!) })
    expect(again.commands).toEqual([])
  }).pipe(Effect.scoped))

it.live("ProcessTick refuses a bad tick naming the field; GetSymbolState names a bad symbol or says NOT_FOUND", () =>
  Effect.gen(function*() {
    const { client } = yield* service(join(yield* tempDir, "s.sqlite"))
    const tick = TestTicks.wave(["ACME"], 1)[0]!
    const bad = yield* Effect.flip(client.processTick({ tick: { ...Tick.toProto(tick), priceMicros: 0 } }))
    expect(bad.code).toBe(GrpcStatus.Code.INVALID_ARGUMENT)
    expect(bad.details).toContain("tick.price_micros: must be > 0, got 0")
    expect(bad.metadata["invalid-fields"]).toBe("tick.price_micros")
    const version = yield* Effect.flip(client.processTick({ tick: { ...Tick.toProto(tick), schemaVersion: 0 } }))
    expect(version.metadata["invalid-fields"]).toBe("tick.schema_version")
    const symbol = yield* Effect.flip(client.getSymbolState({ symbol: "acme" }))
    expect([symbol.code, symbol.metadata["invalid-fields"]]).toEqual([GrpcStatus.Code.INVALID_ARGUMENT, "symbol"])
    const unknown = yield* Effect.flip(client.getSymbolState({ symbol: "NOPE" }))
    expect(unknown.code).toBe(GrpcStatus.Code.NOT_FOUND)
  }).pipe(Effect.scoped))

it.live("poison records go to the dead-letter topic with the reason; the ticks after them are processed", () =>
  Effect.gen(function*() {
    const { bus, client } = yield* service(join(yield* tempDir, "p.sqlite"))
    const dlq = yield* tail(bus, DeadLetter.topicFor("market.ticks"))
    const ticks = TestTicks.wave(["ACME"], 30)
    const invalid = ProtoTick.encode({ ...Tick.toProto(ticks[1]!), size: -3 }).finish()
    yield* bus.produceBatch([
      { topic: "market.ticks", key: "ACME", value: Tick.toBytes(ticks[0]!) },
      { topic: "market.ticks", key: "ACME", value: new Uint8Array([0xff, 0xff, 0xff, 0x07]) },
      { topic: "market.ticks", key: "ACME", value: invalid },
      { topic: "market.ticks", key: "GLOBEX", value: Tick.toBytes(ticks[2]!) }, // misrouted: key is not its symbol
      ...ticks.slice(3).map((tick) => ({ topic: "market.ticks", key: "ACME", value: Tick.toBytes(tick) }))
    ])
    const dead = [...yield* Queue.takeBetween(dlq, 3, 3)]
    const byTag = new Map(dead.map((d) => [d.headers[DeadLetter.headerNames.errorTag], d]))
    expect([...byTag.keys()].sort()).toEqual(["InvalidFields", "MalformedPayload", "MisroutedTick"])
    expect(byTag.get("InvalidFields")!.headers[DeadLetter.headerNames.reason]).toContain("size: must be > 0, got -3")
    expect(byTag.get("InvalidFields")!.value).toEqual(invalid) // the original bytes
    expect(byTag.get("MisroutedTick")!.headers[DeadLetter.headerNames.group]).toBe("stream-processor-v1")
    // the good ticks all went through (poll: the consumer works in the background)
    const state = yield* client.getSymbolState({ symbol: "ACME" }).pipe(
      Effect.filterOrFail((s) => s.ticksSeen === 28),
      Effect.retry(Schedule.spaced("20 millis")),
      Effect.timeout("10 seconds")
    )
    expect(state.ticksSeen).toBe(28)
  }).pipe(Effect.scoped))

it.live("each command continues the trace of the tick that decided it", () =>
  Effect.gen(function*() {
    const { bus } = yield* service(join(yield* tempDir, "t.sqlite"))
    const commands = yield* tail(bus, "orders.commands")
    const ticks = TestTicks.wave(["ACME"], 40)
    const traceOf = (i: number) => `00-${(i + 1).toString(16).padStart(32, "a")}-00f067aa0ba902b7-01`
    yield* bus.produceBatch(ticks.map((tick, i) => ({
      topic: "market.ticks",
      key: tick.symbol,
      value: Tick.toBytes(tick),
      headers: { traceparent: traceOf(i) }
    })))
    const first = yield* Queue.take(commands)
    const command = decodeCommand(first)
    const index = ticks.findIndex((t) => t.tickId === command.sourceTickId)
    const [, traceId, spanId] = first.headers.traceparent!.split("-")
    expect(traceId).toBe(traceOf(index).split("-")[1])
    expect(spanId).not.toBe("00f067aa0ba902b7") // a span of the processor, child of the tick's
  }).pipe(Effect.scoped))
