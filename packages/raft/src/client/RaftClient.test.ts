// The client against a real loopback gRPC server that answers RecordOrders like a raft-node
// leader does: the domain registry behind it, its bytes on the wire, at most 4,096 records
// a call (raft-node's limit, INVALID_ARGUMENT beyond it); served on RecordOrdersStream, or
// only as the unary call (a node from before the stream: the client falls back to it).
import { describe, expect, it } from "@effect/vitest"
import { OrderRecord, OrderRegistry, RecordStreamBytes } from "@trading/domain"
import { GrpcServer, GrpcService, GrpcStatus, Health, ServerConfig } from "@trading/platform"
import {
  RaftNodeServiceService,
  RecordOrdersRequest,
  RecordOrdersResponse
} from "@trading/proto/gen/trading/v1/raft_node"
import { RaftNodeRawService } from "@trading/proto/RaftNodeRawService"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as RaftClient from "./RaftClient.js"

const T = Date.UTC(2026, 0, 2)
const record = (n: number, status: "EXECUTED" | "REJECTED" = "EXECUTED"): OrderRecord.OrderRecord => ({
  orderId: `ord-${n}`,
  eventId: `evt-${n}`,
  commandId: `cmd-${n}`,
  status,
  reason: status === "REJECTED" ? `quantity_positive: quantity must be > 0, got -${n}` : "",
  filledQuantity: status === "EXECUTED" ? n + 1 : 0,
  fillPriceMicros: status === "EXECUTED" ? 1_000 + n : 0,
  recordedAtUnixMs: T + n
})

/**
 * A leader of one: Leader names itself, RecordOrders applies each call as one entry; with
 * `stream`, RecordOrdersStream serves the same calls (failures answered in the envelope).
 * `streamFault`: "break-first" ends the first stream with UNAVAILABLE at its first message
 * (nothing applied), "silent" never answers a stream message.
 */
const fakeLeader = (options: { readonly stream: boolean; readonly streamFault?: "break-first" | "silent" }) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    let state = OrderRegistry.initial()
    let index = 0
    const calls: Array<Call> = []
    const recordOrders = (request: RecordOrdersRequest, via: Call["via"]) =>
      Effect.gen(function*() {
        calls.push({ via, records: request.records.length })
        if (request.records.length > 4096) {
          return yield* GrpcStatus.invalidArgument(`records: at most 4096 per call, got ${request.records.length}`)
        }
        const records = request.records.map((r) => {
          const decoded = OrderRecord.fromProto(r)
          if (decoded._tag === "Left") throw new Error(decoded.left.message)
          return decoded.right
        })
        const [next, outcomes] = OrderRegistry.applyRecords(state, records, ++index)
        state = next
        return { outcomes: outcomes.map(OrderRecord.outcomeToProto) }
      })
    let streamMessages = 0
    const streamCall = (envelope: Uint8Array) =>
      Effect.gen(function*() {
        streamMessages++
        if (options.streamFault === "break-first" && streamMessages === 1) {
          return yield* GrpcStatus.unavailable("restarting")
        }
        if (options.streamFault === "silent") return yield* Effect.never
        const { callId, request } = yield* Either.mapLeft(
          RecordStreamBytes.decodeRequest(envelope),
          (e) => GrpcStatus.invalidArgument(e.message)
        )
        return yield* recordOrders(RecordOrdersRequest.decode(request), "stream").pipe(
          Effect.match({
            onSuccess: (response) =>
              RecordStreamBytes.encodeResponse(callId, RecordOrdersResponse.encode(response).finish()),
            onFailure: (e) =>
              RecordStreamBytes.encodeFailure(callId, { code: e.code, details: e.details, metadata: {} })
          })
        )
      })
    const unaryOnly = GrpcService.layer(
      { leader: RaftNodeServiceService.leader, recordOrders: RaftNodeServiceService.recordOrders },
      {
        leader: GrpcService.unary(() => Effect.succeed({ leaderId: "n1", leaderGrpcAddr: "", term: 1 })),
        recordOrders: GrpcService.unary((request: RecordOrdersRequest) => recordOrders(request, "unary"))
      }
    )
    const withStream = GrpcService.layer(
      {
        leader: RaftNodeServiceService.leader,
        recordOrders: RaftNodeServiceService.recordOrders,
        recordOrdersStream: RaftNodeRawService.recordOrdersStream
      },
      {
        leader: GrpcService.unary(() => Effect.succeed({ leaderId: "n1", leaderGrpcAddr: "", term: 1 })),
        recordOrders: GrpcService.unary((request: RecordOrdersRequest) => recordOrders(request, "unary")),
        recordOrdersStream: GrpcService.multiplexed(streamCall)
      }
    )
    return Layer.merge(GrpcServer.layer(options.stream ? withStream : unaryOnly), Layer.succeed(Calls, calls))
  })).pipe(Layer.provide(Health.layer.pipe(Layer.provideMerge(ServerConfig.ServerConfig.layerTest()))))

