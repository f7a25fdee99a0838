// pnpm start:raft-node: one member of the replicated order registry (see docs/raft-node.md).
import { runService } from "@trading/platform"
import * as Config from "effect/Config"
import { raftNodeConfig } from "./RaftNodeConfig.js"
import * as RaftNodeService from "./RaftNodeService.js"

runService(
  { name: "raft-node", grpcPort: 50070, httpPort: 8090, nodeId: Config.string("RAFT_NODE_ID"), config: raftNodeConfig },
  RaftNodeService.layer
)
