// The replicated order registry as the executor sees it: record a batch of orders (first
// writer wins) and read one back, linearizably. Production talks to the raft-node cluster
// (RaftRegistry); tests and the embedded quick start may use InMemoryRegistry, a
// single-process double with the same first-writer-wins semantics.
import type { OrderRecord } from "@trading/domain"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"

/** The registry could not answer (no leader, unreachable, deadline). Retrying may help. */
export class RegistryUnavailable extends Data.TaggedError("RegistryUnavailable")<{
  readonly op: string
  readonly reason: string
}> {
  override get message(): string {
    return `order registry ${this.op}: ${this.reason}`
  }
}

export interface RecordedOrder {
  readonly record: OrderRecord.OrderRecord
  readonly index: number
}

export interface OrderRegistryApi {
  /**
   * Records a batch in one proposal. One outcome per record, in order: the canonical record
   * (the first stored for its order id), `created`, the log index, `tooOld`.
   */
  readonly record: (
    records: ReadonlyArray<OrderRecord.OrderRecord>
  ) => Effect.Effect<ReadonlyArray<OrderRecord.RecordOutcome>, RegistryUnavailable>
  /** Linearizable lookup of an order's canonical record. */
  readonly read: (orderId: string) => Effect.Effect<Option.Option<RecordedOrder>, RegistryUnavailable>
  /** Reachability probe for /healthz: a short description of who answers (e.g. the leader). */
  readonly probe: Effect.Effect<string, RegistryUnavailable>
  /** What this registry is, for banners and logs ("raft 127.0.0.1:50070", "in-memory"). */
  readonly description: string
}

export class OrderRegistry extends Context.Tag("@trading/order-executor/OrderRegistry")<
  OrderRegistry,
  OrderRegistryApi
>() {}
