// market-ingestor -> stream-processor as real child processes on the real Kafka broker
// (KAFKA_BROKERS from the integration project's global setup). Each test uses its own
// topics and consumer group. The expected commands are computed with the pure domain
// strategy from the replayed file, so every assertion is exact.
import { describe, expect, it } from "@effect/vitest"
import { KafkaBus, MessageBus } from "@trading/bus"
import * as OrderCommand from "@trading/domain/OrderCommand"
import * as Strategy from "@trading/domain/Strategy"
import * as Tick from "@trading/domain/Tick"
import { GrpcClient } from "@trading/platform"
import type { ServiceName } from "@trading/platform/testing/ServiceProcess"
import { StreamProcessorServiceService } from "@trading/proto/gen/trading/v1/stream_processor"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as TestTicks from "../src/internal/testTicks.js"
import { type Service, startService } from "./processes.js"

const brokers = process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"
const SYMBOLS = ["ACME", "GLOBEX", "INITECH"]

const kafka = KafkaBus.layerWith({
  sessionTimeout: 6_000,
  rebalanceTimeout: 6_000,
  heartbeatInterval: 300,
  maxWaitTimeInMs: 200
})
  .pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Error)))

const unique = () => `it-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`

interface Setup {
  readonly id: string
  readonly dir: string
  readonly replayFile: string
  readonly ticks: ReadonlyArray<Tick.Tick>
  readonly expected: ReadonlyArray<OrderCommand.OrderCommand>
  readonly env: Record<string, string>
}

/** A replay file of `perSymbol` ticks per symbol, `spacingMs` apart, and the commands they must produce. */
const setup = (perSymbol: number, spacingMs: number): Setup => {
  const id = unique()
  const dir = mkdtempSync(join(tmpdir(), "pipeline-"))
  const ticks = TestTicks.wave(SYMBOLS, perSymbol, id).map((t, i) => ({
    ...t,
    observedAtUnixMs: TestTicks.BASE_TIME + Math.floor(i / SYMBOLS.length) * spacingMs
  }))
  const replayFile = join(dir, "ticks.jsonl")
  writeFileSync(replayFile, ticks.map((t) => Tick.toJsonText(t)).join("\n") + "\n")
  // the processor sees each symbol's ticks in file order: the ingestor's sequences rise in
  // it, as the test ticks' own sequences do
  const states = new Map<string, Strategy.SymbolState>()
  const expected: Array<OrderCommand.OrderCommand> = []
  for (const tick of ticks) {
    const [next, commands] = Strategy.step(
      states.get(tick.symbol) ?? Strategy.initial(tick.symbol),
      tick,
      Strategy.defaultConfig
    )
    states.set(tick.symbol, next)
    expected.push(...commands)
  }
  const env = {
    KAFKA_BROKERS: brokers,
    TICKS_TOPIC: `${id}.ticks`,
    COMMANDS_TOPIC: `${id}.commands`,
    PROCESSOR_GROUP: `${id}-processor`,
    PROCESSOR_STATE_FILE: join(dir, "state.sqlite"),
    KAFKA_SESSION_TIMEOUT_MS: "6000",
    INGEST_RATE: "0",
    INGEST_REPLAY_FILE: replayFile,
    INGEST_REPLAY_SPEED: "1"
  }
  return { id, dir, replayFile, ticks, expected, env }
}

const commandKey = (c: OrderCommand.OrderCommand) =>
  `${c.commandId}|${c.orderId}|${c.symbol}|${c.side}|${c.quantity}|${c.limitPriceMicros}|${c.createdAtUnixMs}|${c.sourceTickId}`

/** Reads the commands topic from the start until `expected` distinct command ids were seen. */
const collect = (topic: string, expected: number) =>
  Effect.gen(function*() {
    const bus = yield* MessageBus
    const queue = yield* Queue.unbounded<OrderCommand.OrderCommand>()
    yield* bus.consume({ group: `${topic}-reader`, topics: [topic] }, (record) =>
      Queue.offer(queue, Either.getOrThrow(OrderCommand.fromBytes(record.value))))
    const all: Array<OrderCommand.OrderCommand> = []
    const distinct = new Set<string>()
    while (distinct.size < expected) {
      const command = yield* Queue.take(queue)
      all.push(command)
      distinct.add(command.commandId)
    }
    return all
  }).pipe(Effect.scoped, Effect.timeout("90 seconds"))

const symbolStates = (processor: Service) =>
  Effect.gen(function*() {
    const listening = yield* Effect.promise(() => processor.waitFor("gRPC server listening"))
    const client = yield* GrpcClient.make(StreamProcessorServiceService, {
      address: `127.0.0.1:${listening.annotations.port as number}`
    })
    return yield* Effect.forEach(SYMBOLS, (symbol) => client.getSymbolState({ symbol }))
  }).pipe(Effect.scoped)

