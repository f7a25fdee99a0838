// The service on the embedded bus with a real gRPC server on loopback: what reaches the
// ticks topic for each source, and what a bad tick gets instead.
import { expect, it } from "@effect/vitest"
import { EmbeddedBus, MessageBus } from "@trading/bus"
import type { ConsumedRecord } from "@trading/bus"
import * as Tick from "@trading/domain/Tick"
import { GrpcClient, GrpcServer, GrpcStatus, Health, ServerConfig } from "@trading/platform"
import type { Tick as ProtoTick } from "@trading/proto/gen/trading/v1/market"
import { MarketIngestorServiceService } from "@trading/proto/gen/trading/v1/market_ingestor"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { FeedsLive, MarketIngestorLive } from "./MarketIngestorLive.js"
import * as ReplayFeed from "./ReplayFeed.js"
import * as SyntheticWalk from "./SyntheticWalk.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const platform = Layer.mergeAll(Health.layer, Logger.minimumLogLevel(LogLevel.Error)).pipe(
  Layer.provideMerge(ServerConfig.ServerConfig.layerTest())
)

/** Every record of `topic` as it arrives, read by a fresh consumer group. */
const tail = (topic: string) =>
  Effect.gen(function*() {
    const bus = yield* MessageBus
    const queue = yield* Queue.unbounded<ConsumedRecord>()
    yield* bus.consume({ group: `test-${Math.random()}`, topics: [topic] }, (record) => Queue.offer(queue, record))
    return queue
  })

const takeTicks = (queue: Queue.Queue<ConsumedRecord>, n: number) =>
  Effect.map(
    Queue.takeBetween(queue, n, n),
    (chunk) =>
      [...chunk].map((record) => ({
        key: new TextDecoder().decode(record.key!),
        tick: Either.getOrThrow(Tick.fromBytes(record.value))
      }))
  )

const tick = (overrides: Partial<ProtoTick> = {}): ProtoTick => ({
  schemaVersion: 1,
  tickId: "ext-1",
  symbol: "ACME",
  priceMicros: 101_250_000,
  size: 10,
  observedAtUnixMs: Date.now(),
  sequence: 7,
  source: "ignored",
  ...overrides
})

const service = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      MarketIngestorLive.pipe(Layer.provideMerge(EmbeddedBus.layer), Layer.provideMerge(platform))
    ).pipe(withEnv(env))
    const { port } = Context.get(context, GrpcServer.GrpcServer)
    const client = yield* GrpcClient.make(MarketIngestorServiceService, { address: `127.0.0.1:${port}` })
    return { context, client }
  })

it.live("gRPC IngestTick publishes a valid tick keyed by symbol with the ingestor's sequence and source", () =>
  Effect.gen(function*() {
    const { client, context } = yield* service({ INGEST_RATE: "0", TICKS_TOPIC: "t.grpc1" })
    const queue = yield* tail("t.grpc1").pipe(Effect.provide(context))
    const first = yield* client.ingestTick({ tick: tick() })
    const second = yield* client.ingestTick({ tick: tick({ tickId: "ext-2" }) })
    expect(first.tickId).toBe("ext-1")
    expect(second.sequence).toBeGreaterThan(first.sequence)
    const [a, b] = yield* takeTicks(queue, 2)
    expect(a!.key).toBe("ACME")
    expect(a!.tick).toMatchObject({ tickId: "ext-1", priceMicros: 101_250_000, sequence: first.sequence })
    expect(a!.tick.source).toMatch(/^grpc:/)
    expect(b!.tick.sequence).toBe(second.sequence)
  }).pipe(Effect.scoped))

it.live("gRPC IngestTick refuses a bad tick with INVALID_ARGUMENT naming the fields, and publishes nothing", () =>
  Effect.gen(function*() {
    const { client, context } = yield* service({ INGEST_RATE: "0", TICKS_TOPIC: "t.grpc2" })
    const queue = yield* tail("t.grpc2").pipe(Effect.provide(context))
    const error = yield* Effect.flip(client.ingestTick({ tick: tick({ tickId: "bad", priceMicros: -5, size: 0 }) }))
    expect(error.code).toBe(GrpcStatus.Code.INVALID_ARGUMENT)
    expect(error.details).toContain("tick.price_micros: must be > 0, got -5")
    expect(error.details).toContain("tick.size: must be > 0, got 0")
    expect(error.metadata["invalid-fields"]).toBe("tick.price_micros,tick.size")
    const future = yield* Effect.flip(
      client.ingestTick({ tick: tick({ tickId: "late", observedAtUnixMs: Date.now() + 3_600_000 }) })
    )
    expect(future.metadata["invalid-fields"]).toBe("tick.observed_at_unix_ms")
    const missing = yield* Effect.flip(client.ingestTick({ tick: undefined }))
    expect(missing.details).toBe("tick: is missing")
    // the next record on the topic is the next valid tick: none of the bad ones got through
    yield* client.ingestTick({ tick: tick({ tickId: "good" }) })
    const [only] = yield* takeTicks(queue, 1)
    expect(only!.tick.tickId).toBe("good")
    expect(yield* Queue.size(queue)).toBe(0)
  }).pipe(Effect.scoped))

