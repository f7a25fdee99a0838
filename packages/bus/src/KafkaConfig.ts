// Kafka connection settings from the environment (validated at start) plus client tuning
// that code, tests and benchmarks set programmatically.
import * as Config from "effect/Config"

const hostPort = /^[^\s:,]+:(\d{1,5})$/
const isHostPort = (value: string) => {
  const match = hostPort.exec(value)
  return match !== null && Number(match[1]) >= 1 && Number(match[1]) <= 65535
}

const splitBrokers = (value: string): Array<string> => value.split(",").map((broker) => broker.trim())

// read as one string (not Config.array) so a bad value is reported at KAFKA_BROKERS itself,
// and the result is a fresh mutable array, as kafkajs wants
export const KafkaConfig = Config.all({
  // read as one string so a bad value is reported at KAFKA_BROKERS itself
  brokers: Config.string("KAFKA_BROKERS").pipe(
    Config.validate({
      message: "expected comma-separated host:port pairs (port 1..65535), e.g. 127.0.0.1:9092",
      validation: (value) => splitBrokers(value).every(isHostPort)
    }),
    Config.withDefault("127.0.0.1:9092"),
    Config.map(splitBrokers),
    Config.withDescription("Kafka bootstrap brokers")
  ),
  clientId: Config.string("KAFKA_CLIENT_ID").pipe(
    Config.validate({ message: "expected a non-empty client id", validation: (id) => id.trim().length > 0 }),
    Config.withDefault("trading"),
    Config.withDescription("Kafka client id (shows in broker logs and quotas)")
  )
})

/** Client tuning. Defaults suit production; tests shorten the group timings. */
export interface KafkaTuning {
  /** Broker session timeout for group members (ms). Must lie within the broker's group.min/max.session.timeout.ms. */
  readonly sessionTimeout: number
  /** How long the coordinator waits for members to rejoin during a rebalance (ms). */
  readonly rebalanceTimeout: number
  readonly heartbeatInterval: number
  /** Longest a fetch waits for data (ms): bounds idle latency of shutdown. */
  readonly maxWaitTimeInMs: number
  readonly connectionTimeout: number
  readonly requestTimeout: number
  /** Largest record batch per partition in one produce request (bytes, sized exactly): below the broker's message.max.bytes (1 MiB + 12 by default). */
  readonly maxPartitionBytes: number
  /** Largest produce request built from a batch (bytes). */
  readonly maxRequestBytes: number
}

export const defaultTuning: KafkaTuning = {
  sessionTimeout: 30_000,
  rebalanceTimeout: 60_000,
  heartbeatInterval: 3_000,
  maxWaitTimeInMs: 1_000,
  connectionTimeout: 3_000,
  requestTimeout: 30_000,
  maxPartitionBytes: 1_000_000,
  maxRequestBytes: 16_000_000
}
