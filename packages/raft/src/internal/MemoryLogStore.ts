/**
 * Storage in memory with crash semantics: writes land in a pending list and only become
 * durable on `sync`; a crash throws the pending list away, like a kernel page cache that was
 * never fsync'd. Shared by the simulator and the in-memory `Storage` layer.
 */
import type { Entry, HardState, Output, Snapshot } from "../core/Types.js"

export type PersistOutput = Extract<Output, { _tag: "PersistHardState" | "PersistSnapshot" | "PersistEntries" }>

export interface StoredState {
  hardState: HardState
  snapshot: Snapshot | null
  /** Contiguous entries following the snapshot. */
  entries: Array<Entry>
}

export interface MemoryLogStore {
  durable: StoredState
  pending: Array<PersistOutput>
}

export const makeMemoryLogStore = (initial?: StoredState): MemoryLogStore => ({
  durable: initial ?? { hardState: { term: 0, votedFor: null }, snapshot: null, entries: [] },
  pending: []
})

export const isPersist = (o: Output): o is PersistOutput =>
  o._tag === "PersistHardState" || o._tag === "PersistSnapshot" || o._tag === "PersistEntries"

/** Apply one persist output to a stored state (shared with the file storage's recovery logic). */
export const applyPersist = (st: StoredState, p: PersistOutput): void => {
  switch (p._tag) {
    case "PersistHardState":
      st.hardState = p.hardState
      return
    case "PersistSnapshot": {
      st.snapshot = p.snapshot
      const first = st.entries.length === 0 ? 0 : st.entries[0]!.index
      st.entries = first === 0 ? st.entries : st.entries.slice(Math.max(0, p.snapshot.index - first + 1))
      return
    }
    case "PersistEntries": {
      const base = st.entries.length === 0 ? p.from : st.entries[0]!.index
      st.entries.length = Math.max(0, Math.min(st.entries.length, p.from - base))
      for (const e of p.entries) st.entries.push(e)
      return
    }
  }
}

export const write = (store: MemoryLogStore, p: PersistOutput): void => {
  store.pending.push(p)
}

export const sync = (store: MemoryLogStore): void => {
  for (const p of store.pending) applyPersist(store.durable, p)
  store.pending = []
}

export const crash = (store: MemoryLogStore): void => {
  store.pending = []
}

/** A copy of the durable state, as a restarted node would read it. */
export const load = (store: MemoryLogStore): StoredState => ({
  hardState: store.durable.hardState,
  snapshot: store.durable.snapshot,
  entries: [...store.durable.entries]
})
