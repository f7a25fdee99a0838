/**
 * Raft's safety properties (paper Figure 3), checked incrementally after every step so a
 * violation is reported at the step that causes it:
 * - Election Safety: at most one leader per term.
 * - Leader Append-Only: a leader never overwrites or deletes entries in its log.
 * - Log Matching: two logs with an entry of the same index and term agree on everything up to
 *   it. Checked inductively: an (index, term) pair always names the same entry with the same
 *   predecessor term, which implies the whole prefix is identical.
 * - Leader Completeness: an entry committed in term T is in the log of every leader of a later term.
 * - State Machine Safety: no two nodes commit or apply different entries at the same index.
 */
import type { RaftState } from "../core/RaftCore.js"
import * as Log from "../core/RaftLog.js"
import type { Entry, NodeId, Output, Role } from "../core/Types.js"

export type Property =
  | "Election Safety"
  | "Leader Append-Only"
  | "Log Matching"
  | "Leader Completeness"
  | "State Machine Safety"
  | "Linearizability"
  | "Durability"
  | "Liveness"

export class Violation {
  constructor(readonly property: Property, readonly detail: string) {}
}

export interface Before {
  readonly role: Role
  readonly term: number
  readonly lastIndex: number
  readonly commitIndex: number
}

export const before = (s: RaftState): Before => ({
  role: s.role,
  term: s.term,
  lastIndex: Log.lastIndex(s.log),
  commitIndex: s.commitIndex
})

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export const sameEntry = (a: Entry, b: Entry): boolean =>
  a === b || (a.index === b.index && a.term === b.term && a.kind === b.kind && bytesEqual(a.data, b.data))

interface Registered {
  readonly term: number
  readonly entry: Entry
  readonly prevTerm: number
}

interface Committed {
  readonly entry: Entry
  /** Earliest term in which some node saw this index committed. */
  term: number
}

export interface Checker {
  readonly leaders: Map<number, NodeId>
  readonly matching: Map<number, Array<Registered>>
  readonly committed: Array<Committed | undefined>
  readonly applied: Array<Entry | undefined>
}

export const makeChecker = (): Checker => ({ leaders: new Map(), matching: new Map(), committed: [], applied: [] })

const fail = (property: Property, detail: string): never => {
  throw new Violation(property, detail)
}

/** Record entries a node now holds (on creation, restart or a PersistEntries output). */
export const registerEntries = (c: Checker, node: NodeId, s: RaftState, entries: ReadonlyArray<Entry>): void => {
  for (const e of entries) {
    const prevTerm = Log.termAt(s.log, e.index - 1)
    let list = c.matching.get(e.index)
    if (list === undefined) {
      list = []
      c.matching.set(e.index, list)
    }
    const known = list.find((r) => r.term === e.term)
    if (known === undefined) list.push({ term: e.term, entry: e, prevTerm })
    else if (!sameEntry(known.entry, e) || (prevTerm !== -1 && known.prevTerm !== -1 && prevTerm !== known.prevTerm)) {
      fail(
        "Log Matching",
        `${node} holds a different entry at index ${e.index} term ${e.term} (previous term ${prevTerm} vs ${known.prevTerm})`
      )
    }
  }
}

const checkLeaderHasCommitted = (c: Checker, node: NodeId, s: RaftState, from: number, to: number): void => {
  for (let i = Math.max(from, s.log.snapshot.index + 1); i <= to; i++) {
    const k = c.committed[i]
    if (k === undefined || k.term >= s.term) continue
    const t = Log.termAt(s.log, i)
    if (t !== k.entry.term) {
      fail(
        "Leader Completeness",
        `leader ${node} of term ${s.term} lacks entry ${i} (term ${k.entry.term}) committed in term ${k.term}`
      )
    }
  }
}

/** Run the per-step checks for one node after it took a step. `all` lists every live node's state. */
export const afterStep = (
  c: Checker,
  node: NodeId,
  b: Before,
  s: RaftState,
  outputs: ReadonlyArray<Output>,
  all: ReadonlyArray<readonly [NodeId, RaftState]>
): void => {
  if (s.role === "leader") {
    const known = c.leaders.get(s.term)
    if (known === undefined) c.leaders.set(s.term, node)
    else if (known !== node) fail("Election Safety", `${known} and ${node} are both leaders of term ${s.term}`)
  }
  const stillLeader = b.role === "leader" && s.role === "leader" && b.term === s.term
  for (const o of outputs) {
    if (o._tag !== "PersistEntries") continue
    if (stillLeader && o.from <= b.lastIndex) {
      fail("Leader Append-Only", `leader ${node} of term ${s.term} rewrote its log from index ${o.from}`)
    }
    registerEntries(c, node, s, o.entries)
  }
  if (s.role === "leader" && !(b.role === "leader" && b.term === s.term)) {
    checkLeaderHasCommitted(c, node, s, 1, c.committed.length - 1)
  }
  if (s.commitIndex > b.commitIndex) {
    const from = Math.max(b.commitIndex + 1, s.log.snapshot.index + 1)
    for (let i = from; i <= s.commitIndex; i++) {
      const e = Log.entryAt(s.log, i)
      if (e === undefined) continue
      const known = c.committed[i]
      if (known === undefined) {
        c.committed[i] = { entry: e, term: s.term }
        for (const [id, other] of all) {
          if (other.role === "leader" && other.term > s.term) checkLeaderHasCommitted(c, id, other, i, i)
        }
      } else if (!sameEntry(known.entry, e)) {
        fail("State Machine Safety", `${node} committed a different entry at index ${i} than another node`)
      } else if (s.term < known.term) known.term = s.term
    }
  }
}

/** Called when the runtime hands an entry to a node's state machine. */
export const onApply = (c: Checker, node: NodeId, e: Entry): void => {
  const known = c.applied[e.index]
  if (known === undefined) c.applied[e.index] = e
  else if (!sameEntry(known, e)) {
    fail(
      "State Machine Safety",
      `${node} applied entry ${e.index} of term ${e.term}; another node applied term ${known.term}`
    )
  }
}
