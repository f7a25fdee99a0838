// The conformance suite against a real Kafka broker (KAFKA_BROKERS, provided by the
// integration project's global setup; default 127.0.0.1:9092). Group timings are shortened
// so joins and rebalances take well under a second each.
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as KafkaBus from "../src/KafkaBus.js"
import { conformance } from "./conformance.js"

const fastGroups = KafkaBus.layerWith({
  sessionTimeout: 6_000, // the broker's default group.min.session.timeout.ms
  rebalanceTimeout: 6_000,
  heartbeatInterval: 300,
  maxWaitTimeInMs: 200
})

conformance(
  `kafka (${process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"})`,
  fastGroups.pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Error))),
  { waitTimeout: "45 seconds" }
)
