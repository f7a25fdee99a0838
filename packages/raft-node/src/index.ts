// @trading/raft-node: the raft-node service's layers (for the all-in-one CLI and tests).
export { AddressBook, type MemberAddress } from "./AddressBook.js"
export * as GrpcTransport from "./GrpcTransport.js"
export * as RaftHealth from "./RaftHealth.js"
export * as RaftNodeApi from "./RaftNodeApi.js"
export { raftNodeConfig, type RaftNodeSettings } from "./RaftNodeConfig.js"
export * as RaftNodeService from "./RaftNodeService.js"
export * as RegistryNode from "./RegistryNode.js"
export * as RegistryStateMachine from "./RegistryStateMachine.js"
