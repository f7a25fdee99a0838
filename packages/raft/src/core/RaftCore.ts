/**
 * The Raft core: a deterministic state machine `(state, input) -> (state, outputs)` with no
 * clock, socket, randomness or I/O. Time arrives as `Tick` inputs and randomness as the
 * `jitter` they carry. Follows the Raft paper (Figure 2, sections 5.2-5.4, 7) and Ongaro's
 * thesis (PreVote and CheckQuorum 9.6, single-server membership changes 4.1-4.3, leadership
 * transfer 3.10, ReadIndex 6.4).
 *
 * The state is *linear*: `step` consumes it and returns its successor, updating it in place
 * so appending to a long log costs O(1) (ADR 0030). A caller must not use a state after
 * passing it to `step`; `copyState` exists for tests that want to compare before and after.
 */
import { decodeMembership, emptyMembership, encodeMembership, isMember, isVoter, quorum } from "./Membership.js"
import * as Log from "./RaftLog.js"
import type {
  AppendRequest,
  AppendResponse,
  Entry,
  HardState,
  Input,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  Membership,
  MembershipChange,
  Message,
  MessageBody,
  NodeId,
  Options,
  Output,
  RejectReason,
  Role,
  Snapshot,
  VoteRequest,
  VoteResponse
} from "./Types.js"

export interface Progress {
  match: number
  next: number
  /** probe: one append at a time until the follower's log position is known; replicate: pipelined. */
  mode: "probe" | "replicate" | "snapshot"
  probeSent: boolean
  /** Last index of every append in flight, ascending (replicate mode). */
  inflight: Array<number>
  /** Heard from since the last CheckQuorum round. */
  active: boolean
  /** Match at the last heartbeat round; rounds without progress while appends are outstanding. */
  roundMatch: number
  stalledRounds: number
  /** Highest read context this follower has echoed in the current term. */
  ackedContext: number
}

interface PendingRead {
  readonly reqId: number
  readonly index: number
  readonly context: number
}

export interface RaftState {
  readonly id: NodeId
  readonly options: Options
  term: number
  votedFor: NodeId | null
  role: Role
  leader: NodeId | null
  log: Log.RaftLog
  commitIndex: number
  /** Highest index handed to the runtime in an `Apply` (or covered by a `Restore`). */
  applied: number
  /**
   * Highest log index known to be on stable storage (raised by the runtime's `Synced` input).
   * A leader counts itself toward a commit only up to here, so its appends may leave before
   * its own fsync completes (thesis 10.2.1): the entry still needs a majority of durable copies.
   */
  durableIndex: number
  /** Latest membership in the log (a configuration takes effect as soon as it is appended). */
  membership: Membership
  membershipIndex: number
  electionElapsed: number
  electionTimeout: number
  jitter: number
  heartbeatElapsed: number
  votes: Map<NodeId, boolean>
  progress: Map<NodeId, Progress>
  /** Index of the first entry of the leader's term (its no-op); reads wait until it commits. */
  termStartIndex: number
  readContext: number
  pendingReads: Array<PendingRead>
  readsAwaitingTermCommit: Array<number>
  transfer: { to: NodeId; elapsed: number } | null
}

export interface Persisted {
  readonly hardState: HardState
  readonly snapshot: Snapshot | null
  readonly entries: ReadonlyArray<Entry>
}

export interface StepResult {
  readonly state: RaftState
  readonly outputs: Array<Output>
}

/** The first entry of a fresh cluster, identical on every initial voter, so it needs no election. */
export const bootstrap = (voters: ReadonlyArray<NodeId>): Persisted => ({
  hardState: { term: 1, votedFor: null },
  snapshot: null,
  entries: [{ index: 1, term: 1, kind: "config", data: encodeMembership({ voters, learners: [] }) }]
})

const latestMembership = (log: Log.RaftLog): { membership: Membership; index: number } => {
  for (let i = log.entries.length - 1; i >= 0; i--) {
    const e = log.entries[i]!
    if (e.kind === "config") return { membership: decodeMembership(e.data), index: e.index }
  }
  return { membership: log.snapshot.membership, index: log.snapshot.index }
}

/**
 * Rebuild a node from what storage holds. The runtime restores its state machine from
 * `persisted.snapshot` itself; commit and apply restart at the snapshot index because the
 * commit index is volatile (Figure 2) and is relearned from the leader.
 */