interface Call {
  readonly via: "stream" | "unary"
  readonly records: number
}

/** How each RecordOrders call reached the server, and its number of records. */
class Calls extends Context.Tag("test/Calls")<Calls, Array<Call>>() {}

const client = Effect.gen(function*() {
  const { port } = yield* GrpcServer.GrpcServer
  return yield* RaftClient.make({ seeds: [`127.0.0.1:${port}`], tls: "insecure" })
})

for (const stream of [true, false]) {
  const via = stream ? "stream" : "unary"
  const served = stream ? "RecordOrdersStream" : "only unary RecordOrders"
  describe(`RaftClient.recordBatch (loopback gRPC, bytes on the wire, ${served} served)`, () => {
    it.scopedLive("answers the canonical outcome of every record, in order", () =>
      Effect.gen(function*() {
        const raft = yield* client
        const first = [record(1), record(2, "REJECTED"), record(3)]
        const outcomes = yield* raft.recordBatch(first)
        expect(outcomes).toEqual(first.map((r) => ({ record: r, created: true, index: 1, tooOld: false })))
        // a retry with another proposal for order 2 gets the stored one back
        const again = yield* raft.recordBatch([{ ...record(2), eventId: "evt-other" }, record(4)])
        expect(again.map((o) => [o.record.eventId, o.created, o.index])).toEqual([["evt-2", false, 1], [
          "evt-4",
          true,
          2
        ]])
      }).pipe(Effect.provide(fakeLeader({ stream }))))

    it.scopedLive("splits a batch above the node's limit into calls it accepts, outcomes still in order", () =>
      Effect.gen(function*() {
        const raft = yield* client
        const records = Array.from({ length: 9_000 }, (_, n) => record(n))
        // order 5 again at the end: the later chunk gets the earlier chunk's record
        const outcomes = yield* raft.recordBatch([...records, { ...record(5), eventId: "evt-late" }])
        expect(outcomes.length).toBe(9_001)
        expect(outcomes.slice(0, 9_000).every((o, n) => o.created && o.record.orderId === `ord-${n}`)).toBe(true)
        expect(outcomes[9_000]).toMatchObject({ created: false, record: { eventId: "evt-5" }, index: 1 })
        expect(yield* Calls).toEqual([4096, 4096, 809].map((records) => ({ via, records })))
      }).pipe(Effect.provide(fakeLeader({ stream }))))
  })
}

describe("RaftClient.recordBatch on a RecordOrdersStream that fails", () => {
  it.scopedLive("the stream's failure fails its calls retryably: the retry, on a new stream, records them once", () =>
    Effect.gen(function*() {
      const raft = yield* client
      const outcomes = yield* raft.recordBatch([record(1), record(2)])
      expect(outcomes.map((o) => [o.record.orderId, o.created])).toEqual([["ord-1", true], ["ord-2", true]])
      // the first message ended its stream before anything was applied; the retry was applied once
      expect(yield* Calls).toEqual([{ via: "stream", records: 2 }])
    }).pipe(Effect.provide(fakeLeader({ stream: true, streamFault: "break-first" }))))

  it.scopedLive("a call nobody answers times out per attempt and is retried until the operation's deadline", () =>
    Effect.gen(function*() {
      const { port } = yield* GrpcServer.GrpcServer
      const raft = yield* RaftClient.make({
        seeds: [`127.0.0.1:${port}`],
        tls: "insecure",
        attemptTimeout: "200 millis",
        deadline: "1 second"
      })
      const error = yield* Effect.flip(raft.recordBatch([record(1)]))
      expect(error._tag).toBe("RaftUnavailable")
      expect(error._tag === "RaftUnavailable" && error.attempts).toBeGreaterThanOrEqual(3)
      expect(error.message).toContain("DEADLINE_EXCEEDED")
    }).pipe(Effect.provide(fakeLeader({ stream: true, streamFault: "silent" }))))
})
