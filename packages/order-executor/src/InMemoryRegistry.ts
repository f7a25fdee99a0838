// A TEST / EMBEDDED DOUBLE of the order registry: the domain's first-writer-wins state
// machine held in one process, with a counter standing in for the Raft log index. It has
// the registry's semantics (canonical outcome, `created`, `tooOld`, retention) but none of
// its durability: everything is lost with the process. Production wiring uses RaftRegistry.
import { OrderRegistry as Registry } from "@trading/domain"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { OrderRegistry } from "./OrderRegistry.js"

export const make = (retention?: Registry.Retention) =>
  Effect.gen(function*() {
    // one Ref holds state and the next index, so a batch is applied atomically. The registry
    // state is linear (ADR 0044): applyRecords updates it in place and returns it, so the Ref
    // always holds the one live state and no older value is kept or read.
    const ref = yield* Ref.make({ state: Registry.initial(retention), index: 0 })
    return OrderRegistry.of({
      description: "in-memory registry (test double, not replicated)",
      record: (records) =>
        records.length === 0 ? Effect.succeed([]) : Ref.modify(ref, ({ index, state }) => {
          const [next, outcomes] = Registry.applyRecords(state, records, index + 1)
          return [outcomes, { state: next, index: index + 1 }]
        }),
      read: (orderId) =>
        Effect.map(Ref.get(ref), ({ state }) => Option.map(Registry.lookup(state, orderId), (e) => ({ ...e }))),
      probe: Effect.map(Ref.get(ref), ({ index, state }) => `in-memory, ${Registry.size(state)} orders, index ${index}`)
    })
  })

/** Fresh and empty per build. */
export const layerTestDouble = (retention?: Registry.Retention) => Layer.effect(OrderRegistry, make(retention))
