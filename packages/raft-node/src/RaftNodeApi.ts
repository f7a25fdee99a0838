// RaftNodeService, the client API. Writes and linearizable reads are served by the leader:
// a follower forwards them once (marked with `raft-forwarded`, so a stale view can never
// loop) or, when it cannot, answers UNAVAILABLE with the leader's id and *gRPC* address in
// the `leader-id` / `leader-grpc-addr` trailers, taken from the replicated member
// directory (never from a port table). Every failure is a gRPC status:
// INVALID_ARGUMENT naming the field, PERMISSION_DENIED for a wrong cluster secret,
// UNAVAILABLE for everything a client should retry (same order id: first writer wins).
// RecordOrdersStream serves RecordOrders calls multiplexed on one stream (ADR 0091), each
// failure answered inside its envelope with the same status and trailers.
import { OrderRecord, OrderRegistry, RecordStreamBytes, RegistryBytes } from "@trading/domain"
import { GrpcService, GrpcStatus, Traceparent } from "@trading/platform"
import type { GrpcCallError } from "@trading/platform/GrpcClient"
import type { CallContext } from "@trading/platform/GrpcService"
import {
  type ApplyRequest,
  type JoinRequest,
  type LeaveRequest,
  type Member,
  type OrderRecord as ProtoOrderRecord,
  type ReadRequest,
  RecordOrdersRequest
} from "@trading/proto/gen/trading/v1/raft_node"
import { RaftNodeRawService } from "@trading/proto/RaftNodeRawService"
import type { MembershipRejected, NodeId } from "@trading/raft"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { type ChangeError, type NodeStatus, RegistryNode, type RegistryNodeApi } from "./RegistryNode.js"

export const FORWARDED = "raft-forwarded"
export const LEADER_ADDR = "leader-grpc-addr"
export const LEADER_ID = "leader-id"
const MAX_BATCH = 4096
/**
 * Calls of one RecordOrdersStream handled at once; further requests wait in the stream (and
 * its HTTP/2 flow control), as further unary calls would wait for a stream slot.
 */
const MAX_STREAM_CALLS = 1024

type Client = Effect.Effect.Success<ReturnType<RegistryNodeApi["clientFor"]>>

const fromCallError = (e: GrpcCallError) =>
  new GrpcStatus.GrpcStatusError({ code: e.code, details: e.details, metadata: e.metadata })

const validate = (records: ReadonlyArray<ProtoOrderRecord>, prefix: (i: number) => string) =>
  Effect.gen(function*() {
    const valid: Array<OrderRecord.OrderRecord> = []
    const problems: Array<string> = []
    const fields: Array<string> = []
    records.forEach((r, i) => {
      const decoded = OrderRecord.fromProto(r)
      if (Either.isRight(decoded)) valid.push(decoded.right)
      else if (decoded.left._tag === "InvalidFields") {
        for (const v of decoded.left.violations) {
          problems.push(`${prefix(i)}.${v.field}: ${v.reason}`)
          fields.push(`${prefix(i)}.${v.field}`)
        }
      } else problems.push(`${prefix(i)}: ${decoded.left.message}`)
    })
    if (problems.length > 0) {
      return yield* GrpcStatus.invalidArgument(problems.join("; "), { [GrpcStatus.invalidFieldsKey]: fields.join(",") })
    }
    return valid
  })

/**
 * Request bytes off the fast path: decoded, every record validated (INVALID_ARGUMENT names
 * each bad field), and the valid records encoded the way the registry reads them.
 */
const canonicalRequest = (request: Uint8Array) =>
  Effect.gen(function*() {
    let decoded: RecordOrdersRequest
    try {
      decoded = RecordOrdersRequest.decode(request)
    } catch (cause) {
      return yield* GrpcStatus.invalidArgument(`records: not a trading.v1.RecordOrdersRequest: ${String(cause)}`)
    }
    if (decoded.records.length > MAX_BATCH) return [request, decoded.records.length] as const
    const records = yield* validate(decoded.records, (i) => `records[${i}]`)
    return [OrderRegistry.encodeCommand(records), records.length] as const
  })

