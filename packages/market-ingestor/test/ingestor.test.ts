// The market-ingestor as a real process on the real Kafka broker: synthetic and gRPC ticks
// land on its ticks topic keyed by symbol (Kafka's murmur2 partition), with rising
// per-symbol sequences; a bad gRPC tick is refused naming the field and never published;
// /healthz reports the feed worker and the broker check.
import { expect, it } from "@effect/vitest"
import { KafkaBus, MessageBus, Partitioner } from "@trading/bus"
import type { ConsumedRecord } from "@trading/bus"
import * as Tick from "@trading/domain/Tick"
import { GrpcClient, GrpcStatus } from "@trading/platform"
import { MarketIngestorServiceService } from "@trading/proto/gen/trading/v1/market_ingestor"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
// the process helper lives with the pipeline tests
import { startService } from "../../stream-processor/test/processes.js"

const kafka = KafkaBus.layerWith({
  sessionTimeout: 6_000,
  rebalanceTimeout: 6_000,
  heartbeatInterval: 300,
  maxWaitTimeInMs: 200
})
  .pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Error)))

it.live("synthetic and gRPC ticks reach Kafka keyed by symbol; a bad tick does not", () =>
  Effect.gen(function*() {
    const topic = `it-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}.ticks`
    const ingestor = startService("market-ingestor", {
      KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? "127.0.0.1:9092",
      TICKS_TOPIC: topic,
      INGEST_SYMBOLS: "ACME,GLOBEX,BRK.B",
      INGEST_RATE: "20",
      INGEST_SEED: "3"
    })
    yield* Effect.addFinalizer(() => Effect.promise(() => ingestor.kill9()))
    const grpcPort = (yield* Effect.promise(() => ingestor.waitFor("gRPC server listening"))).annotations.port as number
    const httpPort = (yield* Effect.promise(() => ingestor.waitFor("HTTP server listening"))).annotations.port as number
    yield* Effect.promise(() => ingestor.waitFor("service ready"))

    const client = yield* GrpcClient.make(MarketIngestorServiceService, { address: `127.0.0.1:${grpcPort}` })
    const tick = {
      schemaVersion: 1,
      tickId: "ext-ok",
      symbol: "ZZZ",
      priceMicros: 5_000_000,
      size: 3,
      observedAtUnixMs: Date.now(),
      sequence: 0,
      source: ""
    }
    const bad = yield* Effect.flip(client.ingestTick({ tick: { ...tick, tickId: "ext-bad", symbol: "zzz" } }))
    expect(bad.code).toBe(GrpcStatus.Code.INVALID_ARGUMENT)
    expect(bad.metadata["invalid-fields"]).toBe("tick.symbol")
    const ok = yield* client.ingestTick({ tick })

    const records = yield* Effect.gen(function*() {
      const bus = yield* MessageBus
      const queue = yield* Queue.unbounded<ConsumedRecord>()
      yield* bus.consume({ group: `${topic}-reader`, topics: [topic] }, (r) => Queue.offer(queue, r))
      const seen: Array<ConsumedRecord> = []
      // 20 rounds of synthetic ticks plus the gRPC one
      while (seen.length < 61 || !seen.some((r) => Either.getOrThrow(Tick.fromBytes(r.value)).tickId === "ext-ok")) {
        seen.push(yield* Queue.take(queue))
      }
      return seen
    }).pipe(Effect.scoped, Effect.provide(kafka), Effect.timeout("60 seconds"))

    const ticks = records.map((r) => ({ record: r, tick: Either.getOrThrow(Tick.fromBytes(r.value)) }))
    for (const { record, tick: t } of ticks) {
      const key = new TextDecoder().decode(record.key!)
      expect(key).toBe(t.symbol)
      expect(record.partition).toBe(Partitioner.partitionForKey(record.key!, 3))
    }
    expect(ticks.some((t) => t.tick.tickId === "ext-bad")).toBe(false)
    const grpcTick = ticks.find((t) => t.tick.tickId === "ext-ok")!.tick
    expect(grpcTick.sequence).toBe(ok.sequence)
    for (const symbol of ["ACME", "GLOBEX", "BRK.B"]) {
      const sequences = ticks.filter((t) => t.tick.symbol === symbol).map((t) => t.tick.sequence)
      expect(sequences.length).toBeGreaterThan(5)
      for (let i = 1; i < sequences.length; i++) expect(sequences[i]!).toBeGreaterThan(sequences[i - 1]!)
    }

    const health = yield* Effect.promise(() => fetch(`http://127.0.0.1:${httpPort}/healthz`))
    expect(health.status).toBe(200)
    const report = (yield* Effect.promise(() => health.json())) as {
      components: Array<{ name: string; state: string }>
      checks: Array<{ name: string; state: string }>
    }
    expect(report.components).toContainEqual(expect.objectContaining({ name: "synthetic-feed", state: "running" }))
    expect(report.checks).toContainEqual(expect.objectContaining({ name: "ingestor-broker", state: "ok" }))
    expect(yield* Effect.promise(() => ingestor.stop())).toBe(0)
  }).pipe(Effect.scoped))
