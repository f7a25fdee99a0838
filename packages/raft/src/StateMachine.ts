import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * The replicated state machine, a parameter of the node. `apply` sees committed commands in
 * log order exactly once per incarnation (after a restart the node rebuilds it from the last
 * snapshot and the log), so it must be deterministic. `query` serves linearizable reads.
 * A command's bytes are the log's, reused after a compaction (ADR 0100): `apply` copies
 * what it keeps of them, and answers a result of its own, not a view of the command.
 *
 * `snapshot` is in two parts so a large state never stalls the node: the outer effect
 * captures the state as of the last `apply` (cheap: an immutable value or a copy), the inner
 * one serializes that capture. The node runs the inner effect on its own fiber while it
 * keeps applying, so it must not read the live state again. It answers the snapshot as
 * parts whose concatenation is the data, so a state kept in large buffers can hand out
 * views of them instead of a copy of the whole (ADR 0036). The capture lives in the scope
 * the outer effect runs in: the parts must not change until the node closes that scope,
 * which it does once storage has written them (storage checksums and writes them across
 * several event-loop turns, and keeps nothing of them). A state machine may reuse their
 * memory after that (the order registry recycles its buffers, ADR 0100).
 *
 * `applyNow` is an optional form of `apply` without an effect, which the node calls for every
 * committed command when present (ADR 0095): it applies the command and answers as `apply`
 * would, or answers undefined, having changed nothing, for a command it cannot apply without
 * an effect (the node then runs `apply`). A wrapper that changes `apply` must change or drop
 * `applyNow` as well.
 */
export interface StateMachine {
  readonly apply: (command: Uint8Array, index: number) => Effect.Effect<Uint8Array>
  readonly applyNow?: ((command: Uint8Array, index: number) => Uint8Array | undefined) | undefined
  readonly query: (query: Uint8Array) => Effect.Effect<Uint8Array>
  readonly snapshot: Effect.Effect<Effect.Effect<ReadonlyArray<Uint8Array>>, never, Scope.Scope>
  readonly restore: (data: Uint8Array) => Effect.Effect<void>
}