export const handlers = Effect.gen(function*() {
  const node = yield* RegistryNode
  const runtime = yield* Effect.runtime<never>()

  const leaderTrailers = (leader: NodeId | null) =>
    Effect.gen(function*() {
      if (leader === null) return {} as Record<string, string>
      const address = yield* node.addressOf(leader)
      return address === undefined ? { [LEADER_ID]: leader } : { [LEADER_ID]: leader, [LEADER_ADDR]: address.grpcAddr }
    })

  const unavailable = (details: string, leader: NodeId | null) =>
    Effect.flatMap(leaderTrailers(leader), (metadata) => Effect.fail(GrpcStatus.unavailable(details, metadata)))

  /** Runs `local` here, or once on the leader when this node is not it. */
  const onLeader = <A>(
    call: CallContext,
    local: Effect.Effect<
      A,
      GrpcStatus.GrpcStatusError | { readonly _tag: "NotLeader"; readonly leader: NodeId | null }
    >,
    remote: (client: Client) => Effect.Effect<A, GrpcCallError>
  ): Effect.Effect<A, GrpcStatus.GrpcStatusError> =>
    local.pipe(
      Effect.catchIf(
        (e): e is { readonly _tag: "NotLeader"; readonly leader: NodeId | null } => e._tag === "NotLeader",
        ({ leader }) =>
          Effect.gen(function*() {
            const forwarded = call.metadata.get(FORWARDED).length > 0
            const address = leader === null || leader === node.self.nodeId ? undefined : yield* node.addressOf(leader)
            if (forwarded || address === undefined || address.grpcAddr === "") {
              return yield* unavailable(
                leader === null ? "no leader known yet; retry" : `not the leader; the leader is ${leader}`,
                leader
              )
            }
            const client = yield* Effect.orElse(
              node.clientFor(address.grpcAddr),
              () => unavailable(`cannot reach the leader ${leader}`, leader)
            )
            return yield* Effect.mapError(remote(client), fromCallError)
          })
      ),
      Effect.mapError((e) => e as GrpcStatus.GrpcStatusError)
    )

  const forwardOptions = { metadata: { [FORWARDED]: "1" } }

  type Retryable = { readonly _tag: "ProposalDropped" | "OutcomeUnknown" | "NodeStopped" }
  const retryMessages: Record<Retryable["_tag"], string> = {
    ProposalDropped: "the write was lost in a leader change; retry with the same order id",
    OutcomeUnknown: "outcome unknown after a snapshot install; retry with the same order id",
    NodeStopped: "node is stopping; retry on another node"
  }
  const isRetryable = (e: { readonly _tag: string }): e is Retryable => e._tag in retryMessages
  /** What a client is told about a write to retry: UNAVAILABLE, with what to do. */
  const retryStatus = (e: Retryable) => GrpcStatus.unavailable(retryMessages[e._tag])
  const writeErrors = <A, E extends { readonly _tag: string }>(
    effect: Effect.Effect<A, E>
  ): Effect.Effect<A, GrpcStatus.GrpcStatusError | Exclude<E, Retryable>> =>
    Effect.catchAll(
      effect,
      (e): Effect.Effect<never, GrpcStatus.GrpcStatusError | Exclude<E, Retryable>> =>
        isRetryable(e) ? Effect.fail(retryStatus(e)) : Effect.fail(e as Exclude<E, Retryable>)
    )
  /** A stream call's failure, answered in its envelope with the status the unary call would end with. */
  const failureEnvelope = (callId: number, e: GrpcStatus.GrpcStatusError) =>
    RecordStreamBytes.encodeFailure(callId, { code: e.code, details: e.details, metadata: { ...e.metadata } })

  const secretOk = (secret: string, what: string, call: CallContext, nodeId: string) =>
    node.checkSecret(secret) ? Effect.void : Effect.zipRight(
      Effect.logWarning(`${what} refused: wrong cluster secret`).pipe(
        Effect.annotateLogs({ member: nodeId, peer: call.peer })
      ),
      GrpcStatus.permissionDenied(`${what} refused: wrong cluster secret`)
    )

  const statusReply = (s: NodeStatus) => ({
    nodeId: s.nodeId,
    role: s.role,
    term: s.term,
    leaderId: s.leaderId ?? "",
    commitIndex: s.commitIndex,
    appliedIndex: s.appliedIndex,
    lastLogIndex: s.lastLogIndex,
    snapshotIndex: s.snapshotIndex,
    members: s.members as Array<Member>
  })

  const changeErrors = <A>(effect: Effect.Effect<A, ChangeError>) =>
    writeErrors(
      Effect.catchTag(effect, "MembershipRejected", (e: MembershipRejected) =>
        e.reason === "config-pending"
          ? GrpcStatus.unavailable("another membership change is in progress; retry")
          : GrpcStatus.failedPrecondition(`membership change of ${e.node} rejected: ${e.reason}`))
    )

  // The per-call steps are generator functions made once, each call's values passed as
  // arguments: a generator function made anew per call would keep the call's request bytes
  // alive through scavenges until a full collection (ADR 0093).
  function* recordSteps(request: Uint8Array) {
    // the fast path: every record valid and encoded as the registry reads it
    const fast = RegistryBytes.validRecordCount(request)
    const [bytes, count] = fast !== undefined ? [request, fast] : yield* canonicalRequest(request)
    if (count > MAX_BATCH) {
      return yield* GrpcStatus.invalidArgument(`records: at most ${MAX_BATCH} per call, got ${count}`)
    }
    if (count === 0) return new Uint8Array()
    return yield* writeErrors(node.recordBytes(bytes, count))
  }
  const recordOrders = (request: Uint8Array, call: CallContext) =>
    onLeader(
      call,
      Effect.gen(() => recordSteps(request)),
      (client) => client.recordOrders(request, forwardOptions)
    )

  /**
   * One call of a RecordOrdersStream: the unary call's work, answered in the envelope with
   * the call's id, a failure as the status (and trailers) the unary call would have ended
   * with. Each call is a trace of its own, continuing the caller's traceparent.
   */
  function* streamCallSteps(envelope: Uint8Array, call: CallContext) {
    const decoded = RecordStreamBytes.decodeRequest(envelope)
    // without a call id there is nobody to answer: the stream itself is refused
    if (Either.isLeft(decoded)) return yield* GrpcStatus.invalidArgument(decoded.left.message)
    const { callId, request, traceparent } = decoded.right
    const answered = (code: GrpcStatus.Code) =>
      Effect.annotateCurrentSpan("rpc.grpc.status_code", GrpcStatus.codeName(code))
    return yield* recordOrders(request, call).pipe(
      Effect.matchEffect({
        onSuccess: (response) =>
          Effect.as(answered(GrpcStatus.Code.OK), RecordStreamBytes.encodeResponse(callId, response)),
        onFailure: (e) => Effect.as(answered(e.code), failureEnvelope(callId, e))
      }),
      // named and annotated like a unary call's server span: one trace per call
      Effect.withSpan(`grpc.server ${call.method}`, {
        kind: "server",
        root: traceparent === "",
        captureStackTrace: false,
        attributes: { "rpc.system": "grpc", "rpc.method": call.method, "rpc.call_id": callId }
      }),
      Traceparent.withRemoteParent(traceparent === "" ? undefined : traceparent)
    )
  }
  const streamCall = (envelope: Uint8Array, call: CallContext) => Effect.gen(() => streamCallSteps(envelope, call))

  /**
   * The fast path of a stream call (ADR 0095), taken when its envelope and every record are
   * valid as they arrived: the batch goes to the group commit with a callback, no fiber and no
   * span of its own (the entry's span links to the caller's). A failure to retry is answered
   * as `streamCall` would; a call this node cannot record as the leader (NotLeader: forward it
   * or name the leader) and any other call go the effect's way.
   */
  const streamCallNow = (
    envelope: Uint8Array,
    call: CallContext,
    answer: (exit: Exit.Exit<Uint8Array, GrpcStatus.GrpcStatusError>) => void
  ): boolean => {
    const decoded = RecordStreamBytes.decodeRequest(envelope)
    if (Either.isLeft(decoded)) return false
    const { callId, request, traceparent } = decoded.right
    const count = RegistryBytes.validRecordCount(request)
    if (count === undefined || count === 0 || count > MAX_BATCH) return false
    node.recordNow(request, count, traceparent, (exit) => {
      if (Exit.isSuccess(exit)) return answer(Exit.succeed(RecordStreamBytes.encodeResponse(callId, exit.value)))
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure) && isRetryable(failure.value)) {
        return answer(Exit.succeed(failureEnvelope(callId, retryStatus(failure.value))))
      }
      Runtime.runCallback(runtime)(streamCall(envelope, call), { onExit: answer })
    })
    return true
  }

  return {
    apply: GrpcService.unary((request: ApplyRequest, call: CallContext) =>
      onLeader(
        call,
        Effect.gen(function*() {
          if (request.record === undefined) return yield* GrpcStatus.invalidArgument("record: is missing")
          const [record] = yield* validate([request.record], () => "record")
          const [outcome] = yield* writeErrors(node.record([record!]))
          return { outcome }
        }),
        (client) => client.apply(request, forwardOptions)
      )
    ),
    recordOrders: GrpcService.unary(recordOrders),
    recordOrdersStream: GrpcService.multiplexed(streamCall, { maxInFlight: MAX_STREAM_CALLS, now: streamCallNow }),
    read: GrpcService.unary((request: ReadRequest, call: CallContext) =>
      onLeader(
        call,
        Effect.gen(function*() {
          if (request.orderId === "") return yield* GrpcStatus.invalidArgument("orderId: must not be empty")
          return yield* Effect.catchTag(
            node.read(request.orderId),
            "NodeStopped",
            () => GrpcStatus.unavailable("node is stopping; retry on another node")
          )
        }),
        (client) => client.read(request, forwardOptions)
      )
    ),
    join: GrpcService.unary((request: JoinRequest, call: CallContext) =>
      Effect.gen(function*() {
        const m = request.member
        if (m === undefined || m.nodeId === "" || m.raftAddr === "" || m.grpcAddr === "") {
          return yield* GrpcStatus.invalidArgument("member: nodeId, raftAddr and grpcAddr are required")
        }
        yield* secretOk(request.clusterSecret, "join", call, m.nodeId)
        return yield* onLeader(
          call,
          Effect.map(
            changeErrors(node.join({ nodeId: m.nodeId, raftAddr: m.raftAddr, grpcAddr: m.grpcAddr })),
            (members) => ({ members: [...members] })
          ),
          (client) => client.join(request, { ...forwardOptions, deadline: "30 seconds" })
        )
      })
    ),
    leave: GrpcService.unary((request: LeaveRequest, call: CallContext) =>
      Effect.gen(function*() {
        if (request.nodeId === "") return yield* GrpcStatus.invalidArgument("nodeId: must not be empty")
        yield* secretOk(request.clusterSecret, "leave", call, request.nodeId)
        const s = yield* node.status
        if (s.role === "leader" && request.nodeId === s.nodeId) {
          // a leader cannot remove itself cleanly: hand over first, then ask the new leader
          const target = s.members.find((m) => m.voter && m.nodeId !== s.nodeId)
          if (target === undefined) {
            return yield* GrpcStatus.failedPrecondition("the last voter cannot leave")
          }
          yield* Effect.orElse(node.transferLeadership(target.nodeId), () =>
            unavailable("leadership transfer before leaving failed; retry", s.leaderId))
        }
        return yield* onLeader(
          call,
          Effect.map(changeErrors(node.leave(request.nodeId)), (members) => ({ members: [...members] })),
          (client) =>
            client.leave(request, { ...forwardOptions, deadline: "30 seconds" })
        )
      })
    ),
    leader: GrpcService.unary(() =>
      Effect.gen(function*() {
        const s = yield* node.status
        if (s.leaderId === null) return yield* GrpcStatus.unavailable("no leader known yet; retry")
        const address = yield* node.addressOf(s.leaderId)
        return { leaderId: s.leaderId, leaderGrpcAddr: address?.grpcAddr ?? "", term: s.term }
      })
    ),
    status: GrpcService.unary(() => Effect.map(node.status, statusReply))
  }
})

export const layer = GrpcService.layer(RaftNodeRawService, handlers)
