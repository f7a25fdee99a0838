import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { Message, NodeId } from "./core/Types.js"

/**
 * How Raft messages travel between nodes. Delivery is best effort (messages may be lost,
 * duplicated or reordered; Raft tolerates all three), so `send` never fails. The in-memory
 * network here and the gRPC transport of the raft-node service implement the same interface.
 */
export interface TransportApi {
  /**
   * Hands `message` to the network and returns: it never waits for the peer, a slow or
   * unreachable peer loses messages instead (the node calls it from its turn). The message's
   * entry bytes are the log's and are reused after a compaction (ADR 0100): a transport
   * encodes or copies them before it returns, never keeps them.
   */
  readonly send: (message: Message) => Effect.Effect<void>
  /** Optional: `send` without an effect, which the node calls from its turn when present (ADR 0095). */
  readonly sendNow?: ((message: Message) => void) | undefined
  /**
   * Register `id` as a receiver for the life of the scope: `deliver` is called with each
   * message for `id`, synchronously, where the transport received it. It must only hand the
   * message on (the node puts it in its mailbox): a message goes from the socket to the
   * node's turn with no queue and no fiber of its own in between.
   */
  readonly receive: (id: NodeId, deliver: (message: Message) => void) => Effect.Effect<void, never, Scope.Scope>
}

export class Transport extends Context.Tag("@trading/raft/Transport")<Transport, TransportApi>() {}

/** `id`'s messages in a queue, for the life of the scope (tests, tools). */
export const inbox = (
  transport: TransportApi,
  id: NodeId
): Effect.Effect<Queue.Dequeue<Message>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const q = yield* Effect.acquireRelease(Queue.unbounded<Message>(), Queue.shutdown)
    yield* transport.receive(id, (m) => {
      q.unsafeOffer(m)
    })
    return q
  })
