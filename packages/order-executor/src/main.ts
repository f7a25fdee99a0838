// pnpm start:order-executor: the order-executor against Kafka (KAFKA_BROKERS) and the
// raft-node cluster (RAFT_NODE_GRPC_ADDR). See docs/order-executor.md.
import { BusSelection, KafkaBus } from "@trading/bus"
import { runService } from "@trading/platform"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { executorConfig } from "./ExecutorConfig.js"
import * as OrderExecutorService from "./OrderExecutorService.js"
import * as RaftRegistry from "./RaftRegistry.js"

/** Group session timeout: shorter means a restarted executor takes its partitions back sooner after a crash. */
const KafkaSessionTimeout = Config.integer("KAFKA_SESSION_TIMEOUT_MS").pipe(
  Config.validate({
    message: "expected milliseconds within the broker's group.min/max.session.timeout.ms (6000..300000 by default)",
    validation: (n) => n >= 1000 && n <= 3_600_000
  }),
  Config.withDefault(30_000)
)

/** Kafka (default) with this consumer's session timeout, or the embedded bus (MESSAGE_BUS=embedded). */
const BusLive = Layer.unwrapEffect(Effect.gen(function*() {
  if ((yield* BusSelection.BusKind) === "embedded") return BusSelection.layerFromConfig
  const sessionTimeout = yield* KafkaSessionTimeout
  return KafkaBus.layerWith({
    sessionTimeout,
    rebalanceTimeout: Math.max(sessionTimeout, 6_000),
    heartbeatInterval: Math.max(100, Math.floor(sessionTimeout / 10))
  })
}))

runService(
  {
    name: "order-executor",
    grpcPort: 50053,
    httpPort: 8083,
    config: Config.all([executorConfig, RaftRegistry.RaftSeeds, KafkaSessionTimeout])
  },
  Layer.unwrapEffect(Effect.map(executorConfig, OrderExecutorService.layer)).pipe(
    Layer.provide(Layer.merge(BusLive, RaftRegistry.layer))
  )
)
