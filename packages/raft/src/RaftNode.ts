/**
 * A Raft node on Effect: the pure core driven by plain turns, with Effect at its edges; all
 * owned by the caller's scope (ADR 0095).
 * - one *turn* at a time owns the core state: it takes the requests waiting in the mailbox
 *   (ticks, inbound messages, client requests; consecutive proposals become one batch), a
 *   plain array fed by the transport's receive callback, the ticker and the client API;
 * - it obeys the persistence contract with group commit: all requests of one turn are stepped,
 *   their persists written and synced once, and only then are the outputs that follow a
 *   persist performed (sends, applies, acknowledgements), except a leader's appends, which
 *   leave at once and replicate while the leader's own fsync runs (ADR 0037);
 * - a turn is a generator run by plain calls: it hands messages to the transport, writes the
 *   log and applies committed entries without an effect when the storage, transport and state
 *   machine offer the forms for it (`writeNow`, `syncNow`, `sendNow`, `applyNow`), and yields
 *   only where it must wait: the log's sync, and the rare effects (an `apply` without
 *   `applyNow`, a restore, a read's query, a snapshot's capture), each run on a fiber of the
 *   node's runtime and continued from its completion;
 * - a snapshot is serialized and saved on a fiber of its own before the log is compacted to
 *   it (one at a time), and a snapshot kept as the storage's stand-in is read back and sent on
 *   a fiber of its own, one per peer;
 * - a ticker fiber on the Effect `Clock` feeds ticks with jitter from the Effect `Random`;
 * - requests are `Effect.async` calls answered from the turn.
 * So a message, a proposal or an entry wakes no fiber at all but the caller's.
 * Closing the scope stops the turns, interrupts the fibers and fails requests still waiting
 * with `NodeStopped`; so does a storage failure, which continuing would turn into a broken
 * Raft node.
 */
import * as Bytes from "@trading/domain/Bytes"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import { decodeMembership, emptyMembership } from "./core/Membership.js"
import * as Core from "./core/RaftCore.js"
import * as Log from "./core/RaftLog.js"
import type {
  Entry,
  Input,
  Membership,
  MembershipChange,
  Message,
  NodeId,
  Options,
  Output,
  Role,
  Snapshot
} from "./core/Types.js"
import { defaultOptions } from "./core/Types.js"
import {
  MembershipRejected,
  NodeStopped,
  NotLeader,
  OutcomeUnknown,
  ProposalDropped,
  StorageError,
  TransferFailed
} from "./Errors.js"
import * as LogBytes from "./internal/LogBytes.js"
import { isPersist, type PersistOutput } from "./internal/MemoryLogStore.js"
import type { StateMachine } from "./StateMachine.js"
import { Storage } from "./Storage.js"
import { Transport } from "./Transport.js"

export interface RaftNodeConfig {
  readonly id: NodeId
  /** Voters of a brand-new cluster, used only when storage is empty. A joining node omits it. */
  readonly bootstrap?: ReadonlyArray<NodeId> | undefined
  readonly options?: Partial<Options> | undefined
  /** Length of one core tick (default 10 ms): the election timeout is options.electionTicks ticks. */
  readonly tick?: Duration.DurationInput | undefined
  /** Take a state machine snapshot and compact the log after this many applied entries (default 1024). */
  readonly snapshotEvery?: number | undefined
  /**
   * ... or once the entries applied since the last snapshot hold this many bytes of commands
   * (default 16 MiB): the log is kept in memory until compaction, so large entries must not
   * let it grow with the entry count alone.
   */
  readonly snapshotBytes?: number | undefined
  /**
   * Stretch each snapshot's thresholds by a random factor in [1, 1 + snapshotSpread) (default
   * 0: exact). Nodes that apply the same entries would otherwise all snapshot at the same
   * index, i.e. at the same moment: on shared disks (nodes on one machine, or one storage
   * array) their writes then stall every node's log fsync at once, and with it every commit.
   */
  readonly snapshotSpread?: number | undefined
  /** Most requests taken from the mailbox per turn; consecutive proposals in it form one batch. */
  readonly maxBatch?: number | undefined
  /**
   * Size of the segments the log's entry bytes are copied into and reused from after a
   * compaction (default 1 MiB; internal/LogBytes.ts, ADR 0100). Tests make it tiny.
   */
  readonly logSegmentBytes?: number | undefined
}

