// The replicated order registry on this process: a Raft node (file storage in
// RAFT_DATA_DIR, the gRPC transport) replicating RegistryStateMachine, plus what makes it a
// cluster member by itself: bootstrap on empty storage, Join through RAFT_JOIN_ADDR until
// accepted, the leader's own directory entry, and leadership transfer before a graceful
// stop (unless RAFT_TRANSFER_ON_STOP=false). The client API (RaftNodeApi) and health
// (RaftHealth) are built on this service.
import type { OrderRecord } from "@trading/domain"
import { OrderRegistry, RegistryBytes } from "@trading/domain"
import { GrpcClient, Traceparent } from "@trading/platform"
import { ServerConfig } from "@trading/platform/ServerConfig"
import {
  type Member,
  ReadResponse,
  RecordOrdersResponse,
  type RecordOutcome
} from "@trading/proto/gen/trading/v1/raft_node"
import { RaftNodeRawService } from "@trading/proto/RaftNodeRawService"
import {
  FileStorage,
  type MembershipRejected,
  NodeStopped,
  type NotLeader,
  type OutcomeUnknown,
  type ProposalDropped,
  RaftNode,
  Storage
} from "@trading/raft"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { AddressBook, type MemberAddress } from "./AddressBook.js"
import * as GrpcTransport from "./GrpcTransport.js"
import * as Metrics from "./RaftMetrics.js"
import { raftNodeConfig, type RaftNodeSettings } from "./RaftNodeConfig.js"
import * as RegistryStateMachine from "./RegistryStateMachine.js"

export type WriteError = NotLeader | ProposalDropped | OutcomeUnknown | NodeStopped

/** One call waiting for the group commit: its records as `RecordOrdersRequest` bytes. */
interface Pending {
  readonly request: Uint8Array
  readonly count: number
  /** The caller's span (W3C traceparent, or ""), linked from the entry's span. */
  readonly traceparent: string
  /** Answered once, with the call's `RecordOrdersResponse` bytes. */
  readonly done: (exit: Exit.Exit<Uint8Array, WriteError>) => void
}

const MAX_CALLS_PER_ENTRY = 1024
const MAX_RECORDS_PER_ENTRY = 4096
const LINGER_MS = 1

/** Links from an entry's span to the spans of the calls it carries (those that sent one). */
const linksOf = (chunk: ReadonlyArray<Pending>): Array<Tracer.SpanLink> => {
  const links: Array<Tracer.SpanLink> = []
  for (const p of chunk) {
    if (p.traceparent === "") continue
    const span = Traceparent.parse(p.traceparent)
    if (Option.isSome(span)) links.push({ _tag: "SpanLink", span: span.value, attributes: {} })
  }
  return links
}
export type ChangeError = WriteError | MembershipRejected

export interface NodeStatus {
  readonly nodeId: string
  readonly role: string
  readonly term: number
  readonly leaderId: string | null
  readonly commitIndex: number
  readonly appliedIndex: number
  readonly lastLogIndex: number
  readonly snapshotIndex: number
  readonly members: ReadonlyArray<Member>
  /** This node is a voter or learner of the cluster configuration it knows. */
  readonly isMember: boolean
}

