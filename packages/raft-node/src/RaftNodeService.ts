// The raft-node service as one Layer: the replicated registry (storage, transport, Raft
// node, joining), its health check, and the RaftNodeService client API on PORT_GRPC. The
// gRPC server is built last, so on shutdown it drains first, then the node transfers
// leadership (if it leads) and stops, then the transport closes.
import { GrpcServer } from "@trading/platform"
import * as Layer from "effect/Layer"
import * as RaftHealth from "./RaftHealth.js"
import * as RaftNodeApi from "./RaftNodeApi.js"
import * as RegistryNode from "./RegistryNode.js"

export const layer = GrpcServer.layer(RaftNodeApi.layer).pipe(
  Layer.provideMerge(RaftHealth.layer),
  Layer.provideMerge(RegistryNode.layer)
)
