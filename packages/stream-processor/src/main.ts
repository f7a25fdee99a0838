// pnpm start:stream-processor: ticks from `market.ticks` through the strategy into
// `orders.commands`, with state that survives crashes (see docs/stream-processor.md).
import { runService } from "@trading/platform"
import * as Config from "effect/Config"
import { KafkaSessionTimeout, ProcessorConfig } from "./ProcessorConfig.js"
import { StreamProcessorMain } from "./StreamProcessorLive.js"

runService(
  {
    name: "stream-processor",
    grpcPort: 50052,
    httpPort: 8082,
    config: Config.all([ProcessorConfig, KafkaSessionTimeout])
  },
  StreamProcessorMain
)
