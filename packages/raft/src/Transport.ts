import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { Message, NodeId } from "./core/Types.js"

/**
 * How Raft messages travel between nodes. Delivery is best effort (messages may be lost,
 * duplicated or reordered; Raft tolerates all three), so `send` never fails. The in-memory
 * network here and the gRPC transport of the raft-node service implement the same interface.
 */
export interface TransportApi {
  readonly send: (message: Message) => Effect.Effect<void>
  /** Register `id` as a receiver for the life of the scope. */
  readonly inbox: (id: NodeId) => Effect.Effect<Queue.Dequeue<Message>, never, Scope.Scope>
}

export class Transport extends Context.Tag("@trading/raft/Transport")<Transport, TransportApi>() {}