export interface RegistryNodeApi {
  readonly settings: RaftNodeSettings
  readonly self: MemberAddress
  /** Records a batch in one log entry; one outcome per record, in order. */
  readonly record: (
    records: ReadonlyArray<OrderRecord.OrderRecord>
  ) => Effect.Effect<ReadonlyArray<RecordOutcome>, WriteError>
  /**
   * The same for a batch already in the bytes it arrived in: `count` valid records as
   * `RecordOrdersRequest` bytes (see `RegistryBytes.validRecordCount`), answered with the
   * `RecordOrdersResponse` bytes, never decoded here.
   */
  readonly recordBytes: (request: Uint8Array, count: number) => Effect.Effect<Uint8Array, WriteError>
  /**
   * `recordBytes` without an effect (the RecordOrdersStream fast path, ADR 0095): `done` is
   * called once with the response bytes or the failure. `traceparent` (or "") names the
   * caller's span, linked from the span of the entry that carries the call.
   */
  readonly recordNow: (
    request: Uint8Array,
    count: number,
    traceparent: string,
    done: (exit: Exit.Exit<Uint8Array, WriteError>) => void
  ) => void
  readonly read: (orderId: string) => Effect.Effect<ReadResponse, NotLeader | NodeStopped>
  /** Leader only: adds (or re-announces) a member; returns once it is a voter. */
  readonly join: (member: MemberAddress) => Effect.Effect<ReadonlyArray<Member>, ChangeError>
  readonly leave: (nodeId: string) => Effect.Effect<ReadonlyArray<Member>, ChangeError>
  readonly transferLeadership: (to: string) => Effect.Effect<void, unknown>
  readonly status: Effect.Effect<NodeStatus>
  readonly addressOf: (nodeId: string) => Effect.Effect<MemberAddress | undefined>
  /** A client for another node's RaftNodeService, cached for the life of the service. */
  readonly clientFor: (
    grpcAddr: string
  ) => Effect.Effect<GrpcClient.Client<typeof RaftNodeRawService>, GrpcClient.GrpcClientError>
  readonly checkSecret: (secret: string) => boolean
}

export class RegistryNode extends Context.Tag("@trading/raft-node/RegistryNode")<RegistryNode, RegistryNodeApi>() {}

/** Each call's response bytes from the entry's result (the calls' records, in order). */
const splitOutcomes = (result: Uint8Array, counts: ReadonlyArray<number>) => {
  const split = RegistryBytes.splitResult(result, counts)
  // the state machine only ever answers what the node proposed after validation
  if (Either.isLeft(split)) throw new Error(`registry refused a validated command: ${split.left.message}`)
  return split.right
}

