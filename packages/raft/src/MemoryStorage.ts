/**
 * In-memory `Storage` with crash semantics for simulation and tests: writes become durable
 * only on `sync`, and `crash` on the handle discards whatever was not synced.
 */
import * as Bytes from "@trading/domain/Bytes"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LogBytes from "./internal/LogBytes.js"
import * as Store from "./internal/MemoryLogStore.js"
import { Storage, type StorageApi } from "./Storage.js"

export interface MemoryDisk {
  readonly store: Store.MemoryLogStore
}

/** A fresh disk; keep the handle to restart a node on the same data or to crash it. */
export const makeDisk = (): MemoryDisk => ({ store: Store.makeMemoryLogStore() })

/** Lose unsynced writes, as a power cut would. */
export const crash = (disk: MemoryDisk): Effect.Effect<void> => Effect.sync(() => Store.crash(disk.store))

/** The output with copies of its entry bytes, which the node reuses after a compaction (StorageApi). */
const ownCopy = (o: Store.PersistOutput): Store.PersistOutput =>
  o._tag !== "PersistEntries" ? o : { ...o, entries: LogBytes.ownEntries(o.entries) }

export const make = (disk: MemoryDisk): StorageApi => {
  const writeNow = (outputs: ReadonlyArray<Store.PersistOutput>) => {
    for (const o of outputs) Store.write(disk.store, ownCopy(o))
    return undefined
  }
  return {
    load: Effect.sync(() => {
      const s = Store.load(disk.store)
      return { hardState: s.hardState, snapshot: s.snapshot, entries: s.entries }
    }),
    write: (outputs) => Effect.sync(() => writeNow(outputs)),
    sync: Effect.sync(() => Store.sync(disk.store)),
    writeNow,
    syncNow: (done) => {
      Store.sync(disk.store)
      done(undefined)
    },
    // in memory, `write` persists a snapshot at no cost, and the node keeps the data itself
    // a copy: the parts are reused once this answers (Storage.saveSnapshot)
    saveSnapshot: (snapshot) => Effect.sync(() => Bytes.concatFresh(snapshot.parts)),
    snapshotData: (_index, kept) => Effect.succeed(kept)
  }
}

export const layer = (disk: MemoryDisk): Layer.Layer<Storage> => Layer.succeed(Storage, make(disk))