const started: Array<Service> = []
const start = (service: ServiceName, env: Record<string, string>) => {
  const child = startService(service, env)
  started.push(child)
  return child
}
const cleanup = Effect.promise(() => Promise.all(started.splice(0).map((s) => s.kill9())))

describe("ingestor -> processor on Kafka, as processes", () => {
  it.live("replayed ticks become exactly the strategy's commands, keyed by order id", () =>
    Effect.gen(function*() {
      const s = setup(60, 10)
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(s.dir, { recursive: true, force: true })))
      yield* Effect.addFinalizer(() => cleanup)
      const processor = start("stream-processor", s.env)
      yield* Effect.promise(() => processor.waitFor("service ready"))
      const ingestor = start("market-ingestor", s.env)
      yield* Effect.promise(() => ingestor.waitFor("replay finished"))
      const commands = yield* collect(`${s.id}.commands`, s.expected.length).pipe(Effect.provide(kafka))
      expect(s.expected.length).toBeGreaterThan(10)
      expect(new Set(commands.map(commandKey))).toEqual(new Set(s.expected.map(commandKey)))
      // polled: a batch's state is adopted once its save is durable, after its commands were
      // published (ADR 0089), and the ticks after the last command may still be in flight
      const states = yield* symbolStates(processor).pipe(
        Effect.filterOrFail((all) => all.every((st) => st.ticksSeen >= 60)),
        Effect.retry(Schedule.spaced("100 millis")),
        Effect.timeout("30 seconds")
      )
      expect(states.map((st) => st.ticksSeen)).toEqual([60, 60, 60])
      // health: the consumer worker runs and the broker check passes
      const httpPort = (yield* Effect.promise(() => processor.waitFor("HTTP server listening"))).annotations.port
      const health = yield* Effect.promise(() => fetch(`http://127.0.0.1:${httpPort as number}/healthz`))
      expect(health.status).toBe(200)
      const report = (yield* Effect.promise(() => health.json())) as {
        components: Array<{ name: string; state: string }>
        checks: Array<{ name: string; state: string }>
      }
      expect(report.components).toContainEqual(expect.objectContaining({ name: "tick-consumer", state: "running" }))
      expect(report.checks).toContainEqual(expect.objectContaining({ name: "processor-broker", state: "ok" }))
      // both stop gracefully
      expect(yield* Effect.promise(() => processor.stop())).toBe(0)
      expect(yield* Effect.promise(() => ingestor.stop())).toBe(0)
    }).pipe(Effect.scoped))

  it.live(
    "kill -9, then SIGTERM, of the processor mid-stream: the set of commands equals the uninterrupted one",
    () =>
      Effect.gen(function*() {
        const s = setup(200, 75) // about 15 s of ticks at the recorded pace
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(s.dir, { recursive: true, force: true })))
        yield* Effect.addFinalizer(() => cleanup)
        let processor = start("stream-processor", s.env)
        yield* Effect.promise(() => processor.waitFor("service ready"))
        const ingestor = start("market-ingestor", s.env)
        yield* Effect.promise(() => ingestor.waitFor("replay started"))
        for (let round = 0; round < 2; round++) {
          // let it work a little, then kill it without warning (round 0) or stop it gracefully (round 1)
          yield* Effect.sleep(`${800 + Math.floor(Math.random() * 800)} millis`)
          expect(ingestor.output()).not.toContain("replay finished") // still mid-stream
          if (round === 0) yield* Effect.promise(() => processor.kill9())
          else expect(yield* Effect.promise(() => processor.stop())).toBe(0) // graceful: drains, commits, leaves
          processor = start("stream-processor", s.env)
          // it resumes from the state it stored, not from scratch
          const loaded = yield* Effect.promise(() => processor.waitFor("processor state loaded"))
          expect(loaded.annotations.positions).not.toBe("none")
          yield* Effect.promise(() => processor.waitFor("service ready"))
        }
        const commands = yield* collect(`${s.id}.commands`, s.expected.length).pipe(Effect.provide(kafka))
        // at least once on the topic, but every copy identical to the uninterrupted run's command
        const expectedKeys = new Set(s.expected.map(commandKey))
        for (const command of commands) expect(expectedKeys.has(commandKey(command))).toBe(true)
        expect(new Set(commands.map(commandKey))).toEqual(expectedKeys)
        // no tick lost or applied twice: every symbol saw all of its ticks exactly once
        yield* Effect.promise(() => ingestor.waitFor("replay finished"))
        const states = yield* symbolStates(processor).pipe(
          Effect.filterOrFail((all) => all.every((st) => st.ticksSeen >= 200)),
          Effect.retry(Schedule.spaced("200 millis")),
          Effect.timeout("60 seconds")
        )
        expect(states.map((st) => st.ticksSeen)).toEqual([200, 200, 200])
      }).pipe(Effect.scoped),
    180_000
  )
})