export const init = (id: NodeId, options: Options, persisted: Persisted, jitter = 0): RaftState => {
  const snapshot = persisted.snapshot ?? Log.emptySnapshot
  const log: Log.RaftLog = { snapshot, entries: persisted.entries.filter((e) => e.index > snapshot.index) }
  const latest = latestMembership(log)
  return {
    id,
    options,
    term: persisted.hardState.term,
    votedFor: persisted.hardState.votedFor,
    role: "follower",
    leader: null,
    log,
    commitIndex: snapshot.index,
    applied: snapshot.index,
    // whatever storage handed back is on disk
    durableIndex: Log.lastIndex(log),
    membership: latest.membership,
    membershipIndex: latest.index,
    electionElapsed: 0,
    electionTimeout: options.electionTicks + jitter,
    jitter,
    heartbeatElapsed: 0,
    votes: new Map(),
    progress: new Map(),
    termStartIndex: 0,
    readContext: 0,
    pendingReads: [],
    readsAwaitingTermCommit: [],
    transfer: null
  }
}

/** A deep enough copy for tests that want to keep a "before" state around. */
export const copyState = (s: RaftState): RaftState => ({
  ...s,
  log: { snapshot: s.log.snapshot, entries: [...s.log.entries] },
  votes: new Map(s.votes),
  progress: new Map([...s.progress].map(([k, p]) => [k, { ...p, inflight: [...p.inflight] }])),
  pendingReads: [...s.pendingReads],
  readsAwaitingTermCommit: [...s.readsAwaitingTermCommit],
  transfer: s.transfer === null ? null : { ...s.transfer }
})

// ---------------------------------------------------------------------------------------------
// One step
// ---------------------------------------------------------------------------------------------

/** Scratch space of one step: what must be persisted, sent and handed on, in that order. */
interface Ctx {
  readonly startTerm: number
  readonly startVotedFor: NodeId | null
  dirtyFrom: number
  snapshot: Snapshot | null
  readonly sends: Array<Output>
  readonly effects: Array<Output>
}

export const step = (s: RaftState, input: Input): StepResult => {
  const cx: Ctx = {
    startTerm: s.term,
    startVotedFor: s.votedFor,
    dirtyFrom: Infinity,
    snapshot: null,
    sends: [],
    effects: []
  }
  switch (input._tag) {
    case "Tick":
      tick(s, cx, input.jitter)
      break
    case "Receive":
      receive(s, cx, input.message)
      break
    case "Propose":
      propose(s, cx, input.reqId, input.commands)
      break
    case "ReadIndex":
      readIndex(s, cx, input.reqId)
      break
    case "ChangeMembership":
      changeMembership(s, cx, input.reqId, input.change)
      break
    case "TransferLeadership":
      transferLeadership(s, cx, input.reqId, input.to)
      break
    case "Compact":
      compact(s, cx, input.index, input.data)
      break
    case "Synced":
      s.durableIndex = Log.lastIndex(s.log)
      if (s.role === "leader") maybeCommit(s, cx)
      break
  }
  return { state: s, outputs: finish(s, cx) }
}

const finish = (s: RaftState, cx: Ctx): Array<Output> => {
  // Hand committed entries to the state machine. They stay behind this step's persists.
  if (s.commitIndex > s.applied) {
    // After `Accepted`, so a runtime learns of a proposal before it sees it applied.
    cx.effects.push({ _tag: "Apply", entries: Log.slice(s.log, s.applied + 1, s.commitIndex) })
    s.applied = s.commitIndex
  }
  const persists: Array<Output> = []
  if (s.term !== cx.startTerm || s.votedFor !== cx.startVotedFor) {
    persists.push({ _tag: "PersistHardState", hardState: { term: s.term, votedFor: s.votedFor } })
  }
  if (cx.snapshot !== null) persists.push({ _tag: "PersistSnapshot", snapshot: cx.snapshot })
  if (cx.dirtyFrom !== Infinity) {
    const from = Math.max(cx.dirtyFrom, s.log.snapshot.index + 1)
    persists.push({ _tag: "PersistEntries", from, entries: Log.slice(s.log, from, Log.lastIndex(s.log)) })
  }
  if (persists.length === 0) return cx.sends.length === 0 ? cx.effects : cx.sends.concat(cx.effects)
  if (s.options.bug === "send-before-persist") return cx.sends.concat(persists, cx.effects)
  // A leader's appends go ahead of its persists: they carry its own log, whose durability the
  // leader awaits before counting itself (durableIndex), and a term it persisted before it
  // could win the election. Everything else (votes, acknowledgements) waits for the fsync.
  const early = cx.sends.filter(isEarlySend)
  if (early.length === 0) return persists.concat(cx.sends, cx.effects)
  return early.concat(persists, cx.sends.filter((o) => !isEarlySend(o)), cx.effects)
}

