// Replay pacing on the TestClock: recorded gaps divided by the speed-up factor. The bus here
// only records batches (pacing is the subject; MarketIngestor.test.ts replays onto the
// embedded bus).
import { expect, it } from "@effect/vitest"
import { MessageBus, type OutgoingRecord } from "@trading/bus"
import * as Tick from "@trading/domain/Tick"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ReplayFeed from "./ReplayFeed.js"
import * as TickPublisher from "./TickPublisher.js"

const T = 1_760_000_000_000

/**
 * Waits until the replay fiber is asleep on the TestClock: it reads the file with real I/O,
 * so poll on the live clock instead of moving the test clock too early.
 */
const asleep = Effect.gen(function*() {
  while ((yield* TestClock.sleeps()).length === 0) yield* TestServices.provideLive(Effect.sleep("2 millis"))
})

it.scoped("replays at the recorded pace divided by INGEST_REPLAY_SPEED", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "pace-"))),
      (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
    )
    const file = join(dir, "pace.csv")
    // gaps of 1 s and 3 s; two ticks share the last timestamp
    writeFileSync(
      file,
      `symbol,price_micros,size,observed_at_unix_ms\nACME,1000000,1,${T}\nACME,1000001,1,${T + 1000}\nACME,1000002,1,${
        T + 4000
      }\nACME,1000003,1,${T + 4000}\n`
    )
    const batches = yield* Queue.unbounded<ReadonlyArray<OutgoingRecord>>()
    const recordingBus = Layer.succeed(MessageBus, {
      produce: () => Effect.die("unused"),
      produceBatch: (records) => Queue.offer(batches, records),
      ensureTopics: () => Effect.void,
      consume: () => Effect.die("unused"),
      consumeBatch: () => Effect.die("unused"),
      deadLetter: () => Effect.die("unused")
    })
    const context = yield* Layer.build(TickPublisher.layer.pipe(Layer.provide(recordingBus))).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
    )
    const publisher = Context.get(context, TickPublisher.TickPublisher)
    const fiber = yield* Effect.fork(
      ReplayFeed.replay(file, 2).pipe(Effect.provideService(TickPublisher.TickPublisher, publisher))
    )
    const prices = (records: ReadonlyArray<OutgoingRecord>) =>
      records.map((r) => Either.getOrThrow(Tick.fromBytes(r.value)).priceMicros)
    expect(prices(yield* Queue.take(batches))).toEqual([1_000_000])
    yield* asleep
    yield* TestClock.adjust("499 millis")
    expect(yield* Queue.size(batches)).toBe(0)
    yield* TestClock.adjust("1 millis") // 1 s recorded at speed 2
    expect(prices(yield* Queue.take(batches))).toEqual([1_000_001])
    yield* asleep
    yield* TestClock.adjust("1499 millis")
    expect(yield* Queue.size(batches)).toBe(0)
    yield* TestClock.adjust("1 millis") // 3 s more at speed 2; the two equal timestamps go together
    expect(prices(yield* Queue.take(batches))).toEqual([1_000_002, 1_000_003])
    expect(yield* Fiber.join(fiber)).toEqual({ published: 4, rejected: 0 })
  }))
