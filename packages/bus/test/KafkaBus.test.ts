// The conformance suite against a real Kafka broker (KAFKA_BROKERS, provided by the
// integration project's global setup; default 127.0.0.1:9092). Group timings are shortened
// so joins and rebalances take well under a second each. Plus what only the Kafka consumer
// does: giving a batch back when a rebalance starts while its handler is still running, and
// fetches that wait for `fetchMinBytes`.
import { expect, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as KafkaBus from "../src/KafkaBus.js"
import { MessageBus } from "../src/MessageBus.js"
import type { ConsumedRecord } from "../src/Record.js"
import { encodeText, valueText } from "../src/Record.js"
import { conformance } from "./conformance.js"

/** The Kafka bus with short group timings, fetches waiting at most `maxWaitTimeInMs`. */
const fastGroups = (maxWaitTimeInMs: number) =>
  KafkaBus.layerWith({
    sessionTimeout: 6_000, // the broker's default group.min.session.timeout.ms
    rebalanceTimeout: 6_000,
    heartbeatInterval: 300,
    maxWaitTimeInMs
  }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Error)))

const busLayer = fastGroups(200)

conformance(`kafka (${process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"})`, busLayer, { waitTimeout: "45 seconds" })

const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`

layer(busLayer, { excludeTestServices: true, timeout: "120 seconds" })("KafkaBus", (it) => {
  it.scoped("a rebalance while a handler is stuck interrupts it and hands its record out again", () =>
    Effect.gen(function*() {
      const bus = yield* MessageBus
      const topic = unique("stuck")
      const group = unique("group")
      yield* bus.ensureTopics([{ name: topic, partitions: 1 }])
      yield* bus.produce({ topic, key: "k", value: encodeText("the record") })
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const handled = yield* Queue.unbounded<ConsumedRecord>()
      // the first delivery hangs until interrupted; later ones (here or on the other member) succeed
      const handler = (record: ConsumedRecord) =>
        Effect.flatMap(Deferred.succeed(started, undefined), (first) =>
          first
            ? Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
            : Queue.offer(handled, record))
      yield* bus.consume({ group, topics: [topic] }, handler)
      yield* Deferred.await(started)
      // a second member joins: the group rebalances while the first member's handler is stuck
      yield* bus.consume({ group, topics: [topic] }, handler)
      yield* Deferred.await(interrupted).pipe(Effect.timeoutFail({
        duration: "30 seconds",
        onTimeout: () => new Error("the stuck handler was not interrupted by the rebalance")
      }))
      const again = yield* Queue.take(handled).pipe(Effect.timeoutFail({
        duration: "45 seconds",
        onTimeout: () => new Error("the record was not delivered again")
      }))
      expect(again.offset).toBe(0)
    }))
})

// fetches wait up to 3 s here, so a wait's end is easy to tell from records arriving at once
const longFetchWaits = fastGroups(3_000)

layer(longFetchWaits, { excludeTestServices: true, timeout: "120 seconds" })("KafkaBus fetchMinBytes", (it) => {
  it.scoped("records that arrive during one fetch's wait come in one batch", () =>
    Effect.gen(function*() {
      const bus = yield* MessageBus
      const topic = unique("min-bytes")
      const group = unique("group")
      yield* bus.ensureTopics([{ name: topic, partitions: 1 }])
      const batches = yield* Queue.unbounded<ReadonlyArray<string>>()
      yield* bus.consumeBatch(
        { group, topics: [topic], fetchMinBytes: 1024 * 1024 },
        ({ records }) => Queue.offer(batches, records.map(valueText))
      )
      // a first record: its batch is handed over when a fetch's wait ends, and the next
      // fetch starts right after it
      yield* bus.produce({ topic, key: "k", value: encodeText("first") })
      expect(yield* Queue.take(batches)).toEqual(["first"])
      // ten records spread over about 200 ms, all inside that next fetch's 3 s wait: without
      // fetchMinBytes the fetch would return with the first of them alone
      const values = Array.from({ length: 10 }, (_, i) => `r${i}`)
      for (const value of values) {
        yield* bus.produce({ topic, key: "k", value: encodeText(value) })
        yield* Effect.sleep("20 millis")
      }
      expect(yield* Queue.take(batches)).toEqual(values)
    }))
})