const make = Effect.gen(function*() {
  const settings = yield* raftNodeConfig
  const server = yield* ServerConfig
  const scope = yield* Effect.scope
  const book = yield* AddressBook
  const self: MemberAddress = {
    nodeId: settings.nodeId,
    raftAddr: settings.advertiseAddr,
    grpcAddr: settings.grpcAdvertiseAddr
  }
  // RAFT_RETENTION_* are validated positive integers already; the domain re-checks its invariants
  const retention = yield* Effect.orDie(
    Either.mapLeft(
      OrderRegistry.makeRetention({ maxOrders: settings.maxOrders, maxAgeMs: settings.maxAgeMs }),
      (e) => new Error(e.message)
    )
  )
  const sm = yield* RegistryStateMachine.make(retention)
  yield* book.hint(self)
  const snapshotIndex = yield* Ref.make(0)

  const transport = GrpcTransport.layer({
    self,
    bindAddr: settings.bindAddr,
    clusterSecret: settings.clusterSecret,
    tls: server.tls
  })
  const env = yield* Layer.buildWithScope(
    Layer.merge(
      Layer.effect(Storage, Effect.map(Storage, Metrics.meteredStorage)).pipe(
        Layer.provide(FileStorage.layer(settings.dataDir))
      ),
      transport
    ).pipe(Layer.provide(Layer.succeed(AddressBook, book))),
    scope
  )
  const node = yield* RaftNode.make(
    {
      id: settings.nodeId,
      bootstrap: settings.bootstrap ? [settings.nodeId] : undefined,
      options: { electionTicks: settings.electionTicks, heartbeatTicks: settings.heartbeatTicks },
      tick: `${settings.tickMs} millis`,
      snapshotEvery: settings.snapshotEvery,
      snapshotBytes: settings.snapshotBytes,
      // up to 1.5x the thresholds, drawn per snapshot: replicas apply the same entries and
      // would otherwise snapshot together, stalling each other's fsyncs on a shared disk
      // (bench:raft p99 at half of peak: 223-240 ms in lockstep, 45-52 ms spread; ADR 0036)
      snapshotSpread: 0.5
    },
    {
      ...sm,
      // the index is the capture's; it is reported once the snapshot is serialized
      snapshot: Effect.gen(function*() {
        const index = yield* sm.applied
        const serialize = yield* sm.snapshot
        return Effect.tap(serialize, () => Ref.update(snapshotIndex, (s) => Math.max(s, index)))
      })
    }
  ).pipe(Effect.provide(env))

  const members = (m: { voters: ReadonlyArray<string>; learners: ReadonlyArray<string> }) =>
    Effect.forEach(
      [...m.voters.map((id) => [id, true] as const), ...m.learners.map((id) => [id, false] as const)],
      ([id, voter]) =>
        Effect.map(book.get(id), (a): Member => ({
          nodeId: id,
          raftAddr: a?.raftAddr ?? "",
          grpcAddr: a?.grpcAddr ?? "",
          voter
        }))
    )

  const status: Effect.Effect<NodeStatus> = Effect.gen(function*() {
    const s = yield* node.status
    const restores = yield* sm.restores
    return {
      nodeId: s.id,
      role: s.role,
      term: s.term,
      leaderId: s.leader,
      commitIndex: s.commitIndex,
      appliedIndex: yield* sm.applied,
      lastLogIndex: s.lastIndex,
      snapshotIndex: Math.max(yield* Ref.get(snapshotIndex), restores.index),
      members: yield* members(s.membership),
      isMember: s.membership.voters.includes(s.id) || s.membership.learners.includes(s.id)
    }
  })

  // Group commit: concurrent record calls share one log entry. Each entry costs the Raft
  // runtime a step, an fsync on every replica and a round trip, whatever its size, so
  // batching callers is what makes many small Apply calls cheap. One entry is proposed at
  // a time (ADR 0061, update: every entry has a fixed cost on all three nodes); the calls
  // that arrive meanwhile wait for the next. The calls wait in a plain array and the batch
  // is taken by callbacks (ADR 0095); an entry is proposed and answered by callbacks too,
  // with its spans made by the tracer, and no fiber (ADR 0096).
  let pending: Array<Pending> = []
  /** An entry is in flight, or the next one is being gathered. */
  let busy = false
  let lastCalls = 0
  let stopped = false
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      stopped = true
      const left = pending
      pending = []
      const failed = Exit.fail(new NodeStopped({ id: settings.nodeId }))
      for (const p of left) p.done(failed)
    })
  )
  // Each entry's trace: a `registry.propose` root span linking the calls it carries (each
  // call's trace reaches its entry through its link) and the `raft.propose` span under it,
  // made by the tracer directly (as the executor's order spans are): the proposal runs on
  // plain calls (`RaftNode.proposeNow`), without a fiber of its own (ADR 0096).
  const tracer = yield* Effect.tracer
  const clock = yield* Effect.clock
  const tracing = yield* FiberRef.get(FiberRef.currentTracerEnabled)
  const timing = yield* FiberRef.get(FiberRef.currentTracerTimingEnabled)
  const spanTime = () => timing ? clock.unsafeCurrentTimeNanos() : 0n
  const entrySpans = (chunk: ReadonlyArray<Pending>) => {
    if (!tracing) return undefined
    const entry = tracer.span(
      "registry.propose",
      Option.none(),
      Context.empty(),
      linksOf(chunk),
      spanTime(),
      "internal"
    )
    entry.attribute("orders.count", chunk.reduce((n, p) => n + p.count, 0))
    entry.attribute("calls.count", chunk.length)
    const raft = tracer.span("raft.propose", Option.some(entry), Context.empty(), [], spanTime(), "internal")
    return { entry, raft }
  }
  // The calls' requests concatenate into the entry's command (a message of one repeated
  // field is the concatenation of its elements), and the entry's result splits back into
  // the calls' responses: no record or outcome is decoded on the way.
  const proposeChunk = (
    chunk: ReadonlyArray<Pending>,
    done: (exit: Exit.Exit<ReadonlyArray<Uint8Array>, WriteError>) => void
  ) => {
    const spans = entrySpans(chunk)
    const started = clock.unsafeCurrentTimeNanos()
    node.proposeNow(RegistryStateMachine.ordersRequestCommand(chunk.map((p) => p.request)), (exit) => {
      let answer: Exit.Exit<ReadonlyArray<Uint8Array>, WriteError> = exit as Exit.Exit<never, WriteError>
      if (Exit.isSuccess(exit)) {
        try {
          answer = Exit.succeed(splitOutcomes(exit.value, chunk.map((p) => p.count)))
        } catch (error) {
          answer = Exit.die(error)
        }
      }
      Metrics.commitLatency.unsafeUpdate(Number(clock.unsafeCurrentTimeNanos() - started) / 1e9, [])
      if (spans !== undefined) {
        const ended = spanTime()
        spans.raft.end(ended, exit)
        spans.entry.end(ended, answer)
      }
      done(answer)
    })
  }
  /** Proposes `chunks[i]`, answers its calls, then the next chunk; the batch ends after the last. */
  const proposeFrom = (chunks: ReadonlyArray<ReadonlyArray<Pending>>, i: number): void => {
    if (i === chunks.length) {
      busy = false
      return gather()
    }
    const chunk = chunks[i]!
    proposeChunk(chunk, (exit) => {
      if (Exit.isSuccess(exit)) chunk.forEach((p, at) => p.done(Exit.succeed(exit.value[at]!)))
      else for (const p of chunk) p.done(exit as Exit.Exit<never, WriteError>)
      proposeFrom(chunks, i + 1)
    })
  }
  /** Takes the calls waiting now (up to MAX_CALLS_PER_ENTRY) as the next batch, in entries of at most MAX_RECORDS_PER_ENTRY records. */
  const takeBatch = () => {
    // the scope closed while the batch was being gathered: the finalizer answered the calls
    if (stopped || pending.length === 0) {
      busy = false
      return
    }
    const taken = pending.length <= MAX_CALLS_PER_ENTRY ? pending : pending.slice(0, MAX_CALLS_PER_ENTRY)
    pending = taken === pending ? [] : pending.slice(MAX_CALLS_PER_ENTRY)
    lastCalls = taken.length
    const chunks: Array<Array<Pending>> = []
    let chunk: Array<Pending> = []
    let size = 0
    for (const p of taken) {
      if (size + p.count > MAX_RECORDS_PER_ENTRY && chunk.length > 0) {
        chunks.push(chunk)
        chunk = []
        size = 0
      }
      chunk.push(p)
      size += p.count
    }
    chunks.push(chunk)
    proposeFrom(chunks, 0)
  }
  /**
   * Starts the next batch when calls wait and no entry is in flight. Many concurrent callers
   * (the last entry held several calls): the ones just answered are re-submitting right now,
   * so wait briefly for them, or the first one would take the entry alone. A lone caller
   * (the last entry held one call) waits only for the calls that arrived with it (the rest
   * of this event-loop turn): more would only add latency.
   */
  const gather = () => {
    if (busy || stopped || pending.length === 0) return
    busy = true
    if (lastCalls > 1) setTimeout(takeBatch, LINGER_MS)
    else queueMicrotask(takeBatch)
  }
  const recordNow = (
    request: Uint8Array,
    count: number,
    traceparent: string,
    done: (exit: Exit.Exit<Uint8Array, WriteError>) => void
  ) => {
    if (stopped) return done(Exit.fail(new NodeStopped({ id: settings.nodeId })))
    pending.push({ request, count, traceparent, done })
    gather()
  }

  const recordBytes = (request: Uint8Array, count: number) =>
    Effect.flatMap(
      Traceparent.current,
      (traceparent) =>
        Effect.async<Uint8Array, WriteError>((resume) =>
          recordNow(request, count, Option.getOrElse(traceparent, () => ""), resume)
        )
    ).pipe(
      Effect.withSpan("registry.record", { captureStackTrace: false, attributes: { "orders.count": count } })
    )

  const record = (records: ReadonlyArray<OrderRecord.OrderRecord>) =>
    Effect.map(
      recordBytes(OrderRegistry.encodeCommand(records), records.length),
      (response) => RecordOrdersResponse.decode(response).outcomes
    )

  const read = (orderId: string) =>
    Effect.map(node.read(RegistryStateMachine.readQuery(orderId)), (bytes) => ReadResponse.decode(bytes)).pipe(
      Effect.withSpan("registry.read", { attributes: { "order.id": orderId } })
    )

  const announce = (member: MemberAddress) =>
    Effect.gen(function*() {
      const known = (yield* book.directory).find((m) => m.nodeId === member.nodeId)
      if (known?.raftAddr === member.raftAddr && known.grpcAddr === member.grpcAddr) return
      yield* node.propose(RegistryStateMachine.memberUpsertCommand(member))
    })

  const join = (member: MemberAddress) =>
    Effect.gen(function*() {
      // the leader must reach the learner before the directory entry commits
      yield* book.hint(member)
      yield* announce(member)
      const s = yield* node.status
      if (s.membership.voters.includes(member.nodeId)) return yield* members(s.membership)
      // a learner left over from an interrupted join: start its catch-up again (RaftNode has no bare promote)
      if (s.membership.learners.includes(member.nodeId)) yield* node.removeServer(member.nodeId)
      yield* node.addServer(member.nodeId)
      yield* Effect.logInfo("member joined").pipe(Effect.annotateLogs({ member: member.nodeId }))
      return yield* Effect.flatMap(node.status, (after) => members(after.membership))
    }).pipe(Effect.withSpan("registry.join", { attributes: { member: member.nodeId } }))

  const leave = (nodeId: string) =>
    Effect.gen(function*() {
      const s = yield* node.status
      if (s.membership.voters.includes(nodeId) || s.membership.learners.includes(nodeId)) {
        yield* node.removeServer(nodeId)
      }
      yield* node.propose(RegistryStateMachine.memberRemoveCommand(nodeId))
      yield* Effect.logInfo("member left").pipe(Effect.annotateLogs({ member: nodeId }))
      return yield* Effect.flatMap(node.status, (after) => members(after.membership))
    }).pipe(Effect.withSpan("registry.leave", { attributes: { member: nodeId } }))

  const clientFor = yield* Effect.cachedFunction((grpcAddr: string) =>
    GrpcClient.make(RaftNodeRawService, {
      address: grpcAddr,
      channelOptions: GrpcTransport.channelOptions
    }).pipe(Scope.extend(scope))
  )

  const expectedSecret = Option.map(settings.clusterSecret, Redacted.value)
  const checkSecret = (secret: string) =>
    Option.match(expectedSecret, {
      // without a configured secret the cluster is open (documented: set one in production)
      onNone: () => true,
      onSome: (expected) =>
        GrpcTransport.clusterToken(Redacted.make(secret)) === GrpcTransport.clusterToken(Redacted.make(expected))
    })

  const api: RegistryNodeApi = {
    settings,
    self,
    record,
    recordBytes,
    recordNow,
    read,
    join,
    leave,
    transferLeadership: node.transferLeadership,
    status,
    addressOf: book.get,
    clientFor,
    checkSecret
  }

  // --- background: metrics, own directory entry, joining ------------------------------------
  yield* Metrics.monitor(status).pipe(Effect.forkScoped)
  yield* Effect.gen(function*() {
    let announcedTerm = -1
    for (;;) {
      yield* Effect.sleep("100 millis")
      const s = yield* node.status
      if (s.role === "leader" && s.term !== announcedTerm) {
        const ok = yield* Effect.either(announce(self))
        if (Either.isRight(ok)) announcedTerm = s.term
      }
    }
  }).pipe(Effect.forkScoped)

  if (Option.isSome(settings.joinAddr)) {
    yield* joinLoop(api, settings.joinAddr.value, Option.getOrElse(expectedSecret, () => "")).pipe(Effect.forkScoped)
  } else if (!settings.bootstrap) {
    const s = yield* node.status
    if (s.membership.voters.length === 0 && s.membership.learners.length === 0) {
      yield* Effect.logWarning("no RAFT_BOOTSTRAP and no RAFT_JOIN_ADDR: waiting for a member to add this node")
    }
  }

  // Graceful stop: hand leadership to another voter first so the cluster does not wait an
  // election timeout (runs before the node's fibers are interrupted, while the transport is
  // up; not interruptible: finalizers run on the interrupted main fiber). RaftNode gives a
  // transfer only two election timeouts; on a loaded machine the target may take over a
  // little later, so the outcome is judged by who leads afterwards, and the next voter is
  // tried when the first did not take over. Skipped with RAFT_TRANSFER_ON_STOP=false, when
  // the whole cluster stops together (ADR 0084): the other voters are stopping too.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      const s = yield* node.status
      if (s.role !== "leader") return
      if (!settings.transferOnStop) {
        yield* Effect.logInfo("stopping as leader without a leadership transfer (RAFT_TRANSFER_ON_STOP=false)")
        return
      }
      for (const target of s.membership.voters.filter((v) => v !== s.id)) {
        const result = yield* Effect.either(node.transferLeadership(target))
        for (let i = 0; i < 40; i++) {
          const now = yield* node.status
          if (now.leader !== null && now.leader !== s.id) {
            yield* Effect.logInfo("leadership transferred").pipe(Effect.annotateLogs({ to: now.leader }))
            return
          }
          if (Either.isLeft(result) && i >= 10) break
          yield* Effect.sleep("50 millis")
        }
        if (Either.isLeft(result)) {
          yield* Effect.logWarning("leadership transfer failed", result.left).pipe(Effect.annotateLogs({ to: target }))
        }
      }
    })
  )
  yield* Effect.logInfo("raft node started").pipe(
    Effect.annotateLogs({
      raftAddr: self.raftAddr,
      grpcAddr: self.grpcAddr,
      dataDir: settings.dataDir,
      bootstrap: settings.bootstrap
    })
  )
  return api
})

