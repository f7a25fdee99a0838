// Picks the implementation from MESSAGE_BUS, for services that let the operator choose.
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { BusError } from "./BusError.js"
import * as EmbeddedBus from "./EmbeddedBus.js"
import * as KafkaBus from "./KafkaBus.js"
import type { MessageBus } from "./MessageBus.js"

export const BusKind = Config.literal("kafka", "embedded")("MESSAGE_BUS").pipe(
  Config.withDefault("kafka" as const),
  Config.withDescription("message bus implementation: kafka (KAFKA_BROKERS) or embedded (in-process)")
)

/** Kafka (default) or the embedded bus, by MESSAGE_BUS. Build it once and share it: an embedded bus is per layer. */
export const layerFromConfig: Layer.Layer<MessageBus, BusError | ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(BusKind, (kind) => kind === "kafka" ? KafkaBus.layer : EmbeddedBus.layer)
)
