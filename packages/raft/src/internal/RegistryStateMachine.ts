/** The first-writer-wins registry as a runtime `StateMachine` (tests and examples). */
import * as Effect from "effect/Effect"
import * as Reg from "../sim/Registry.js"
import type { StateMachine } from "../StateMachine.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export interface RegistryStateMachine extends StateMachine {
  readonly values: ReadonlyMap<string, string>
}

/** Commands are `Registry.encodeCommand` bytes; a query is a key; answers are UTF-8 values ("" for none). */
export const make = (): RegistryStateMachine => {
  const reg = Reg.makeRegistry()
  return {
    values: reg.values,
    apply: (command) => Effect.sync(() => encoder.encode(Reg.applyCommand(reg, Reg.decodeCommand(command)) ?? "")),
    query: (query) => Effect.sync(() => encoder.encode(reg.values.get(decoder.decode(query)) ?? "")),
    // the registry is mutable: the capture serializes it at once (small, for tests)
    snapshot: Effect.sync(() => Effect.succeed([Reg.snapshotRegistry(reg)])),
    restore: (data) =>
      Effect.sync(() => {
        reg.values.clear()
        for (const [k, v] of Reg.restoreRegistry(data).values) reg.values.set(k, v)
      })
  }
}
