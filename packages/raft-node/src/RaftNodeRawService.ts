// RaftNodeService as this service serves and forwards it: the generated definition, except
// that RecordOrders keeps its request and response as bytes. The leader validates the
// records in place (`RegistryBytes.validRecordCount`) and proposes the request's bytes as
// they are; each call's answer is its slice of the entry's result. A follower forwards the
// bytes it received. RecordOrdersStream's envelopes stay bytes too (RecordStreamBytes). On
// the wire nothing changes: clients use the generated definition.
import { RaftNodeServiceService } from "@trading/proto/gen/trading/v1/raft_node"

const bytes = (value: Uint8Array): Buffer => Buffer.from(value.buffer, value.byteOffset, value.byteLength)
const view = (value: Buffer): Uint8Array => new Uint8Array(value.buffer, value.byteOffset, value.byteLength)

export const RaftNodeRawService = {
  ...RaftNodeServiceService,
  recordOrders: {
    ...RaftNodeServiceService.recordOrders,
    requestSerialize: bytes,
    requestDeserialize: view,
    responseSerialize: bytes,
    responseDeserialize: view
  },
  recordOrdersStream: {
    ...RaftNodeServiceService.recordOrdersStream,
    requestSerialize: bytes,
    requestDeserialize: view,
    responseSerialize: bytes,
    responseDeserialize: view
  }
} as const
