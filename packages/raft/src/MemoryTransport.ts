/**
 * An in-memory network for tests: messages go straight to the receiver unless a link is
 * cut. `cut`/`isolate`/`heal` model symmetric and asymmetric partitions.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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
  const receivers = yield* Ref.make(new Map<NodeId, (message: Message) => void>())
  const blocked = yield* Ref.make(new Set<string>())
  const isolated = yield* Ref.make(new Set<NodeId>())
  const transport: TransportApi = {
    send: (m) =>
      Effect.gen(function*() {
        const cut = (yield* Ref.get(blocked)).has(`${m.from}>${m.to}`)
        const iso = yield* Ref.get(isolated)
        if (cut || iso.has(m.from) || iso.has(m.to)) return
        ;(yield* Ref.get(receivers)).get(m.to)?.(m)
      }),
    receive: (id, deliver) =>
      Effect.acquireRelease(
        Ref.update(receivers, (m) => new Map(m).set(id, deliver)),
        () =>
          Ref.update(receivers, (m) => {
            const next = new Map(m)
            if (next.get(id) === deliver) next.delete(id)
            return next
          })
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
