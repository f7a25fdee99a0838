/**
 * A Raft node on Effect: the pure core driven by fibers, all owned by the caller's scope.
 * - the actor fiber owns the core state and takes requests from one mailbox (ticks, inbound
 *   messages, client requests); consecutive proposals become one batch;
 * - it obeys the persistence contract with group commit: all requests of one turn are stepped,
 *   their persists written and synced once, and only then are the outputs that follow a
 *   persist performed (sends, applies, acknowledgements), except a leader's appends, which
 *   leave at once and replicate while the leader's own fsync runs (ADR 0037);
 * - messages to peers are handed to the transport from the actor's turn (it never waits for a
 *   peer), except a snapshot, which a fiber of its own reads back from storage and sends;
 *   messages from peers go from the transport's receiver straight into the mailbox;
 * - committed entries are applied to the state machine in the actor's turn too, which answers
 *   proposals and reads, and after every `snapshotEvery` entries (or `snapshotBytes` of
 *   commands) captures a snapshot, which a fiber of its own serializes and hands to storage
 *   before asking the core to compact the log (one snapshot at a time);
 * - a ticker fiber on the Effect `Clock` feeds ticks with jitter from the Effect `Random`.
 * So a message, a proposal or an entry wakes no fiber but the actor (ADR 0094).
 * Closing the scope interrupts them all and fails requests still waiting with `NodeStopped`.
 */
import * as Bytes from "@trading/domain/Bytes"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
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
  type StorageError,
  TransferFailed
} from "./Errors.js"
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
type Commit = Deferred.Deferred<Uint8Array, CommitError>
type TransferError = NotLeader | TransferFailed | NodeStopped

type Request =
  | { readonly _tag: "Input"; readonly input: Input }
  | { readonly _tag: "Propose"; readonly command: Uint8Array; readonly done: Commit }
  | { readonly _tag: "Read"; readonly query: Uint8Array; readonly done: Deferred.Deferred<Uint8Array, ReadError> }
  | { readonly _tag: "Change"; readonly change: MembershipChange; readonly done: Commit }
  | { readonly _tag: "Transfer"; readonly to: NodeId; readonly done: Deferred.Deferred<void, TransferError> }

type Waiting =
  | { readonly _tag: "Proposals"; readonly items: ReadonlyArray<Commit> }
  | Exclude<Request, { _tag: "Input" | "Propose" }>

