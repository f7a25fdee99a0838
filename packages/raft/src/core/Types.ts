/**
 * Plain data shared by the Raft core, its runtime and the simulator. Everything here is
 * numbers, strings, booleans and Uint8Array so it maps 1:1 onto `proto/raft/v1/raft.proto`
 * (see `Wire.ts`). Values are immutable by convention: the core never mutates an entry or a
 * message after creating it, which lets the simulator share them between nodes.
 */

export type NodeId = string

export type EntryKind = "command" | "noop" | "config"

export interface Entry {
  readonly term: number
  readonly index: number
  readonly kind: EntryKind
  readonly data: Uint8Array
}

/** Voters decide elections and commitment; learners only receive the log (catch-up phase). */
export interface Membership {
  readonly voters: ReadonlyArray<NodeId>
  readonly learners: ReadonlyArray<NodeId>
}

export interface HardState {
  readonly term: number
  readonly votedFor: NodeId | null
}

export interface Snapshot {
  readonly index: number
  readonly term: number
  readonly membership: Membership
  readonly data: Uint8Array
}

export interface VoteRequest {
  readonly _tag: "VoteRequest"
  readonly preVote: boolean
  readonly lastLogIndex: number
  readonly lastLogTerm: number
  /** Sent on a leadership transfer: voters skip their "recently heard from a leader" check. */
  readonly transfer: boolean
}

export interface VoteResponse {
  readonly _tag: "VoteResponse"
  readonly preVote: boolean
  readonly granted: boolean
}

export interface AppendRequest {
  readonly _tag: "AppendRequest"
  readonly prevLogIndex: number
  readonly prevLogTerm: number
  readonly entries: ReadonlyArray<Entry>
  readonly leaderCommit: number
  /** Read sequence of the leader when sent; echoed back so responses confirm ReadIndex requests. */
  readonly context: number
}

export interface AppendResponse {
  readonly _tag: "AppendResponse"
  readonly success: boolean
  readonly matchIndex: number
  readonly conflictIndex: number
  readonly conflictTerm: number
  readonly context: number
}

export interface InstallSnapshotRequest {
  readonly _tag: "InstallSnapshotRequest"
  readonly lastIncludedIndex: number
  readonly lastIncludedTerm: number
  readonly configuration: Uint8Array
  /** The core always sends a whole snapshot in one message: offset 0, done true. */
  readonly offset: number
  readonly data: Uint8Array
  readonly done: boolean
}

export interface InstallSnapshotResponse {
  readonly _tag: "InstallSnapshotResponse"
  readonly lastIncludedIndex: number
  readonly success: boolean
}

export interface TimeoutNow {
  readonly _tag: "TimeoutNow"
}

export type MessageBody =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | InstallSnapshotRequest
  | InstallSnapshotResponse
  | TimeoutNow

export interface Message {
  readonly from: NodeId
  readonly to: NodeId
  readonly term: number
  readonly body: MessageBody
}

export type MembershipChange =
  | { readonly _tag: "AddLearner"; readonly node: NodeId }
  | { readonly _tag: "Promote"; readonly node: NodeId }
  | { readonly _tag: "Remove"; readonly node: NodeId }

/** What the core reacts to. `reqId` is chosen by the caller and echoed in the matching output. */
export type Input =
  /** One tick of logical time. `jitter` in [0, electionTicks) randomises the next election timeout. */
  | { readonly _tag: "Tick"; readonly jitter: number }
  | { readonly _tag: "Receive"; readonly message: Message }
  | { readonly _tag: "Propose"; readonly reqId: number; readonly commands: ReadonlyArray<Uint8Array> }
  | { readonly _tag: "ReadIndex"; readonly reqId: number }
  | { readonly _tag: "ChangeMembership"; readonly reqId: number; readonly change: MembershipChange }
  | { readonly _tag: "TransferLeadership"; readonly reqId: number; readonly to: NodeId }
  /** The state machine has been snapshotted at `index` (<= applied): compact the log up to it. */
  | { readonly _tag: "Compact"; readonly index: number; readonly data: Uint8Array }
  /**
   * Everything persisted so far is durable: the runtime steps this right after each sync,
   * before any other input. Lets a leader count its own log toward commits.
   */
  | { readonly _tag: "Synced" }