/** Sends Join to `address` (following leader redirects) until the cluster accepts this node. */
const joinLoop = (api: RegistryNodeApi, seed: string, secret: string) =>
  Effect.gen(function*() {
    let target = seed
    let attempt = 0
    for (;;) {
      attempt++
      const result = yield* Effect.either(Effect.flatMap(api.clientFor(target), (client) =>
        client.join(
          {
            member: { nodeId: api.self.nodeId, raftAddr: api.self.raftAddr, grpcAddr: api.self.grpcAddr, voter: true },
            clusterSecret: secret
          },
          { deadline: "30 seconds" }
        )))
      if (Either.isRight(result)) {
        yield* Effect.logInfo("joined the cluster").pipe(
          Effect.annotateLogs({ via: target, members: result.right.members.map((m) => m.nodeId).join(",") })
        )
        return
      }
      const error = result.left
      if (error._tag === "GrpcCallError" && error.code === 7 /* PERMISSION_DENIED */) {
        yield* Effect.logError("join refused by the cluster: wrong cluster secret").pipe(
          Effect.annotateLogs({ via: target })
        )
      } else if (attempt % 10 === 1) {
        yield* Effect.logWarning("join not accepted yet, retrying").pipe(
          Effect.annotateLogs({ via: target, reason: error.message })
        )
      }
      const leader = error._tag === "GrpcCallError" ? error.metadata["leader-grpc-addr"] : undefined
      target = leader !== undefined && leader !== "" ? leader : seed
      yield* Effect.sleep(Math.min(100 * attempt, 1000))
    }
  }).pipe(Effect.annotateLogs("component", "join"))

export const layer: Layer.Layer<RegistryNode, unknown, ServerConfig> = Layer.scoped(RegistryNode, make).pipe(
  Layer.provide(Layer.unwrapEffect(Effect.map(raftNodeConfig, (s) => AddressBook.layer(s.dataDir))))
)
