/**
 * An in-memory network for tests: messages go straight to the receiver unless a link is
 * cut. `cut`/`isolate`/`heal` model symmetric and asymmetric partitions.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Message, NodeId } from "./core/Types.js"
import * as LogBytes from "./internal/LogBytes.js"
import { Transport, type TransportApi } from "./Transport.js"

export interface MemoryNetwork {
  readonly transport: TransportApi
  /** Drop messages from `from` to `to` (one direction). */
  readonly cut: (from: NodeId, to: NodeId) => Effect.Effect<void>
  /** Cut every link to and from `id`. */
  readonly isolate: (id: NodeId) => Effect.Effect<void>
  readonly heal: Effect.Effect<void>
}

/**
 * The message with copies of its entry bytes: the receiver takes it in a later turn, and the
 * sender's log may have reused those bytes by then (Transport.send).
 */
const ownCopy = (m: Message): Message =>
  m.body._tag !== "AppendRequest" || m.body.entries.length === 0 ? m : {
    ...m,
    body: { ...m.body, entries: LogBytes.ownEntries(m.body.entries) }
  }

export const make: Effect.Effect<MemoryNetwork> = Effect.sync(() => {
  // this network's own state, read by every send (plain variables: sends happen in the nodes' turns)
  const receivers = new Map<NodeId, (message: Message) => void>()
  const blocked = new Set<string>()
  const isolated = new Set<NodeId>()
  const sendNow = (m: Message) => {
    if (blocked.has(`${m.from}>${m.to}`) || isolated.has(m.from) || isolated.has(m.to)) return
    receivers.get(m.to)?.(ownCopy(m))
  }
  const transport: TransportApi = {
    send: (m) => Effect.sync(() => sendNow(m)),
    sendNow,
    receive: (id, deliver) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          receivers.set(id, deliver)
        }),
        () =>
          Effect.sync(() => {
            if (receivers.get(id) === deliver) receivers.delete(id)
          })
      )
  }
  return {
    transport,
    cut: (from, to) => Effect.sync(() => void blocked.add(`${from}>${to}`)),
    isolate: (id) => Effect.sync(() => void isolated.add(id)),
    heal: Effect.sync(() => {
      blocked.clear()
      isolated.clear()
    })
  }
})

export const layer = (network: MemoryNetwork): Layer.Layer<Transport> => Layer.succeed(Transport, network.transport)
