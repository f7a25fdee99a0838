// The generator's pace on the TestClock: by default one tick per second per symbol, each
// stamped with the clock. The bus here only records batches (the rate is the subject, not
// the bus; MarketIngestor.test.ts runs the feed on the embedded bus).
import { expect, it } from "@effect/vitest"
import { MessageBus, type OutgoingRecord } from "@trading/bus"
import * as Tick from "@trading/domain/Tick"
import { Health, ServerConfig } from "@trading/platform"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import * as SyntheticFeed from "./SyntheticFeed.js"
import * as TickPublisher from "./TickPublisher.js"

const T = 1_760_000_000_000

it.scoped("publishes one round per second by default: one tick per symbol, stamped with the clock", () =>
  Effect.gen(function*() {
    yield* TestClock.setTime(T)
    const batches = yield* Queue.unbounded<ReadonlyArray<OutgoingRecord>>()
    const recordingBus = Layer.succeed(MessageBus, {
      produce: () => Effect.die("unused"),
      produceBatch: (records) => Queue.offer(batches, records),
      ensureTopics: () => Effect.void,
      consume: () => Effect.die("unused"),
      consumeBatch: () => Effect.die("unused"),
      deadLetter: () => Effect.die("unused")
    })
    yield* Layer.build(
      SyntheticFeed.layer.pipe(
        Layer.provide(TickPublisher.layer),
        Layer.provide(recordingBus),
        Layer.provideMerge(Health.layer),
        Layer.provide(ServerConfig.ServerConfig.layerTest())
      )
    ).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["INGEST_SYMBOLS", "ACME,GLOBEX"]]))))
    const decode = (records: ReadonlyArray<OutgoingRecord>) =>
      records.map((r) => Either.getOrThrow(Tick.fromBytes(r.value)))
    const first = decode(yield* Queue.take(batches))
    expect(first.map((t) => [t.symbol, t.observedAtUnixMs])).toEqual([["ACME", T], ["GLOBEX", T]])
    yield* TestClock.adjust("999 millis")
    expect(yield* Queue.size(batches)).toBe(0) // not before the second is up
    yield* TestClock.adjust("1 millis")
    expect(decode(yield* Queue.take(batches)).map((t) => t.observedAtUnixMs)).toEqual([T + 1000, T + 1000])
    yield* TestClock.adjust("2 seconds")
    const later = [decode(yield* Queue.take(batches)), decode(yield* Queue.take(batches))]
    expect(later.map((ticks) => ticks.map((t) => t.observedAtUnixMs))).toEqual([
      [T + 2000, T + 2000],
      [T + 3000, T + 3000]
    ])
    expect(yield* Queue.size(batches)).toBe(0)
  }))
