// The stream-processor's own settings (docs/stream-processor.md lists them). Read once at
// start; a set-but-invalid value fails the start naming the variable.
import * as Strategy from "@trading/domain/Strategy"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"

const topic = (name: string, fallback: string) =>
  Config.string(name).pipe(
    Config.validate({ message: "expected a non-empty Kafka topic name", validation: (s) => s.trim().length > 0 }),
    Config.withDefault(fallback)
  )

const positive = (name: string) =>
  Config.integer(name).pipe(
    Config.validate({ message: "expected a positive integer", validation: (n) => n > 0 }),
    Config.option
  )

const STRATEGY_VARIABLES: Record<string, string> = {
  fastWindow: "STRATEGY_FAST_WINDOW",
  slowWindow: "STRATEGY_SLOW_WINDOW",
  maxPosition: "STRATEGY_MAX_POSITION",
  maxOrderQuantity: "STRATEGY_MAX_ORDER_QUANTITY"
}

/** The strategy's parameters; the domain checks them together (fast < slow, ...). */
export const StrategySettings: Config.Config<Strategy.StrategyConfig> = Config.all({
  fastWindow: positive("STRATEGY_FAST_WINDOW"),
  slowWindow: positive("STRATEGY_SLOW_WINDOW"),
  maxPosition: Config.integer("STRATEGY_MAX_POSITION").pipe(
    Config.validate({ message: "expected an integer >= 0", validation: (n) => n >= 0 }),
    Config.option
  ),
  maxOrderQuantity: positive("STRATEGY_MAX_ORDER_QUANTITY")
}).pipe(
  Config.mapOrFail((options) => {
    const partial: Partial<Record<keyof Strategy.StrategyConfig, number>> = {}
    for (const [key, value] of Object.entries(options)) {
      if (value._tag === "Some") partial[key as keyof Strategy.StrategyConfig] = value.value
    }
    return Either.mapLeft(Strategy.makeConfig(partial), (error) => {
      const first = error._tag === "InvalidFields" ? error.violations[0] : undefined
      // the domain names the field in snake_case (`fast_window`); report the variable
      const key = Object.keys(STRATEGY_VARIABLES).find((k) =>
        first?.field.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()) === k
      )
      return ConfigError.InvalidData([key === undefined ? "STRATEGY" : STRATEGY_VARIABLES[key]!], error.message)
    })
  })
)

export interface ProcessorSettings {
  readonly ticksTopic: string
  readonly commandsTopic: string
  readonly group: string
  readonly stateFile: string
  readonly partitions: number
  readonly strategy: Strategy.StrategyConfig
}

export const ProcessorConfig: Config.Config<ProcessorSettings> = Config.all({
  ticksTopic: topic("TICKS_TOPIC", "market.ticks"),
  commandsTopic: topic("COMMANDS_TOPIC", "orders.commands"),
  group: Config.string("PROCESSOR_GROUP").pipe(
    Config.validate({ message: "expected a non-empty consumer group id", validation: (s) => s.trim().length > 0 }),
    Config.withDefault("stream-processor-v1")
  ),
  stateFile: Config.string("PROCESSOR_STATE_FILE").pipe(
    Config.validate({ message: "expected a file path", validation: (s) => s.trim().length > 0 }),
    Config.withDefault("./.data/stream-processor/state.sqlite")
  ),
  partitions: Config.integer("TOPIC_PARTITIONS").pipe(
    Config.validate({ message: "expected a positive integer", validation: (n) => n >= 1 && n <= 1000 }),
    Config.withDefault(3)
  ),
  strategy: StrategySettings
})

/** Kafka group session timeout for this consumer (shorter = faster takeover after a crash). */
export const KafkaSessionTimeout = Config.integer("KAFKA_SESSION_TIMEOUT_MS").pipe(
  Config.validate({
    message: "expected milliseconds within the broker's group.min/max.session.timeout.ms (6000..300000 by default)",
    validation: (n) => n >= 1000 && n <= 3_600_000
  }),
  Config.withDefault(30_000)
)
