import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { Persisted } from "./core/RaftCore.js"
import type { Snapshot } from "./core/Types.js"
import type { StorageError } from "./Errors.js"
import type { PersistOutput } from "./internal/MemoryLogStore.js"

export type { PersistOutput }

/** A snapshot the node took itself, its data in the parts the state machine answered. */
export interface TakenSnapshot extends Omit<Snapshot, "data"> {
  /** Their concatenation is the snapshot's data. */
  readonly parts: ReadonlyArray<Uint8Array>
}

/**
 * Durable Raft state of one node: hard state, log and snapshot. `write` may leave data in
 * volatile buffers; only `sync` makes everything written so far durable. The runtime calls
 * `sync` before acting on any output that follows a persist (the persistence contract).
 * Entry bytes given to `write` are the log's and are reused after a compaction (ADR 0100):
 * a storage copies what it keeps of them before `write` completes.
 */
export interface StorageApi {
  readonly load: Effect.Effect<Persisted, StorageError>
  readonly write: (outputs: ReadonlyArray<PersistOutput>) => Effect.Effect<void, StorageError>
  readonly sync: Effect.Effect<void, StorageError>
  /**
   * Makes a snapshot the node took itself durable ahead of the compaction that persists it,
   * off the node's critical path: when the core's `PersistSnapshot` for the same snapshot
   * arrives, `write` need not write it again. It never replaces a newer snapshot. Storage
   * that writes snapshots cheaply may do nothing here. The parts are valid only until the
   * answer: they are views the state machine reuses afterwards, so what is kept is a copy.
   */
  readonly saveSnapshot: (snapshot: TakenSnapshot) => Effect.Effect<Uint8Array, StorageError>
  /**
   * `saveSnapshot` answers the bytes the node keeps for the snapshot (in its log, to send to
   * a follower that is too far behind): the data itself, or a stand-in when this storage can
   * read the data back, so the node does not hold a second copy of its whole state in
   * memory. `snapshotData` turns what the node kept for the snapshot at `index` back into its
   * data (anything else is answered as it is); null when the storage no longer holds that
   * snapshot (a newer one replaced it: the core sends the newer one next).
   */
  readonly snapshotData: (index: number, kept: Uint8Array) => Effect.Effect<Uint8Array | null, StorageError>
  /**
   * Optional forms of `write` and `sync` without an effect, which the node calls in every
   * turn when they are present (ADR 0095): `writeNow` does what `write` does and answers its
   * error instead of failing; `syncNow` does what `sync` does and calls `done` once, with
   * the error or undefined. A storage that has them must keep the two pairs equivalent (a
   * wrapper that changes `write` or `sync` must change or drop these as well).
   */
  readonly writeNow?: ((outputs: ReadonlyArray<PersistOutput>) => StorageError | undefined) | undefined
  readonly syncNow?: ((done: (error: StorageError | undefined) => void) => void) | undefined
}

export class Storage extends Context.Tag("@trading/raft/Storage")<Storage, StorageApi>() {}
