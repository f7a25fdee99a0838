// pnpm start:market-ingestor: ticks from the synthetic generator, a replay file and the gRPC
// ingest API onto `market.ticks` (see docs/market-ingestor.md).
import { runService } from "@trading/platform"
import { IngestorConfig } from "./IngestorConfig.js"
import { MarketIngestorMain } from "./MarketIngestorLive.js"

runService({ name: "market-ingestor", grpcPort: 50051, httpPort: 8081, config: IngestorConfig }, MarketIngestorMain)