it.live("gRPC IngestTicks publishes a stream; a bad tick ends it naming its index and field", () =>
  Effect.gen(function*() {
    const { client, context } = yield* service({ INGEST_RATE: "0", TICKS_TOPIC: "t.grpc3" })
    const queue = yield* tail("t.grpc3").pipe(Effect.provide(context))
    const good = (n: number) => ({ tick: tick({ tickId: `s-${n}`, symbol: n % 2 === 0 ? "ACME" : "GLOBEX" }) })
    const ok = yield* client.ingestTicks(Stream.fromIterable([good(0), good(1), good(2)]))
    expect(ok.accepted).toBe(3)
    const error = yield* Effect.flip(
      client.ingestTicks(
        Stream.fromIterable([good(3), good(4), good(5), { tick: tick({ tickId: "s-x", size: -1 }) }, good(6)])
      )
    )
    expect(error.code).toBe(GrpcStatus.Code.INVALID_ARGUMENT)
    expect(error.details).toContain("ticks[3].size: must be > 0, got -1")
    expect(error.metadata).toMatchObject({ "invalid-fields": "ticks[3].size", accepted: "3" })
    const published = yield* takeTicks(queue, 6)
    expect(published.map((p) => p.tick.tickId).sort()).toEqual(["s-0", "s-1", "s-2", "s-3", "s-4", "s-5"])
    for (const p of published) expect(p.key).toBe(p.tick.symbol)
  }).pipe(Effect.scoped))

it.live("file replay publishes the valid lines of CSV and JSON lines files and counts the bad ones", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "replay-"))),
      (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
    )
    const T = 1_760_000_000_000
    const csv = join(dir, "ticks.csv")
    writeFileSync(
      csv,
      `symbol,price_micros,size,observed_at_unix_ms\nACME,1000000,1,${T}\nACME,0,1,${T + 1}\nACME,1000001,2,${T + 2}\n`
    )
    const jsonl = join(dir, "ticks.jsonl")
    writeFileSync(
      jsonl,
      [
        JSON.stringify({ tick_id: "j-1", symbol: "GLOBEX", price_micros: 5, size: 1, observed_at_unix_ms: T }),
        "garbage",
        JSON.stringify({ tick_id: "j-3", symbol: "GLOBEX", price_micros: 6, size: 1, observed_at_unix_ms: T + 5 })
      ].join("\n")
    )
    const context = yield* Layer.build(
      FeedsLive.pipe(Layer.provideMerge(EmbeddedBus.layer), Layer.provideMerge(platform))
    )
      .pipe(withEnv({ INGEST_RATE: "0", TICKS_TOPIC: "t.replay" }))
    const queue = yield* tail("t.replay").pipe(Effect.provide(context))
    expect(yield* ReplayFeed.replay(csv, "max").pipe(Effect.provide(context))).toEqual({ published: 2, rejected: 1 })
    // recorded pace at 100x: 5 ms of recorded time, still ordered
    expect(yield* ReplayFeed.replay(jsonl, 100).pipe(Effect.provide(context))).toEqual({ published: 2, rejected: 1 })
    const ticks = yield* takeTicks(queue, 4)
    expect(ticks.map((t) => t.tick.tickId).sort()).toEqual(["j-1", "j-3", "replay-ticks.csv-2", "replay-ticks.csv-4"])
    expect(ticks.find((t) => t.tick.tickId === "j-1")!.tick).toMatchObject({
      source: "replay:ticks.jsonl",
      observedAtUnixMs: T
    })
    const bad = yield* Effect.flip(ReplayFeed.replay(join(dir, "ticks.txt"), "max").pipe(Effect.provide(context)))
    expect(bad._tag).toBe("ReplayError")
  }).pipe(Effect.scoped))

it.live("the synthetic feed publishes the seeded walk, one tick per symbol per round, sequences rising", () =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      FeedsLive.pipe(Layer.provideMerge(EmbeddedBus.layer), Layer.provideMerge(platform))
    )
      .pipe(withEnv({ INGEST_RATE: "50", INGEST_SEED: "9", INGEST_SYMBOLS: "ACME,GLOBEX", TICKS_TOPIC: "t.syn" }))
    const queue = yield* tail("t.syn").pipe(Effect.provide(context))
    const ticks = (yield* takeTicks(queue, 20)).map((t) => t.tick)
    let walk = SyntheticWalk.initial(9, ["ACME", "GLOBEX"])
    const expected = []
    for (let round = 0; round < 10; round++) {
      const [next, made] = SyntheticWalk.nextRound(walk, {
        symbols: ["ACME", "GLOBEX"],
        runId: "x",
        seed: 9,
        observedAtUnixMs: 0
      })
      walk = next
      expected.push(...made)
    }
    const view = (list: ReadonlyArray<Tick.Tick>, symbol: string) =>
      list.filter((t) => t.symbol === symbol).map((t) => [t.priceMicros, t.size])
    // consumption interleaves partitions, so compare per symbol (each symbol is one partition, in order)
    for (const symbol of ["ACME", "GLOBEX"]) {
      const got = view(ticks, symbol)
      expect(got).toEqual(view(expected, symbol).slice(0, got.length))
      const sequences = ticks.filter((t) => t.symbol === symbol).map((t) => t.sequence)
      expect([...sequences].sort((a, b) => a - b)).toEqual(sequences)
      expect(new Set(sequences).size).toBe(sequences.length)
    }
  }).pipe(Effect.scoped))
