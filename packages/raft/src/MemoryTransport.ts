/**
 * An in-memory network for tests: messages go straight into the receiver's queue unless a
 * link is cut. `cut`/`isolate`/`heal` model symmetric and asymmetric partitions.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type { Message, NodeId } from "./core/Types.js"
import { Transport, type TransportApi } from "./Transport.js"

export interface MemoryNetwork {
  readonly transport: TransportApi
  /** Drop messages from `from` to `to` (one direction). */
  readonly cut: (from: NodeId, to: NodeId) => Effect.Effect<void>
  /** Cut every link to and from `id`. */
  readonly isolate: (id: NodeId) => Effect.Effect<void>
  readonly heal: Effect.Effect<void>
}

export const make: Effect.Effect<MemoryNetwork> = Effect.gen(function*() {
  const inboxes = yield* Ref.make(new Map<NodeId, Queue.Queue<Message>>())
  const blocked = yield* Ref.make(new Set<string>())
  const isolated = yield* Ref.make(new Set<NodeId>())
  const transport: TransportApi = {
    send: (m) =>
      Effect.gen(function*() {
        const cut = (yield* Ref.get(blocked)).has(`${m.from}>${m.to}`)
        const iso = yield* Ref.get(isolated)
        if (cut || iso.has(m.from) || iso.has(m.to)) return
        const q = (yield* Ref.get(inboxes)).get(m.to)
        if (q !== undefined) yield* Queue.offer(q, m)
      }),
    inbox: (id) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          const q = yield* Queue.unbounded<Message>()
          yield* Ref.update(inboxes, (m) => new Map(m).set(id, q))
          return q
        }),
        (q) =>
          Effect.zipRight(
            Ref.update(inboxes, (m) => {
              const next = new Map(m)
              if (next.get(id) === q) next.delete(id)
              return next
            }),
            Queue.shutdown(q)
          )
      )
  }
  return {
    transport,
    cut: (from, to) => Ref.update(blocked, (s) => new Set(s).add(`${from}>${to}`)),
    isolate: (id) => Ref.update(isolated, (s) => new Set(s).add(id)),
    heal: Effect.zipRight(Ref.set(blocked, new Set()), Ref.set(isolated, new Set()))
  }
})

export const layer = (network: MemoryNetwork): Layer.Layer<Transport> => Layer.succeed(Transport, network.transport)
