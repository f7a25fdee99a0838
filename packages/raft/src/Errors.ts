import * as Data from "effect/Data"
import type { NodeId } from "./core/Types.js"

/** This node is not the leader; `leader` is its best guess of who is. */
export class NotLeader extends Data.TaggedError("NotLeader")<{ readonly leader: NodeId | null }> {}

/** The proposal's log slot was taken by another leader's entry: it will never be applied. */
export class ProposalDropped extends Data.TaggedError("ProposalDropped")<{ readonly index: number }> {}

/** The node shut down before the request finished; its outcome is unknown. */
export class NodeStopped extends Data.TaggedError("NodeStopped")<{ readonly id: NodeId }> {}

export class MembershipRejected extends Data.TaggedError("MembershipRejected")<{
  readonly node: NodeId
  readonly reason: string
}> {}

export class TransferFailed
  extends Data.TaggedError("TransferFailed")<{ readonly to: NodeId; readonly reason: string }>
{}

export class StorageError extends Data.TaggedError("StorageError")<{
  readonly op: string
  readonly path: string
  readonly cause: unknown
}> {}

/** The node installed a snapshot past the proposal before learning its fate: it may or may not have been applied. */
export class OutcomeUnknown extends Data.TaggedError("OutcomeUnknown")<{ readonly index: number }> {}