export type RejectReason = "not-leader" | "transferring" | "config-pending" | "not-caught-up" | "invalid"

/**
 * What the runtime must do, in order. The persistence contract: every `Persist*` output must be
 * durable (fsync'd) before any later output of the same step, or of any later step, is acted on,
 * with one exception: a `Send` of an `AppendRequest` (`isEarlySend`) may be acted on at once,
 * even before earlier persists are durable. The core emits those first, then its persists, then
 * the other sends, `Apply` and client answers. It counts its own log toward a commit only once
 * the runtime reports it durable with a `Synced` input (Raft thesis 10.2.1).
 */
export type Output =
  | { readonly _tag: "PersistHardState"; readonly hardState: HardState }
  /** Replace the snapshot; stored log entries at or below its index are dropped. */
  | { readonly _tag: "PersistSnapshot"; readonly snapshot: Snapshot }
  /** Discard stored entries with index >= `from`, then append `entries` (which start at `from`). */
  | { readonly _tag: "PersistEntries"; readonly from: number; readonly entries: ReadonlyArray<Entry> }
  | { readonly _tag: "Send"; readonly message: Message }
  /** Committed entries, in index order, to hand to the state machine. */
  | { readonly _tag: "Apply"; readonly entries: ReadonlyArray<Entry> }
  /** Replace the state machine with this snapshot (a follower installed it from the leader). */
  | { readonly _tag: "Restore"; readonly snapshot: Snapshot }
  | { readonly _tag: "Accepted"; readonly reqId: number; readonly index: number; readonly term: number }
  | { readonly _tag: "Rejected"; readonly reqId: number; readonly reason: RejectReason; readonly leader: NodeId | null }
  /** Serve the read once the state machine has applied `index`. */
  | { readonly _tag: "ReadReady"; readonly reqId: number; readonly index: number }

export type Role = "follower" | "precandidate" | "candidate" | "leader"

export interface Options {
  /** Minimum election timeout in ticks; the actual timeout is electionTicks + jitter. */
  readonly electionTicks: number
  readonly heartbeatTicks: number
  readonly maxEntriesPerMessage: number
  readonly maxBytesPerMessage: number
  /** Appends in flight per peer while it is replicating (pipelining window). */
  readonly maxInflight: number
  readonly preVote: boolean
  readonly checkQuorum: boolean
  /** Known bugs the simulator can inject to prove that its checker catches them. */
  readonly bug?: BugName | undefined
}

export const bugNames = [
  "double-vote",
  "commit-previous-term",
  "send-before-persist",
  "skip-consistency-check",
  "stale-read",
  "ignore-election-restriction",
  "commit-unsynced-self"
] as const

export type BugName = typeof bugNames[number]

export const bugDescriptions: Record<BugName, string> = {
  "double-vote": "a voter grants a second vote in the same term",
  "commit-previous-term":
    "a leader commits entries of earlier terms by counting replicas (and opens its term without a no-op)",
  "send-before-persist": "messages leave before the hard state and entries they depend on are durable",
  "skip-consistency-check": "a follower appends without checking prevLogTerm",
  "stale-read": "a leader answers ReadIndex without confirming it is still leader",
  "ignore-election-restriction": "a voter grants its vote without checking that the candidate's log is up to date",
  "commit-unsynced-self":
    "a leader counts its own log toward a commit before it is durable, although its appends left before its fsync"
}

export const defaultOptions: Options = {
  electionTicks: 10,
  heartbeatTicks: 2,
  maxEntriesPerMessage: 256,
  maxBytesPerMessage: 1024 * 1024,
  maxInflight: 8,
  preVote: true,
  checkQuorum: true
}