/** Fails what `w` waits for, at once (called on the actor's fiber or in the finalizer). */
const failWaiting = (w: Waiting, error: NotLeader | NodeStopped): void => {
  const failed = Exit.fail(error)
  switch (w._tag) {
    case "Proposals":
      for (const d of w.items) Deferred.unsafeDone(d, failed)
      return
    case "Read":
    case "Change":
    case "Transfer":
      Deferred.unsafeDone(w.done as Deferred.Deferred<unknown, NotLeader | NodeStopped>, failed)
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
    readonly done: Deferred.Deferred<Uint8Array, ReadError>
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

const empty = new Uint8Array(0)

export const make = (
  config: RaftNodeConfig,
  stateMachine: StateMachine
): Effect.Effect<RaftNode, StorageError, Storage | Transport | Scope.Scope> =>
  Effect.gen(function*() {
    const storage = yield* Storage
    const transport = yield* Transport
    const scope = yield* Effect.scope
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

    const mailbox = yield* Queue.unbounded<Request>()
    const status = yield* Ref.make(statusOf(state))
    const waiting = new Map<number, Waiting>()
    /** Peers a snapshot is being sent to (one at a time each; the core resends what is lost). */
    const sendingSnapshot = new Set<NodeId>()
    const awaiting = new Map<number, { term: number; done: Commit }>()
    let reads: Array<{ index: number; query: Uint8Array; done: Deferred.Deferred<Uint8Array, ReadError> }> = []
    let nextReq = 1

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const stopped = new NodeStopped({ id })
        for (const w of waiting.values()) failWaiting(w, stopped)
        for (const a of awaiting.values()) yield* Deferred.fail(a.done, stopped)
        for (const r of reads) yield* Deferred.fail(r.done, stopped)
        for (const req of yield* Queue.takeAll(mailbox)) {
          if (req._tag === "Propose") yield* Deferred.fail(req.done, stopped)
          else if (req._tag !== "Input") failWaiting(req, stopped)
        }
      })
    )

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
    const serveReads = Effect.gen(function*() {
      if (reads.length === 0) return
      const ready = reads.filter((r) => r.index <= applied)
      reads = reads.filter((r) => r.index > applied)
      for (const r of ready) yield* Deferred.succeed(r.done, yield* stateMachine.query(r.query))
    })
    // made once and given each item: a generator function made anew per item would hold
    // the item's entries through scavenges until a full collection (ADR 0093)
    function* applySteps(item: ApplyItem) {
      switch (item._tag) {
        case "Apply":
          for (const e of item.entries) {
            const result = e.kind === "command" ? yield* stateMachine.apply(e.data, e.index) : empty
            bytesSinceSnapshot += e.data.length
            if (e.kind === "config") appliedMembership = decodeMembership(e.data)
            applied = e.index
            appliedTerm = e.term
            const w = awaiting.get(e.index)
            if (w !== undefined) {
              awaiting.delete(e.index)
              Deferred.unsafeDone(
                w.done,
                w.term === e.term ? Exit.succeed(result) : Exit.fail(new ProposalDropped({ index: e.index }))
              )
            }
          }
          yield* serveReads
          if (
            (applied - snapshotAt >= snapshotEvery * stretched || bytesSinceSnapshot >= snapshotBytes * stretched) &&
            !snapshotting
          ) {
            // Capture here, serialize on a fiber of its own: a large state takes long to
            // encode, and the actor (which applies and answers proposals) must not wait for
            // it. The core ignores the compaction if a newer snapshot was installed meanwhile.
            // The snapshot is also written to storage from that fiber, so the actor's
            // compaction finds it durable already and the actor never waits for a write of
            // the whole state.
            const serialize = yield* stateMachine.snapshot
            const at = { index: applied, term: appliedTerm, membership: appliedMembership }
            snapshotAt = applied
            bytesSinceSnapshot = 0
            stretched = yield* stretch
            snapshotting = true
            yield* Effect.forkIn(
              Effect.gen(function*() {
                const parts = yield* serialize
                // what the log keeps: the data, or the storage's stand-in for it (Storage.snapshotData)
                const kept = yield* storage.saveSnapshot({ ...at, parts }).pipe(
                  // the compaction then writes it itself, and fails the node if the disk is gone
                  Effect.catchAll((e) =>
                    Effect.as(
                      Effect.logWarning("saving a snapshot ahead of compaction failed", e),
                      Bytes.concat(parts)
                    )
                  )
                )
                yield* Queue.offer(mailbox, {
                  _tag: "Input",
                  input: { _tag: "Compact", index: at.index, data: kept }
                })
              }).pipe(Effect.ensuring(Effect.sync(() => snapshotting = false))),
              scope
            )
          }
          return
        case "Restore":
          yield* stateMachine.restore(item.snapshot.data)
          applied = item.snapshot.index
          appliedTerm = item.snapshot.term
          appliedMembership = item.snapshot.membership
          snapshotAt = applied
          bytesSinceSnapshot = 0
          for (const [index, w] of awaiting) {
            if (index <= applied) {
              awaiting.delete(index)
              yield* Deferred.fail(w.done, new OutcomeUnknown({ index }))
            }
          }
          return yield* serveReads
        case "Read":
          reads.push({ index: item.index, query: item.query, done: item.done })
          return yield* serveReads
      }
    }
    const applyItem = (item: ApplyItem) => Effect.gen(() => applySteps(item))

    // --- sending ---------------------------------------------------------------------------
    // The log may keep a storage's stand-in for its snapshot's data (Storage.snapshotData):
    // read it back here, on a fiber of its own, never on the actor's. A snapshot the storage
    // no longer holds (replaced by a newer one) is not sent; the core sends the newer.
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
    const send = (m: Message): Effect.Effect<void> => {
      const body = m.body
      if (body._tag !== "InstallSnapshotRequest") return transport.send(m)
      // the peer is still being sent one: this copy would only queue behind it
      if (sendingSnapshot.has(m.to)) return Effect.void
      sendingSnapshot.add(m.to)
      return sendSnapshot(m, body)
    }

    // --- the actor ---------------------------------------------------------------------------
    // Outputs are acted on in the core's order: completing requests needs no effect of its own
    // (deferreds), sends and applies do and run right after, in order, still in the turn.
    const succeed = Exit.succeed(undefined)
    const perform = (o: Output): Effect.Effect<void> | undefined => {
      switch (o._tag) {
        case "Send":
          return send(o.message)
        case "Apply":
        case "Restore":
          return applyItem(o)
        case "Accepted": {
          const w = waiting.get(o.reqId)
          waiting.delete(o.reqId)
          if (w === undefined) return
          if (w._tag === "Proposals") {
            for (let i = 0; i < w.items.length; i++) awaiting.set(o.index + i, { term: o.term, done: w.items[i]! })
          } else if (w._tag === "Change") awaiting.set(o.index, { term: o.term, done: w.done })
          else if (w._tag === "Transfer") Deferred.unsafeDone(w.done, succeed)
          return
        }
        case "Rejected": {
          const w = waiting.get(o.reqId)
          waiting.delete(o.reqId)
          if (w === undefined) return
          if (w._tag === "Change" && o.reason !== "not-leader") {
            Deferred.unsafeDone(w.done, Exit.fail(new MembershipRejected({ node: w.change.node, reason: o.reason })))
          } else if (w._tag === "Transfer" && o.reason !== "not-leader") {
            Deferred.unsafeDone(w.done, Exit.fail(new TransferFailed({ to: w.to, reason: o.reason })))
          } else failWaiting(w, new NotLeader({ leader: o.leader }))
          return
        }
        case "ReadReady": {
          const w = waiting.get(o.reqId)
          waiting.delete(o.reqId)
          if (w?._tag === "Read") return applyItem({ _tag: "Read", index: o.index, query: w.query, done: w.done })
          return
        }
        default:
          return
      }
    }

    /** Performs `outputs`: what needs no effect at once, then the effects (sends, applies) in order. */
    const performAll = (outputs: ReadonlyArray<Output>): Effect.Effect<void> => {
      let later: Array<Effect.Effect<void>> | undefined
      for (const o of outputs) {
        const effect = perform(o)
        if (effect !== undefined) (later ??= []).push(effect)
      }
      return later === undefined ? Effect.void : Effect.forEach(later, (e) => e, { discard: true })
    }

    // Group commit: every request taken from the mailbox in one turn is stepped through the
    // core at once; their persists are written as they come and made durable by ONE sync at
    // the end of the turn. Outputs before the turn's first persist depend on nothing unsynced
    // and are performed at once; every output after it (of this step or a later one, whose
    // state builds on the unsynced write) is held until the sync, keeping the core's order.
    let unsynced = false
    let held: Array<Output> = []

    const runStep = (input: Input): Effect.Effect<void, StorageError> => {
      const result = Core.step(state, input)
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
      const performed = now === undefined ? Effect.void : performAll(now)
      return persists === undefined ? performed : Effect.zipRight(performed, storage.write(persists))
    }

    /**
     * End of a turn: one sync for everything written, then the outputs that waited on it, then
     * `Synced`, which lets a leader count its own, now durable, log toward commits.
     */
    const commitTurn = Effect.gen(function*() {
      if (unsynced) {
        yield* storage.sync
        unsynced = false
        const ready = held
        held = []
        yield* performAll(ready)
        yield* runStep({ _tag: "Synced" })
      }
      yield* Ref.set(status, statusOf(state))
    })

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

    const proposeBatch = (items: Array<Extract<Request, { _tag: "Propose" }>>) => {
      const reqId = nextReq++
      waiting.set(reqId, { _tag: "Proposals", items: items.map((p) => p.done) })
      return runStep({ _tag: "Propose", reqId, commands: items.map((p) => p.command) })
    }

    const actor = Effect.gen(function*() {
      for (;;) {
        const batch = yield* Queue.takeBetween(mailbox, 1, maxBatch)
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
        yield* commitTurn
      }
    }).pipe(
      // A storage failure stops the node: continuing without durability would break Raft.
      Effect.tapError((e) => Effect.logError(`raft node ${id} stopped: storage ${e.op} failed on ${e.path}`, e.cause)),
      Effect.annotateLogs("raftNode", id),
      Effect.orDie
    )

    yield* transport.receive(id, (message) => {
      mailbox.unsafeOffer({ _tag: "Input", input: { _tag: "Receive", message } })
    })
    yield* Effect.forkScoped(actor)
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.zipRight(
          Effect.sleep(tick),
          Effect.flatMap(jitter, (j) => Queue.offer(mailbox, { _tag: "Input", input: { _tag: "Tick", jitter: j } }))
        )
      )
    )

    const request = <A, E>(make: (done: Deferred.Deferred<A, E>) => Request) =>
      Effect.flatMap(
        Deferred.make<A, E>(),
        (done) => Effect.zipRight(Queue.offer(mailbox, make(done)), Deferred.await(done))
      )

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

    const transferLeadership = (to: NodeId) =>
      Effect.gen(function*() {
        yield* request<void, TransferError>((done) => ({ _tag: "Transfer", to, done }))
        const deadline = options.electionTicks * 2
        for (let i = 0; i < deadline; i++) {
          const s = yield* Ref.get(status)
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
        request<Uint8Array, CommitError>((done) => ({ _tag: "Propose", command, done })).pipe(
          // Only membership changes are rejected with MembershipRejected.
          Effect.catchTag("MembershipRejected", Effect.die),
          Effect.withSpan("raft.propose", { captureStackTrace: false })
        ),
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
      status: Ref.get(status)
    }
    return node
  })