export interface Status {
  readonly id: NodeId
  readonly role: Role
  readonly term: number
  readonly leader: NodeId | null
  readonly commitIndex: number
  readonly lastIndex: number
  readonly membership: Membership
}

export type ProposeError = NotLeader | ProposalDropped | OutcomeUnknown | NodeStopped
export type ReadError = NotLeader | NodeStopped
export type MembershipError = NotLeader | MembershipRejected | ProposalDropped | OutcomeUnknown | NodeStopped

export interface RaftNode {
  readonly id: NodeId
  /** Replicate a command; succeeds with the state machine's answer once committed and applied here. */
  readonly propose: (command: Uint8Array) => Effect.Effect<Uint8Array, ProposeError>
  /**
   * `propose` as a plain call, for a proposer on a callback path (the raft-node's group
   * commit, ADR 0096): `done` gets the answer `propose` would succeed or fail with, once,
   * never before `proposeNow` returns (always from a microtask of its own, so a callback that
   * throws cannot break the node's turn). No fiber and no `raft.propose` span: the caller
   * makes the spans it wants.
   */
  readonly proposeNow: (command: Uint8Array, done: (exit: Exit.Exit<Uint8Array, ProposeError>) => void) => void
  /** A linearizable read (ReadIndex): reflects every write acknowledged before it started. */
  readonly read: (query: Uint8Array) => Effect.Effect<Uint8Array, ReadError>
  /** Add a server as a learner, wait until it has caught up, then promote it to voter. */
  readonly addServer: (id: NodeId) => Effect.Effect<void, MembershipError>
  readonly removeServer: (id: NodeId) => Effect.Effect<void, MembershipError>
  readonly transferLeadership: (to: NodeId) => Effect.Effect<void, NotLeader | TransferFailed | NodeStopped>
  readonly status: Effect.Effect<Status>
}

/** Proposals and membership changes both wait for their entry to be applied. */
type CommitError = ProposeError | MembershipRejected
type TransferError = NotLeader | TransferFailed | NodeStopped
const isMembershipRejected = (e: CommitError): e is MembershipRejected => e._tag === "MembershipRejected"
/**
 * A proposal's answer, as `propose` and `proposeNow` give it: only membership changes are
 * rejected with MembershipRejected, so for a proposal it would be a defect.
 */
const proposalExit = (exit: Exit.Exit<Uint8Array, CommitError>): Exit.Exit<Uint8Array, ProposeError> =>
  Exit.isFailure(exit) && Option.exists(Cause.failureOption(exit.cause), isMembershipRejected)
    ? Exit.die(Cause.squash(exit.cause))
    : exit as Exit.Exit<Uint8Array, ProposeError>
/** How a request is answered: the `resume` of the caller's `Effect.async` (called at most once). */
type Answer<A, E> = (exit: Exit.Exit<A, E>) => void
type Commit = Answer<Uint8Array, CommitError>

type Request =
  | { readonly _tag: "Input"; readonly input: Input }
  | { readonly _tag: "Propose"; readonly command: Uint8Array; readonly done: Commit }
  | { readonly _tag: "Read"; readonly query: Uint8Array; readonly done: Answer<Uint8Array, ReadError> }
  | { readonly _tag: "Change"; readonly change: MembershipChange; readonly done: Commit }
  | { readonly _tag: "Transfer"; readonly to: NodeId; readonly done: Answer<void, TransferError> }

type Waiting =
  | { readonly _tag: "Proposals"; readonly items: ReadonlyArray<Commit> }
  | Exclude<Request, { _tag: "Input" | "Propose" }>

/** Fails what `w` waits for, at once. */
const failWaiting = (w: Waiting, error: NotLeader | NodeStopped): void => {
  const failed = Exit.fail(error)
  switch (w._tag) {
    case "Proposals":
      for (const done of w.items) done(failed)
      return
    case "Read":
    case "Change":
    case "Transfer":
      ;(w.done as Answer<unknown, NotLeader | NodeStopped>)(failed)
      return
  }
}

