// The conformance suite against a real Kafka broker (KAFKA_BROKERS, provided by the
// integration project's global setup; default 127.0.0.1:9092). Group timings are shortened
// so joins and rebalances take well under a second each. Plus what only the Kafka consumer
// does: giving a batch back when a rebalance starts while its handler is still running.
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
import { encodeText } from "../src/Record.js"
import { conformance } from "./conformance.js"

const fastGroups = KafkaBus.layerWith({
  sessionTimeout: 6_000, // the broker's default group.min.session.timeout.ms
  rebalanceTimeout: 6_000,
  heartbeatInterval: 300,
  maxWaitTimeInMs: 200
})

const busLayer = fastGroups.pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Error)))

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
