import { emptyMembership } from "./Membership.js"
import type { Entry, Snapshot } from "./Types.js"

/**
 * The in-memory log of one node: a snapshot that covers indexes 1..snapshot.index and the
 * entries after it. It is owned by exactly one core state and updated in place (see ADR 0030).
 */
export interface RaftLog {
  snapshot: Snapshot
  /** entries[i] has index snapshot.index + 1 + i. */
  entries: Array<Entry>
}

export const emptySnapshot: Snapshot = { index: 0, term: 0, membership: emptyMembership, data: new Uint8Array(0) }

export const lastIndex = (log: RaftLog): number => log.snapshot.index + log.entries.length

export const lastTerm = (log: RaftLog): number =>
  log.entries.length === 0 ? log.snapshot.term : log.entries[log.entries.length - 1]!.term

/** Term of the entry at `index`: the snapshot's term at its index, -1 when unknown (compacted or beyond the end). */
export const termAt = (log: RaftLog, index: number): number => {
  const base = log.snapshot.index
  if (index === base) return log.snapshot.term
  if (index < base || index > base + log.entries.length) return -1
  return log.entries[index - base - 1]!.term
}

export const entryAt = (log: RaftLog, index: number): Entry | undefined => log.entries[index - log.snapshot.index - 1]

/** Entries with index in [from, to], clamped to what the log holds. */
export const slice = (log: RaftLog, from: number, to: number): Array<Entry> => {
  const base = log.snapshot.index + 1
  return log.entries.slice(Math.max(0, from - base), Math.max(0, to - base + 1))
}

export const append = (log: RaftLog, entry: Entry): void => {
  log.entries.push(entry)
}

/** Drop every entry with index >= `from`. */
export const truncateFrom = (log: RaftLog, from: number): void => {
  log.entries.length = Math.max(0, from - log.snapshot.index - 1)
}

/** Replace the prefix up to `snapshot.index` by the snapshot, keeping later entries. */
export const compactTo = (log: RaftLog, snapshot: Snapshot): void => {
  log.entries = log.entries.slice(Math.max(0, snapshot.index - log.snapshot.index))
  log.snapshot = snapshot
}

/** Terms never decrease along a log, so the last index of a term is found by binary search; 0 if absent. */
export const lastIndexOfTerm = (log: RaftLog, term: number): number => {
  let lo = 0
  let hi = log.entries.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (log.entries[mid]!.term <= term) {
      found = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  if (found >= 0 && log.entries[found]!.term === term) return log.snapshot.index + 1 + found
  return log.snapshot.term === term && log.snapshot.index > 0 ? log.snapshot.index : 0
}

/** First index (after the snapshot) whose entry has this term; used as a backtracking hint. */
export const firstIndexOfTerm = (log: RaftLog, term: number): number => {
  let lo = 0
  let hi = log.entries.length - 1
  let found = log.entries.length
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (log.entries[mid]!.term >= term) {
      found = mid
      hi = mid - 1
    } else lo = mid + 1
  }
  return log.snapshot.index + 1 + found
}