type ApplyItem =
  | { readonly _tag: "Apply"; readonly entries: ReadonlyArray<Entry> }
  | { readonly _tag: "Restore"; readonly snapshot: Snapshot }
  | {
    readonly _tag: "Read"
    readonly index: number
    readonly query: Uint8Array
    readonly done: Answer<Uint8Array, ReadError>
  }

const statusOf = (s: Core.RaftState): Status => ({
  id: s.id,
  role: s.role,
  term: s.term,
  leader: s.leader,
  commitIndex: s.commitIndex,
  lastIndex: Log.lastIndex(s.log),
  membership: s.membership
})

const empty: Uint8Array = new Uint8Array(0)

/**
 * Where a turn waits (ADR 0095): a function given the turn's continuation, which it calls
 * once with the outcome. The turn is a generator that yields one of these at each point
 * where it cannot go on at once (the sync, and the rare effects); everything else runs in
 * plain calls.
 */
type Suspend = (resume: (exit: Exit.Exit<unknown, StorageError>) => void) => void
type Turn<A = void> = Generator<Suspend, A, unknown>

/** A storage or runtime failure that stops the node (continuing without durability would break Raft). */
class Fatal {
  constructor(readonly cause: Cause.Cause<unknown>) {}
}

export const make = (
  config: RaftNodeConfig,
  stateMachine: StateMachine
): Effect.Effect<RaftNode, StorageError, Storage | Transport | Scope.Scope> =>
  Effect.gen(function*() {
    const storage = yield* Storage
    const transport = yield* Transport
    const scope = yield* Effect.scope
    const runtime = yield* Effect.runtime<never>()
    const id = config.id
    const options: Options = { ...defaultOptions, ...config.options }
    const tick = Duration.decode(config.tick ?? "10 millis")
    const snapshotEvery = config.snapshotEvery ?? 1024
    const snapshotBytes = config.snapshotBytes ?? 16 * 1024 * 1024
    const snapshotSpread = config.snapshotSpread ?? 0
    // NaN or Infinity would make both thresholds unreachable: snapshots would silently stop
    if (!Number.isFinite(snapshotSpread) || snapshotSpread < 0) {
      return yield* Effect.dieMessage(`RaftNode: snapshotSpread must be a finite number >= 0, got ${snapshotSpread}`)
    }
    const stretch = snapshotSpread === 0 ? Effect.succeed(1) : Effect.map(Random.next, (r) => 1 + r * snapshotSpread)
    const maxBatch = config.maxBatch ?? 256
    const jitter = Random.nextIntBetween(0, options.electionTicks)

    let persisted = yield* storage.load
    const fresh = persisted.hardState.term === 0 && persisted.snapshot === null && persisted.entries.length === 0
    if (fresh && config.bootstrap !== undefined) {
      const b = Core.bootstrap(config.bootstrap)
      yield* storage.write([
        { _tag: "PersistHardState", hardState: b.hardState },
        { _tag: "PersistEntries", from: 1, entries: b.entries }
      ])
      yield* storage.sync
      persisted = b
    }
    if (persisted.snapshot !== null) yield* stateMachine.restore(persisted.snapshot.data)
    let state = Core.init(id, options, persisted, yield* jitter)
    /**
     * The log's entry bytes (internal/LogBytes.ts): copied in as entries reach the core, their
     * segments reused after a compaction. Spares up to what the log holds between two snapshots.
     */
    const logBytes = LogBytes.make({ spareBytes: snapshotBytes, segmentBytes: config.logSegmentBytes })
    /** What `status` answers: the state as of the end of the last turn (its writes durable). */
    let published = statusOf(state)

    let mailbox: Array<Request> = []
    const waiting = new Map<number, Waiting>()
    /** Peers a snapshot is being sent to (one at a time each; the core resends what is lost). */
    const sendingSnapshot = new Set<NodeId>()
    const awaiting = new Map<number, { term: number; done: Commit }>()
    let reads: Array<{ index: number; query: Uint8Array; done: Answer<Uint8Array, ReadError> }> = []
    let nextReq = 1
    /** Set when the scope closes or the node fails: no turn starts, requests fail at once. */
    let stopped = false
    /** Cancels the effect a turn waits for, if any (the scope is closing). */
    let cancelWait: (() => void) | undefined

    // --- effects from a turn ---------------------------------------------------------------
    /** A turn waits for `effect`, run on a fiber of its own in the node's runtime. */
    const run = <A>(effect: Effect.Effect<A, StorageError>): Suspend => (resume) => {
      let done = false
      const cancel = Runtime.runCallback(runtime)(effect, {
        onExit: (exit) => {
          done = true
          cancelWait = undefined
          resume(exit)
        }
      })
      // the fiber runs at once, up to its first asynchronous step: it may be done already
      if (!done) cancelWait = () => cancel()
    }
    /** Runs `effect` and answers its value to the turn (a generator's `yield` gives unknown). */
    function* perform<A>(effect: Effect.Effect<A, StorageError>): Turn<A> {
      return (yield run(effect)) as A
    }

    // --- applying ----------------------------------------------------------------------------
    let applied = persisted.snapshot?.index ?? 0
    let snapshotAt = applied
    /** Bytes of the commands applied since the last snapshot (the in-memory log grows with them). */
    let bytesSinceSnapshot = 0
    let snapshotting = false
    /** This snapshot's stretch of the thresholds (snapshotSpread). */
    let stretched = yield* stretch
    // what a snapshot taken now must record besides the data (the core derives the same)
    let appliedTerm = persisted.snapshot?.term ?? 0
    let appliedMembership: Membership = persisted.snapshot?.membership ?? emptyMembership
    function* serveReads(): Turn {
      if (reads.length === 0) return
      const ready = reads.filter((r) => r.index <= applied)
      reads = reads.filter((r) => r.index > applied)
      for (const r of ready) r.done(Exit.succeed(yield* perform(stateMachine.query(r.query))))
    }
    /**
     * The snapshot after `at`'s entries, serialized and saved on a fiber of its own, then
     * compacted to; `held` (the capture's scope) is closed once the parts are written.
     */
    const takeSnapshot = (
      serialize: Effect.Effect<ReadonlyArray<Uint8Array>>,
      held: Scope.CloseableScope,
      at: { index: number; term: number; membership: Membership }
    ) =>
      Effect.gen(function*() {
        const parts = yield* serialize
        // what the log keeps: the data, or the storage's stand-in for it (Storage.snapshotData)
        const kept = yield* storage.saveSnapshot({ ...at, parts }).pipe(
          // the compaction then writes it itself, and fails the node if the disk is gone; a
          // copy, since the parts may change once the capture is released
          Effect.catchAll((e) =>
            Effect.as(
              Effect.logWarning("saving a snapshot ahead of compaction failed", e),
              Bytes.concatFresh(parts)
            )
          )
        )
        push({ _tag: "Input", input: { _tag: "Compact", index: at.index, data: kept } })
      }).pipe(
        Effect.ensuring(Effect.zipRight(Scope.close(held, Exit.void), Effect.sync(() => snapshotting = false)))
      )

    function* applyEntries(entries: ReadonlyArray<Entry>): Turn {
      const now = stateMachine.applyNow
      for (const e of entries) {
        let result: Uint8Array = empty
        if (e.kind === "command") {
          result = now?.(e.data, e.index) ?? (yield* perform(stateMachine.apply(e.data, e.index)))
        }
        bytesSinceSnapshot += e.data.length
        if (e.kind === "config") appliedMembership = decodeMembership(e.data)
        applied = e.index
        appliedTerm = e.term
        const w = awaiting.get(e.index)
        if (w !== undefined) {
          awaiting.delete(e.index)
          w.done(w.term === e.term ? Exit.succeed(result) : Exit.fail(new ProposalDropped({ index: e.index })))
        }
      }
      yield* serveReads()
      if (
        (applied - snapshotAt >= snapshotEvery * stretched || bytesSinceSnapshot >= snapshotBytes * stretched) &&
        !snapshotting
      ) {
        // Capture here, serialize on a fiber of its own: a large state takes long to encode,
        // and the turn (which applies and answers proposals) must not wait for it. The core
        // ignores the compaction if a newer snapshot was installed meanwhile. The snapshot is
        // also written to storage from that fiber, so the compaction finds it durable already
        // and the turn never waits for a write of the whole state.
        const held = yield* perform(Scope.make())
        const serialize = yield* perform(Scope.extend(stateMachine.snapshot, held))
        const at = { index: applied, term: appliedTerm, membership: appliedMembership }
        snapshotAt = applied
        bytesSinceSnapshot = 0
        stretched = yield* perform(stretch)
        snapshotting = true
        yield* perform(Effect.forkIn(takeSnapshot(serialize, held, at), scope))
      }
    }

    function* applyItem(item: ApplyItem): Turn {
      switch (item._tag) {
        case "Apply":
          return yield* applyEntries(item.entries)
        case "Restore":
          yield* perform(stateMachine.restore(item.snapshot.data))
          applied = item.snapshot.index
          appliedTerm = item.snapshot.term
          appliedMembership = item.snapshot.membership
          snapshotAt = applied
          bytesSinceSnapshot = 0
          for (const [index, w] of awaiting) {
            if (index <= applied) {
              awaiting.delete(index)
              w.done(Exit.fail(new OutcomeUnknown({ index })))
            }
          }
          return yield* serveReads()
        case "Read":
          reads.push({ index: item.index, query: item.query, done: item.done })
          return yield* serveReads()
      }
    }

    // --- sending ---------------------------------------------------------------------------
    // The log may keep a storage's stand-in for its snapshot's data (Storage.snapshotData):
    // read it back here, on a fiber of its own, never in a turn. A snapshot the storage no
    // longer holds (replaced by a newer one) is not sent; the core sends the newer.
    const sendSnapshot = (m: Message, body: Extract<Message["body"], { _tag: "InstallSnapshotRequest" }>) =>
      storage.snapshotData(body.lastIncludedIndex, body.data).pipe(
        Effect.flatMap((data) =>
          data === null ? Effect.void : transport.send(data === body.data ? m : { ...m, body: { ...body, data } })
        ),
        Effect.catchAll((e) => Effect.logWarning("reading a snapshot to send failed", e)),
        Effect.ensuring(Effect.sync(() => sendingSnapshot.delete(m.to))),
        Effect.forkIn(scope),
        Effect.asVoid
      )
    const sendNow = transport.sendNow
    function* send(m: Message): Turn {
      const body = m.body
      if (body._tag === "InstallSnapshotRequest") {
        // the peer is still being sent one: this copy would only queue behind it
        if (sendingSnapshot.has(m.to)) return
        sendingSnapshot.add(m.to)
        return yield* perform(sendSnapshot(m, body))
      }
      if (sendNow !== undefined) sendNow(m)
      else yield* perform(transport.send(m))
    }

    // --- the turn ----------------------------------------------------------------------------
    // Outputs are acted on in the core's order: answering requests and sending first, then
    // applying, which may wait for an effect (a state machine's `apply` without `applyNow`).
    const succeed = Exit.succeed(undefined)
    /** Performs an output that never waits; answers the apply it asks for, if any. */
    const settle = (o: Output): ApplyItem | undefined => {
      switch (o._tag) {
        case "Apply":
        case "Restore":
          return o
        case "Accepted": {
          const w = waiting.get(o.reqId)
          waiting.delete(o.reqId)
          if (w === undefined) return
          if (w._tag === "Proposals") {
            for (let i = 0; i < w.items.length; i++) awaiting.set(o.index + i, { term: o.term, done: w.items[i]! })
          } else if (w._tag === "Change") awaiting.set(o.index, { term: o.term, done: w.done })
          else if (w._tag === "Transfer") w.done(succeed)
          return
        }
        case "Rejected": {
          const w = waiting.get(o.reqId)
          waiting.delete(o.reqId)
          if (w === undefined) return
          if (w._tag === "Change" && o.reason !== "not-leader") {
            w.done(Exit.fail(new MembershipRejected({ node: w.change.node, reason: o.reason })))
          } else if (w._tag === "Transfer" && o.reason !== "not-leader") {
            w.done(Exit.fail(new TransferFailed({ to: w.to, reason: o.reason })))
          } else failWaiting(w, new NotLeader({ leader: o.leader }))
          return
        }
        case "ReadReady": {
          const w = waiting.get(o.reqId)
          waiting.delete(o.reqId)
          if (w?._tag === "Read") return { _tag: "Read", index: o.index, query: w.query, done: w.done }
          return
        }
        default:
          return
      }
    }

    /** Performs `outputs`: sends and answers at once, then the applies, in order. */
    function* performAll(outputs: ReadonlyArray<Output>): Turn {
      let applies: Array<ApplyItem> | undefined
      for (const o of outputs) {
        if (o._tag === "Send") yield* send(o.message)
        else {
          const item = settle(o)
          if (item !== undefined) (applies ??= []).push(item)
        }
      }
      if (applies !== undefined) { for (const item of applies) yield* applyItem(item) }
    }

    // Group commit: every request taken from the mailbox in one turn is stepped through the
    // core at once; their persists are written as they come and made durable by ONE sync at
    // the end of the turn. Outputs before the turn's first persist depend on nothing unsynced
    // and are performed at once; every output after it (of this step or a later one, whose
    // state builds on the unsynced write) is held until the sync, keeping the core's order.
    let unsynced = false
    let held: Array<Output> = []

    /** The input with its entry bytes copied into the log's segments: a proposal's commands, an append's entries. */
    const owned = (input: Input): Input => {
      if (input._tag === "Propose") {
        return { ...input, commands: input.commands.map((c) => LogBytes.copy(logBytes, c)) }
      }
      if (input._tag !== "Receive" || input.message.body._tag !== "AppendRequest") return input
      const body = input.message.body
      if (body.entries.length === 0) return input
      const entries = body.entries.map((e) => ({ ...e, data: LogBytes.copy(logBytes, e.data) }))
      return { ...input, message: { ...input.message, body: { ...body, entries } } }
    }

    /**
     * After a turn that moved the log's snapshot (a compaction or an installed snapshot): the
     * segments no entry lies in any more become spares. Entries still to be acted on (outputs
     * held for the next sync) count as in the log.
     */
    const releaseLogBytes = () => {
      const pending: Array<ReadonlyArray<Entry>> = []
      for (const o of held) {
        if (o._tag === "Apply") pending.push(o.entries)
        else if (o._tag === "Send" && o.message.body._tag === "AppendRequest") pending.push(o.message.body.entries)
      }
      LogBytes.release(logBytes, state.log.entries, ...pending)
    }

    const writeNow = storage.writeNow
    function* runStep(input: Input): Turn {
      const result = Core.step(state, owned(input))
      state = result.state
      let persists: Array<PersistOutput> | undefined
      let now: Array<Output> | undefined
      for (const o of result.outputs) {
        if (isPersist(o)) {
          ;(persists ??= []).push(o)
          unsynced = true
        } else if (unsynced && !Core.isEarlySend(o)) held.push(o)
        else (now ??= []).push(o)
      }
      // What may go out now does not depend on this step's writes: the leader's appends leave
      // before its own write and fsync (ADR 0037), and committed entries are applied.
      if (now !== undefined) yield* performAll(now)
      if (persists === undefined) return
      if (writeNow === undefined) return yield* perform(storage.write(persists))
      const error = writeNow(persists)
      if (error !== undefined) throw new Fatal(Cause.fail(error))
    }

    const syncNow = storage.syncNow
    const sync: Suspend = syncNow === undefined ?
      run(storage.sync) :
      (resume) => syncNow((error) => resume(error === undefined ? succeed : Exit.fail(error)))

    /**
     * End of a turn: one sync for everything written, then the outputs that waited on it, then
     * `Synced`, which lets a leader count its own, now durable, log toward commits.
     */
    function* commitTurn(): Turn {
      if (unsynced) {
        yield sync
        unsynced = false
        const ready = held
        held = []
        yield* performAll(ready)
        yield* runStep({ _tag: "Synced" })
      }
      published = statusOf(state)
    }

    const inputFor = (req: Exclude<Request, { _tag: "Propose" }>): Input => {
      if (req._tag === "Input") return req.input
      const reqId = nextReq++
      waiting.set(reqId, req)
      switch (req._tag) {
        case "Read":
          return { _tag: "ReadIndex", reqId }
        case "Change":
          return { _tag: "ChangeMembership", reqId, change: req.change }
        case "Transfer":
          return { _tag: "TransferLeadership", reqId, to: req.to }
      }
    }

    const proposeBatch = (items: Array<Extract<Request, { _tag: "Propose" }>>): Turn => {
      const reqId = nextReq++
      waiting.set(reqId, { _tag: "Proposals", items: items.map((p) => p.done) })
      return runStep({ _tag: "Propose", reqId, commands: items.map((p) => p.command) })
    }

    /** One turn: up to `maxBatch` requests from the mailbox, consecutive proposals as one batch. */
    function* turn(): Turn {
      const snapshotBefore = state.log.snapshot
      const batch = mailbox.length <= maxBatch ? mailbox : mailbox.slice(0, maxBatch)
      mailbox = batch === mailbox ? [] : mailbox.slice(maxBatch)
      let proposals: Array<Extract<Request, { _tag: "Propose" }>> = []
      for (const req of batch) {
        if (req._tag === "Propose") {
          proposals.push(req)
          continue
        }
        if (proposals.length > 0) {
          yield* proposeBatch(proposals)
          proposals = []
        }
        yield* runStep(inputFor(req))
      }
      if (proposals.length > 0) yield* proposeBatch(proposals)
      yield* commitTurn()
      if (state.log.snapshot !== snapshotBefore) releaseLogBytes()
    }

    // --- driving the turns -------------------------------------------------------------------
    // A turn starts in a microtask after a request arrives, so the messages of one socket read
    // (and the requests of one fiber step) share it, and runs in plain calls until it yields
    // a Suspend; its continuation runs where that completes. At most one turn at a time.
    let running = false
    let scheduled = false
    const schedule = () => {
      if (running || scheduled || stopped) return
      scheduled = true
      queueMicrotask(startTurn)
    }
    const push = (req: Request) => {
      if (stopped) return refuse(req)
      mailbox.push(req)
      schedule()
    }
    const startTurn = () => {
      scheduled = false
      if (running || stopped || mailbox.length === 0) return
      running = true
      drive(turn(), undefined)
    }
    /** Runs `gen` from `value` until it ends or waits; resumes itself where a wait completes. */
    const drive = (gen: Turn, value: unknown): void => {
      for (;;) {
        let step: IteratorResult<Suspend, void>
        try {
          step = gen.next(value)
        } catch (error) {
          return fail(error instanceof Fatal ? error.cause : Cause.die(error))
        }
        if (step.done) {
          running = false
          if (mailbox.length > 0) schedule()
          return
        }
        // a wait that completes at once (an effect without async work) continues this loop
        let now: Exit.Exit<unknown, StorageError> | undefined
        let waited = false
        try {
          step.value((exit) => {
            if (stopped) return
            if (!waited) {
              now = exit
              return
            }
            if (Exit.isFailure(exit)) return fail(exit.cause)
            drive(gen, exit.value)
          })
        } catch (error) {
          return fail(Cause.die(error))
        }
        if (now === undefined) {
          waited = true
          return
        }
        const exit: Exit.Exit<unknown, StorageError> = now
        if (Exit.isFailure(exit)) return fail(exit.cause)
        value = exit.value
      }
    }

    const refuse = (req: Request) => {
      const stopping = new NodeStopped({ id })
      if (req._tag === "Propose") req.done(Exit.fail(stopping))
      else if (req._tag !== "Input") failWaiting(req, stopping)
    }
    /** Stops the node for good: every request waiting or still to come fails with `NodeStopped`. */
    const stop = () => {
      if (stopped) return
      stopped = true
      const stopping = new NodeStopped({ id })
      for (const w of waiting.values()) failWaiting(w, stopping)
      waiting.clear()
      for (const a of awaiting.values()) a.done(Exit.fail(stopping))
      awaiting.clear()
      for (const r of reads) r.done(Exit.fail(stopping))
      reads = []
      const left = mailbox
      mailbox = []
      for (const req of left) refuse(req)
      cancelWait?.()
    }
    /** A storage failure (or a defect) stops the node: continuing without durability would break Raft. */
    const fail = (cause: Cause.Cause<unknown>) => {
      stop()
      Runtime.runFork(runtime)(
        Effect.logError(`raft node ${id} stopped: ${describe(cause)}`, cause).pipe(Effect.annotateLogs("raftNode", id))
      )
    }

    yield* Effect.addFinalizer(() => Effect.sync(stop))
    yield* transport.receive(id, (message) => push({ _tag: "Input", input: { _tag: "Receive", message } }))
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.zipRight(
          Effect.sleep(tick),
          Effect.flatMap(jitter, (j) => Effect.sync(() => push({ _tag: "Input", input: { _tag: "Tick", jitter: j } })))
        )
      )
    )

    const request = <A, E>(make: (done: Answer<A, E>) => Request) =>
      Effect.async<A, E>((resume) => {
        push(make(resume))
      })

    const proposeNow = (command: Uint8Array, done: (exit: Exit.Exit<Uint8Array, ProposeError>) => void) =>
      push({
        _tag: "Propose",
        command,
        done: (exit) => queueMicrotask(() => done(proposalExit(exit)))
      })

    const change = (c: MembershipChange) =>
      request<Uint8Array, CommitError>((done) => ({ _tag: "Change", change: c, done }))

    const addServer = (node: NodeId) =>
      Effect.gen(function*() {
        yield* change({ _tag: "AddLearner", node })
        // Promotion waits for the learner to catch up with the commit index (the core checks it).
        const pause = Duration.times(tick, options.heartbeatTicks)
        for (let attempt = 0;; attempt++) {
          const result = yield* Effect.either(change({ _tag: "Promote", node }))
          if (result._tag === "Right") {
            return
          }
          const e = result.left
          const retry = e._tag === "MembershipRejected" &&
            (e.reason === "not-caught-up" || e.reason === "config-pending")
          if (!retry || attempt >= 100) {
            return yield* Effect.fail(e)
          }
          yield* Effect.sleep(pause)
        }
      }).pipe(Effect.withSpan("raft.addServer", { attributes: { node } }))

    const status = Effect.sync(() => published)
    const transferLeadership = (to: NodeId) =>
      Effect.gen(function*() {
        yield* request<void, TransferError>((done) => ({ _tag: "Transfer", to, done }))
        const deadline = options.electionTicks * 2
        for (let i = 0; i < deadline; i++) {
          const s = yield* status
          if (s.leader === to) {
            return
          }
          yield* Effect.sleep(tick)
        }
        return yield* Effect.fail(new TransferFailed({ to, reason: "target did not take over in time" }))
      }).pipe(Effect.withSpan("raft.transferLeadership", { attributes: { to } }))

    const node: RaftNode = {
      id,
      propose: (command) =>
        request<Uint8Array, ProposeError>((done) => ({
          _tag: "Propose",
          command,
          done: (exit) => done(proposalExit(exit))
        })).pipe(Effect.withSpan("raft.propose", { captureStackTrace: false })),
      proposeNow,
      read: (query) =>
        request<Uint8Array, ReadError>((done) => ({ _tag: "Read", query, done })).pipe(
          Effect.withSpan("raft.read", { captureStackTrace: false })
        ),
      addServer,
      removeServer: (node) =>
        Effect.asVoid(change({ _tag: "Remove", node })).pipe(
          Effect.withSpan("raft.removeServer", { attributes: { node } })
        ),
      transferLeadership,
      status
    }
    return node
  })

/** What stopped the node, for its last log line. */
const describe = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some" && failure.value instanceof StorageError) {
    return `storage ${failure.value.op} failed on ${failure.value.path}`
  }
  return "a defect in its turn"
}