/** Outputs a runtime may act on before the persists that precede them (see `Output`). */
export const isEarlySend = (o: Output): boolean => o._tag === "Send" && o.message.body._tag === "AppendRequest"

const send = (s: RaftState, cx: Ctx, to: NodeId, body: MessageBody, term = s.term): void => {
  cx.sends.push({ _tag: "Send", message: { from: s.id, to, term, body } })
}

const reject = (s: RaftState, cx: Ctx, reqId: number, reason: RejectReason): void => {
  cx.effects.push({ _tag: "Rejected", reqId, reason, leader: s.leader })
}

const appendEntry = (s: RaftState, cx: Ctx, entry: Entry): void => {
  if (entry.index < cx.dirtyFrom) cx.dirtyFrom = entry.index
  if (entry.index <= s.durableIndex) s.durableIndex = entry.index - 1
  Log.append(s.log, entry)
  if (entry.kind === "config") {
    s.membership = decodeMembership(entry.data)
    s.membershipIndex = entry.index
  }
}

const truncateFrom = (s: RaftState, cx: Ctx, from: number): void => {
  if (from < cx.dirtyFrom) cx.dirtyFrom = from
  if (from <= s.durableIndex) s.durableIndex = from - 1
  Log.truncateFrom(s.log, from)
  if (s.membershipIndex >= from) {
    const latest = latestMembership(s.log)
    s.membership = latest.membership
    s.membershipIndex = latest.index
  }
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

const resetElectionTimer = (s: RaftState): void => {
  s.electionElapsed = 0
  s.electionTimeout = s.options.electionTicks + s.jitter
}

const tick = (s: RaftState, cx: Ctx, jitter: number): void => {
  s.jitter = jitter
  if (s.role === "leader") return tickLeader(s, cx)
  s.electionElapsed++
  if (s.electionElapsed >= s.electionTimeout && isVoter(s.membership, s.id)) {
    if (s.options.preVote) campaignPre(s, cx)
    else campaign(s, cx, false)
  }
}

const tickLeader = (s: RaftState, cx: Ctx): void => {
  s.electionElapsed++
  s.heartbeatElapsed++
  if (s.transfer !== null && ++s.transfer.elapsed >= s.options.electionTicks) s.transfer = null
  if (s.electionElapsed >= s.options.electionTicks) {
    s.electionElapsed = 0
    // CheckQuorum: a leader that has not heard from a majority in a whole election timeout
    // steps down, so a partitioned leader stops serving and clients find the new one.
    if (s.options.checkQuorum && !quorumActive(s)) {
      becomeFollower(s, cx, s.term, null)
      return
    }
    for (const p of s.progress.values()) p.active = false
  }
  if (s.heartbeatElapsed >= s.options.heartbeatTicks) {
    s.heartbeatElapsed = 0
    heartbeat(s, cx)
  }
}

const quorumActive = (s: RaftState): boolean => {
  let active = 0
  for (const v of s.membership.voters) {
    if (v === s.id || s.progress.get(v)?.active === true) active++
  }
  return active >= quorum(s.membership)
}

const heartbeat = (s: RaftState, cx: Ctx): void => {
  for (const [peer, p] of s.progress) {
    // Appends or a snapshot may have been lost: after three rounds without progress, probe again.
    const waiting = p.inflight.length > 0 || p.mode === "snapshot"
    p.stalledRounds = waiting && p.match === p.roundMatch ? p.stalledRounds + 1 : 0
    p.roundMatch = p.match
    if (p.stalledRounds >= 3) {
      p.stalledRounds = 0
      toProbe(p)
      p.next = p.match + 1
    }
    if (p.mode === "probe") {
      p.probeSent = false
      sendAppend(s, cx, peer, p)
    } else if (p.mode === "replicate" && p.next <= Log.lastIndex(s.log) && canSend(s, p)) {
      sendAppend(s, cx, peer, p)
    } else sendEmptyAppend(s, cx, peer, p) // keeps a follower receiving a snapshot from timing out
  }
}

// ---------------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------------

const becomeFollower = (s: RaftState, cx: Ctx, term: number, leader: NodeId | null): void => {
  if (term > s.term) {
    s.term = term
    s.votedFor = null
  }
  const wasLeader = s.role === "leader"
  s.role = "follower"
  s.leader = leader
  resetElectionTimer(s)
  if (wasLeader) {
    for (const r of s.pendingReads) reject(s, cx, r.reqId, "not-leader")
    for (const reqId of s.readsAwaitingTermCommit) reject(s, cx, reqId, "not-leader")
    s.pendingReads = []
    s.readsAwaitingTermCommit = []
    s.progress = new Map()
    s.transfer = null
  }
}

const voteRequest = (s: RaftState, preVote: boolean, transfer: boolean): VoteRequest => ({
  _tag: "VoteRequest",
  preVote,
  lastLogIndex: Log.lastIndex(s.log),
  lastLogTerm: Log.lastTerm(s.log),
  transfer
})

/** PreVote (thesis 9.6): ask whether we could win before disturbing anyone's term. */
const campaignPre = (s: RaftState, cx: Ctx): void => {
  s.role = "precandidate"
  s.leader = null
  s.votes = new Map([[s.id, true]])
  resetElectionTimer(s)
  if (quorum(s.membership) <= 1) return campaign(s, cx, false)
  const req = voteRequest(s, true, false)
  for (const v of s.membership.voters) if (v !== s.id) send(s, cx, v, req, s.term + 1)
}

const campaign = (s: RaftState, cx: Ctx, transfer: boolean): void => {
  s.term++
  s.votedFor = s.id
  s.role = "candidate"
  s.leader = null
  s.votes = new Map([[s.id, true]])
  resetElectionTimer(s)
  if (quorum(s.membership) <= 1) return becomeLeader(s, cx)
  const req = voteRequest(s, false, transfer)
  for (const v of s.membership.voters) if (v !== s.id) send(s, cx, v, req)
}

const newProgress = (next: number): Progress => ({
  match: 0,
  next,
  mode: "probe",
  probeSent: false,
  inflight: [],
  active: true,
  roundMatch: 0,
  stalledRounds: 0,
  ackedContext: 0
})

const becomeLeader = (s: RaftState, cx: Ctx): void => {
  s.role = "leader"
  s.leader = s.id
  s.transfer = null
  s.heartbeatElapsed = 0
  s.electionElapsed = 0
  s.readContext = 0
  const next = Log.lastIndex(s.log) + 1
  s.progress = new Map()
  for (const id of [...s.membership.voters, ...s.membership.learners]) {
    if (id !== s.id) s.progress.set(id, newProgress(next))
  }
  // A no-op of the new term: entries of earlier terms commit only once it does (section 5.4.2).
  s.termStartIndex = next
  if (s.options.bug !== "commit-previous-term") {
    appendEntry(s, cx, { term: s.term, index: next, kind: "noop", data: new Uint8Array(0) })
  }
  broadcastAppend(s, cx)
  maybeCommit(s, cx)
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

const receive = (s: RaftState, cx: Ctx, m: Message): void => {
  const body = m.body
  if (m.term > s.term) {
    if (body._tag === "VoteRequest") {
      // A voter that heard from a live leader within the minimum election timeout ignores
      // candidates (thesis 4.2.3): removed servers and flaky nodes cannot depose a healthy leader.
      const inLease = s.options.checkQuorum && s.leader !== null && s.electionElapsed < s.options.electionTicks
      if (inLease && !body.transfer) return
      if (!body.preVote) becomeFollower(s, cx, m.term, null)
    } else if (body._tag === "VoteResponse" && body.preVote && body.granted) {
      // A granted pre-vote carries the term we asked about; it is not news of a newer term.
    } else {
      const fromLeader = body._tag === "AppendRequest" || body._tag === "InstallSnapshotRequest" ||
        body._tag === "TimeoutNow"
      becomeFollower(s, cx, m.term, fromLeader ? m.from : null)
    }
  } else if (m.term < s.term) {
    // Tell a stale leader or pre-candidate about the newer term so it steps down; ignore the rest.
    if (body._tag === "AppendRequest" || body._tag === "InstallSnapshotRequest") {
      send(s, cx, m.from, {
        _tag: "AppendResponse",
        success: false,
        matchIndex: 0,
        conflictIndex: 0,
        conflictTerm: 0,
        context: 0
      })
    } else if (body._tag === "VoteRequest" && body.preVote) {
      send(s, cx, m.from, { _tag: "VoteResponse", preVote: true, granted: false })
    }
    return
  }
  switch (body._tag) {
    case "VoteRequest":
      return handleVoteRequest(s, cx, m, body)
    case "VoteResponse":
      return handleVoteResponse(s, cx, m, body)
    case "AppendRequest":
      return handleAppend(s, cx, m, body)
    case "AppendResponse":
      return handleAppendResponse(s, cx, m, body)
    case "InstallSnapshotRequest":
      return handleInstallSnapshot(s, cx, m, body)
    case "InstallSnapshotResponse":
      return handleInstallSnapshotResponse(s, cx, m, body)
    case "TimeoutNow":
      if (s.role === "follower" && isVoter(s.membership, s.id)) campaign(s, cx, true)
      return
  }
}

/** Election restriction (section 5.4.1): only vote for a log at least as up to date as ours. */
const logUpToDate = (s: RaftState, lastLogTerm: number, lastLogIndex: number): boolean => {
  const myTerm = Log.lastTerm(s.log)
  return lastLogTerm > myTerm || (lastLogTerm === myTerm && lastLogIndex >= Log.lastIndex(s.log))
}

const handleVoteRequest = (s: RaftState, cx: Ctx, m: Message, req: VoteRequest): void => {
  const upToDate = logUpToDate(s, req.lastLogTerm, req.lastLogIndex) || s.options.bug === "ignore-election-restriction"
  if (req.preVote) {
    const granted = m.term > s.term && upToDate
    send(s, cx, m.from, { _tag: "VoteResponse", preVote: true, granted }, granted ? m.term : s.term)
    return
  }
  const free = s.votedFor === null || s.votedFor === m.from || s.options.bug === "double-vote"
  const granted = free && upToDate && s.role !== "leader"
  if (granted) {
    s.votedFor = m.from
    resetElectionTimer(s)
  }
  send(s, cx, m.from, { _tag: "VoteResponse", preVote: false, granted })
}

const countVotes = (s: RaftState): { granted: number; rejected: number } => {
  let granted = 0
  let rejected = 0
  for (const v of s.membership.voters) {
    const vote = s.votes.get(v)
    if (vote === true) granted++
    else if (vote === false) rejected++
  }
  return { granted, rejected }
}

const handleVoteResponse = (s: RaftState, cx: Ctx, m: Message, res: VoteResponse): void => {
  if (res.preVote) {
    if (s.role !== "precandidate" || m.term !== s.term + 1 && res.granted) return
  } else if (s.role !== "candidate") return
  s.votes.set(m.from, res.granted)
  const { granted, rejected } = countVotes(s)
  const q = quorum(s.membership)
  if (granted >= q) {
    if (res.preVote) campaign(s, cx, false)
    else becomeLeader(s, cx)
  } else if (rejected >= q) becomeFollower(s, cx, s.term, null)
}

const handleAppend = (s: RaftState, cx: Ctx, m: Message, req: AppendRequest): void => {
  if (s.role !== "follower") becomeFollower(s, cx, s.term, m.from)
  s.leader = m.from
  s.electionElapsed = 0
  let prev = req.prevLogIndex
  let entries = req.entries
  const snapIndex = s.log.snapshot.index
  if (prev < snapIndex) {
    // Everything up to our snapshot is committed and therefore identical to the leader's log.
    const skip = snapIndex - prev
    if (skip >= entries.length) {
      sendAppendResponse(s, cx, m.from, true, snapIndex, req.context)
      return
    }
    entries = entries.slice(skip)
    prev = snapIndex
  } else {
    const last = Log.lastIndex(s.log)
    if (prev > last) {
      sendAppendResponse(s, cx, m.from, false, 0, req.context, last + 1, 0)
      return
    }
    const t = Log.termAt(s.log, prev)
    if (t !== req.prevLogTerm && s.options.bug !== "skip-consistency-check") {
      // Fast backtracking: name the conflicting term and where it starts in our log.
      sendAppendResponse(s, cx, m.from, false, 0, req.context, Log.firstIndexOfTerm(s.log, t), t)
      return
    }
  }
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    const last = Log.lastIndex(s.log)
    if (e.index <= last) {
      if (Log.termAt(s.log, e.index) === e.term) continue
      // A conflict: delete the existing entry and all that follow it (Figure 2, receiver rule 3).
      truncateFrom(s, cx, e.index)
    }
    appendEntry(s, cx, e)
  }
  const lastNew = prev + entries.length
  if (req.leaderCommit > s.commitIndex) s.commitIndex = Math.max(s.commitIndex, Math.min(req.leaderCommit, lastNew))
  sendAppendResponse(s, cx, m.from, true, lastNew, req.context)
}

const sendAppendResponse = (
  s: RaftState,
  cx: Ctx,
  to: NodeId,
  success: boolean,
  matchIndex: number,
  context: number,
  conflictIndex = 0,
  conflictTerm = 0
): void => {
  const body: AppendResponse = { _tag: "AppendResponse", success, matchIndex, conflictIndex, conflictTerm, context }
  send(s, cx, to, body)
}

const toProbe = (p: Progress): void => {
  p.mode = "probe"
  p.probeSent = false
  p.inflight = []
}

const handleAppendResponse = (s: RaftState, cx: Ctx, m: Message, res: AppendResponse): void => {
  if (s.role !== "leader") return
  const p = s.progress.get(m.from)
  if (p === undefined) return
  p.active = true
  if (res.context > p.ackedContext) {
    p.ackedContext = res.context
    maybeServeReads(s, cx)
  }
  if (res.success) {
    if (res.matchIndex > p.match) p.match = res.matchIndex
    if (p.next <= p.match) p.next = p.match + 1
    let drop = 0
    while (drop < p.inflight.length && p.inflight[drop]! <= p.match) drop++
    if (drop > 0) p.inflight.splice(0, drop)
    if (p.mode === "probe") {
      p.mode = "replicate"
      p.next = p.match + 1
      p.inflight = []
    }
    maybeCommit(s, cx)
    if (s.role !== "leader") return
    if (s.transfer !== null && s.transfer.to === m.from && p.match === Log.lastIndex(s.log)) {
      send(s, cx, m.from, { _tag: "TimeoutNow" })
    }
  } else {
    // A stale-term reply (its term was handled above), or a heartbeat bounced while a snapshot is on its way.
    if (res.conflictIndex === 0 || p.mode === "snapshot") return
    let next = res.conflictIndex
    if (res.conflictTerm > 0) {
      // If we hold entries of the follower's conflicting term, they match; resume after our last one.
      const li = Log.lastIndexOfTerm(s.log, res.conflictTerm)
      if (li > 0) next = li + 1
    }
    p.next = Math.max(p.match + 1, Math.min(next, Log.lastIndex(s.log) + 1))
    toProbe(p)
  }
  while (canSend(s, p) && (p.next <= Log.lastIndex(s.log) || p.mode === "probe")) sendAppend(s, cx, m.from, p)
}

const handleInstallSnapshot = (s: RaftState, cx: Ctx, m: Message, req: InstallSnapshotRequest): void => {
  if (s.role !== "follower") becomeFollower(s, cx, s.term, m.from)
  s.leader = m.from
  s.electionElapsed = 0
  const snapshot: Snapshot = {
    index: req.lastIncludedIndex,
    term: req.lastIncludedTerm,
    membership: decodeMembership(req.configuration),
    data: req.data
  }
  const respond = (index: number) => {
    const body: InstallSnapshotResponse = { _tag: "InstallSnapshotResponse", lastIncludedIndex: index, success: true }
    send(s, cx, m.from, body)
  }
  if (snapshot.index <= s.commitIndex) return respond(s.commitIndex)
  if (Log.termAt(s.log, snapshot.index) === snapshot.term) {
    // Our log already continues this snapshot: keep the suffix (section 7).
    Log.compactTo(s.log, snapshot)
  } else {
    s.log = { snapshot, entries: [] }
    cx.dirtyFrom = Math.min(cx.dirtyFrom, snapshot.index + 1)
  }
  // the snapshot and what is left of the log are durable only after the next sync
  s.durableIndex = Math.min(s.durableIndex, snapshot.index - 1)
  cx.snapshot = snapshot
  const latest = latestMembership(s.log)
  s.membership = latest.membership
  s.membershipIndex = latest.index
  s.commitIndex = snapshot.index
  s.applied = snapshot.index
  cx.effects.push({ _tag: "Restore", snapshot })
  respond(snapshot.index)
}

const handleInstallSnapshotResponse = (
  s: RaftState,
  cx: Ctx,
  m: Message,
  res: InstallSnapshotResponse
): void => {
  if (s.role !== "leader") return
  const p = s.progress.get(m.from)
  if (p === undefined) return
  p.active = true
  if (res.lastIncludedIndex > p.match) p.match = res.lastIncludedIndex
  p.next = p.match + 1
  toProbe(p)
  maybeCommit(s, cx)
  if (s.role === "leader") sendAppend(s, cx, m.from, p)
}

// ---------------------------------------------------------------------------------------------
// Replication
// ---------------------------------------------------------------------------------------------

const canSend = (s: RaftState, p: Progress): boolean =>
  p.mode === "probe" ? !p.probeSent : p.mode === "replicate" && p.inflight.length < s.options.maxInflight

const sendAppend = (s: RaftState, cx: Ctx, peer: NodeId, p: Progress): void => {
  const log = s.log
  if (p.next <= log.snapshot.index) {
    const snap = log.snapshot
    p.mode = "snapshot"
    p.inflight = []
    send(s, cx, peer, {
      _tag: "InstallSnapshotRequest",
      lastIncludedIndex: snap.index,
      lastIncludedTerm: snap.term,
      configuration: encodeMembership(snap.membership),
      offset: 0,
      data: snap.data,
      done: true
    })
    return
  }
  const prev = p.next - 1
  const last = Log.lastIndex(log)
  let to = Math.min(last, prev + s.options.maxEntriesPerMessage)
  // Flow control by bytes: at least one entry, then stop before the budget is exceeded.
  if (to > prev) {
    let bytes = 0
    for (let i = prev + 1; i <= to; i++) {
      bytes += Log.entryAt(log, i)!.data.length
      if (bytes > s.options.maxBytesPerMessage && i > prev + 1) {
        to = i - 1
        break
      }
    }
  }
  const entries = to > prev ? Log.slice(log, prev + 1, to) : []
  send(s, cx, peer, {
    _tag: "AppendRequest",
    prevLogIndex: prev,
    prevLogTerm: Log.termAt(log, prev),
    entries,
    leaderCommit: s.commitIndex,
    context: s.readContext
  })
  if (p.mode === "replicate" && entries.length > 0) {
    p.next = to + 1
    p.inflight.push(to)
  } else p.probeSent = true
}

/** A heartbeat: no entries, anchored at an index the follower is known to hold. */
const sendEmptyAppend = (s: RaftState, cx: Ctx, peer: NodeId, p: Progress): void => {
  const prev = Math.max(p.match, s.log.snapshot.index)
  send(s, cx, peer, {
    _tag: "AppendRequest",
    prevLogIndex: prev,
    prevLogTerm: Log.termAt(s.log, prev),
    entries: [],
    leaderCommit: s.commitIndex,
    context: s.readContext
  })
}

const broadcastAppend = (s: RaftState, cx: Ctx): void => {
  const last = Log.lastIndex(s.log)
  for (const [peer, p] of s.progress) {
    while (canSend(s, p) && p.next <= last) sendAppend(s, cx, peer, p)
  }
}

/** Commit by counting, but only entries of the current term (section 5.4.2, Figure 8). */
const maybeCommit = (s: RaftState, cx: Ctx): void => {
  const voters = s.membership.voters
  if (voters.length === 0) return
  const matches: Array<number> = []
  const self = s.options.bug === "commit-unsynced-self"
    ? Log.lastIndex(s.log)
    : Math.min(Log.lastIndex(s.log), s.durableIndex)
  for (const v of voters) matches.push(v === s.id ? self : (s.progress.get(v)?.match ?? 0))
  matches.sort((a, b) => b - a)
  const n = matches[quorum(s.membership) - 1]!
  if (n <= s.commitIndex) return
  if (Log.termAt(s.log, n) !== s.term && s.options.bug !== "commit-previous-term") return
  s.commitIndex = n
  if (s.readsAwaitingTermCommit.length > 0 && s.commitIndex >= s.termStartIndex) {
    const waiting = s.readsAwaitingTermCommit
    s.readsAwaitingTermCommit = []
    for (const reqId of waiting) registerRead(s, cx, reqId)
  }
  // A leader removed from the configuration steps down once the removal is committed (thesis 4.2.2).
  if (!isVoter(s.membership, s.id) && s.commitIndex >= s.membershipIndex) becomeFollower(s, cx, s.term, null)
}

// ---------------------------------------------------------------------------------------------
// Client requests
// ---------------------------------------------------------------------------------------------

const propose = (s: RaftState, cx: Ctx, reqId: number, commands: ReadonlyArray<Uint8Array>): void => {
  if (s.role !== "leader") return reject(s, cx, reqId, "not-leader")
  if (s.transfer !== null) return reject(s, cx, reqId, "transferring")
  const first = Log.lastIndex(s.log) + 1
  for (let i = 0; i < commands.length; i++) {
    appendEntry(s, cx, { term: s.term, index: first + i, kind: "command", data: commands[i]! })
  }
  cx.effects.push({ _tag: "Accepted", reqId, index: first, term: s.term })
  broadcastAppend(s, cx)
  maybeCommit(s, cx)
}

/** ReadIndex (thesis 6.4): remember the commit index, confirm leadership with a heartbeat round. */
const readIndex = (s: RaftState, cx: Ctx, reqId: number): void => {
  if (s.options.bug === "stale-read" && s.role === "leader") {
    cx.effects.push({ _tag: "ReadReady", reqId, index: s.commitIndex })
    return
  }
  if (s.role !== "leader") return reject(s, cx, reqId, "not-leader")
  if (s.commitIndex < s.termStartIndex) {
    s.readsAwaitingTermCommit.push(reqId)
    return
  }
  registerRead(s, cx, reqId)
}

const registerRead = (s: RaftState, cx: Ctx, reqId: number): void => {
  if (quorum(s.membership) <= 1 && isVoter(s.membership, s.id)) {
    cx.effects.push({ _tag: "ReadReady", reqId, index: s.commitIndex })
    return
  }
  s.readContext++
  s.pendingReads.push({ reqId, index: s.commitIndex, context: s.readContext })
  for (const [peer, p] of s.progress) {
    if (isVoter(s.membership, peer)) sendEmptyAppend(s, cx, peer, p)
  }
}

const maybeServeReads = (s: RaftState, cx: Ctx): void => {
  if (s.pendingReads.length === 0) return
  const q = quorum(s.membership)
  let served = 0
  for (const r of s.pendingReads) {
    let acks = isVoter(s.membership, s.id) ? 1 : 0
    for (const v of s.membership.voters) {
      if (v !== s.id && (s.progress.get(v)?.ackedContext ?? 0) >= r.context) acks++
    }
    if (acks < q) break
    cx.effects.push({ _tag: "ReadReady", reqId: r.reqId, index: r.index })
    served++
  }
  if (served > 0) s.pendingReads.splice(0, served)
}

const changeMembership = (s: RaftState, cx: Ctx, reqId: number, change: MembershipChange): void => {
  if (s.role !== "leader") return reject(s, cx, reqId, "not-leader")
  if (s.transfer !== null) return reject(s, cx, reqId, "transferring")
  // One change at a time, and only after an entry of this term committed: the single-server
  // change is only safe once the leader's own configuration is settled (thesis 4.1, and the
  // correction to it on the raft-dev list).
  if (s.membershipIndex > s.commitIndex || s.commitIndex < s.termStartIndex) {
    return reject(s, cx, reqId, "config-pending")
  }
  const m = s.membership
  let next: Membership
  switch (change._tag) {
    case "AddLearner":
      if (isMember(m, change.node)) return reject(s, cx, reqId, "invalid")
      next = { voters: m.voters, learners: [...m.learners, change.node] }
      break
    case "Promote": {
      if (!m.learners.includes(change.node)) return reject(s, cx, reqId, "invalid")
      const p = s.progress.get(change.node)
      if (p === undefined || p.match < s.commitIndex) return reject(s, cx, reqId, "not-caught-up")
      next = { voters: [...m.voters, change.node], learners: m.learners.filter((x) => x !== change.node) }
      break
    }
    case "Remove":
      if (!isMember(m, change.node)) return reject(s, cx, reqId, "invalid")
      if (m.voters.length === 1 && m.voters[0] === change.node) return reject(s, cx, reqId, "invalid")
      next = {
        voters: m.voters.filter((x) => x !== change.node),
        learners: m.learners.filter((x) => x !== change.node)
      }
      break
  }
  const index = Log.lastIndex(s.log) + 1
  appendEntry(s, cx, { term: s.term, index, kind: "config", data: encodeMembership(next) })
  for (const id of [...next.voters, ...next.learners]) {
    if (id !== s.id && !s.progress.has(id)) s.progress.set(id, newProgress(index))
  }
  for (const id of [...s.progress.keys()]) if (!isMember(next, id)) s.progress.delete(id)
  cx.effects.push({ _tag: "Accepted", reqId, index, term: s.term })
  broadcastAppend(s, cx)
  maybeCommit(s, cx)
}

/** Leadership transfer (thesis 3.10): stop taking proposals, catch the target up, then TimeoutNow. */
const transferLeadership = (s: RaftState, cx: Ctx, reqId: number, to: NodeId): void => {
  if (s.role !== "leader") return reject(s, cx, reqId, "not-leader")
  const p = s.progress.get(to)
  if (to === s.id || p === undefined || !isVoter(s.membership, to)) return reject(s, cx, reqId, "invalid")
  s.transfer = { to, elapsed: 0 }
  cx.effects.push({ _tag: "Accepted", reqId, index: Log.lastIndex(s.log), term: s.term })
  if (p.match === Log.lastIndex(s.log)) send(s, cx, to, { _tag: "TimeoutNow" })
  else if (canSend(s, p)) sendAppend(s, cx, to, p)
}

const compact = (s: RaftState, cx: Ctx, index: number, data: Uint8Array): void => {
  if (index <= s.log.snapshot.index || index > s.applied) return
  let membership = s.log.snapshot.membership
  for (let i = index; i > s.log.snapshot.index; i--) {
    const e = Log.entryAt(s.log, i)!
    if (e.kind === "config") {
      membership = decodeMembership(e.data)
      break
    }
  }
  const snapshot: Snapshot = { index, term: Log.termAt(s.log, index), membership, data }
  Log.compactTo(s.log, snapshot)
  cx.snapshot = snapshot
}

export { emptyMembership }
