// RaftNodeService with RecordOrders and RecordOrdersStream kept as bytes on both sides: the
// generated definition, except that those two methods neither build nor decode ts-proto
// objects. The raft-node validates a request's records in place
// (`RegistryBytes.validRecordCount`), proposes its bytes as they are and answers each call
// with its slice of the entry's result (a follower forwards the bytes it received); the
// client library writes requests and reads responses directly (`RegistryBytes`), and both
// read and write RecordOrdersStream's envelopes with `RecordStreamBytes`. On the wire
// nothing changes: any client may use the generated definition.
import { RaftNodeServiceService } from "./gen/trading/v1/raft_node.js"

const bytes = (value: Uint8Array): Buffer => Buffer.from(value.buffer, value.byteOffset, value.byteLength)
const view = (value: Buffer): Uint8Array => new Uint8Array(value.buffer, value.byteOffset, value.byteLength)

const raw = { requestSerialize: bytes, requestDeserialize: view, responseSerialize: bytes, responseDeserialize: view }

export const RaftNodeRawService = {
  ...RaftNodeServiceService,
  recordOrders: { ...RaftNodeServiceService.recordOrders, ...raw },
  recordOrdersStream: { ...RaftNodeServiceService.recordOrdersStream, ...raw }
} as const
