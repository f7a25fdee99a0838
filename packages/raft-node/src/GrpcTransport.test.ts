// The gRPC transport as a drop-in for the in-memory network: real gRPC streams on
// loopback carry a three-node RaftNode cluster (in-memory storage) to a leader and a
// commit; a peer with another cluster secret is refused; a stream gets its headers at once.
import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { freePort } from "@trading/platform/testing/ServiceProcess"
import { RaftTransportServiceService } from "@trading/proto/gen/raft/v1/raft"
import { inbox, MemoryStorage, type Message, RaftNode, type StateMachine, Transport } from "@trading/raft"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AddressBook } from "./AddressBook.js"
import * as GrpcTransport from "./GrpcTransport.js"

const peers = (ids: ReadonlyArray<string>) =>
  Effect.forEach(
    ids,
    (id) =>
      Effect.map(Effect.promise(freePort), (port) => ({ nodeId: id, raftAddr: `127.0.0.1:${port}`, grpcAddr: "" }))
  )

/** A transport for `self` whose address book knows every peer. */
const transportFor = (
  self: { nodeId: string; raftAddr: string; grpcAddr: string },
  all: ReadonlyArray<typeof self>,
  secret: string
) =>
  Effect.gen(function*() {
    const api = yield* AddressBook.pipe(Effect.provide(AddressBook.layer(mkdtempSync(join(tmpdir(), "transport-")))))
    yield* Effect.forEach(all, api.upsertDirectory, { discard: true })
    return yield* GrpcTransport.make({
      self,
      bindAddr: self.raftAddr,
      clusterSecret: Option.some(Redacted.make(secret)),
      tls: Option.none()
    }).pipe(Effect.provideService(AddressBook, api))
  })

const counter = (log: Ref.Ref<Array<string>>): StateMachine => ({
  apply: (command) => Effect.as(Ref.update(log, (l) => [...l, new TextDecoder().decode(command)]), new Uint8Array()),
  query: () => Effect.succeed(new Uint8Array()),
  snapshot: Effect.succeed(Effect.succeed([new Uint8Array()])),
  restore: () => Effect.void
})

describe("GrpcTransport", () => {
  it.live(
    "carries a RaftNode cluster to a leader and a commit on every replica",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const all = yield* peers(["a", "b", "c"])
        const logs = yield* Effect.forEach(all, () => Ref.make<Array<string>>([]))
        const nodes = yield* Effect.forEach(all, (self, i) =>
          Effect.gen(function*() {
            const transport = yield* transportFor(self, all, "s")
            return yield* RaftNode.make(
              { id: self.nodeId, bootstrap: ["a", "b", "c"], options: { electionTicks: 20, heartbeatTicks: 4 } },
              counter(logs[i]!)
            ).pipe(
              Effect.provide(
                Layer.merge(Layer.succeed(Transport, transport), MemoryStorage.layer(MemoryStorage.makeDisk()))
              )
            )
          }))
        let leader: RaftNode.RaftNode | undefined
        while (leader === undefined) {
          yield* Effect.sleep("20 millis")
          for (const n of nodes) if ((yield* n.status).role === "leader") leader = n
        }
        yield* leader.propose(new TextEncoder().encode("hello"))
        for (const log of logs) {
          while (!(yield* Ref.get(log)).includes("hello")) yield* Effect.sleep("10 millis")
        }
        const statuses = yield* Effect.forEach(nodes, (n) => n.status)
        expect(new Set(statuses.map((s) => s.leader)).size).toBe(1)
      })),
    20_000
  )

  it.live("refuses streams from a node with another cluster secret", () =>
    Effect.scoped(Effect.gen(function*() {
      const all = yield* peers(["a", "b", "c"])
      const a = yield* transportFor(all[0]!, all, "right")
      const b = yield* transportFor(all[1]!, all, "right")
      const c = yield* transportFor(all[2]!, all, "wrong")
      const received = yield* inbox(a, "a")
      const message = (from: string): Message => ({ from, to: "a", term: 1, body: { _tag: "TimeoutNow" } })
      yield* c.send(message("c"))
      yield* b.send(message("b"))
      // b's message arrives; c's stream was refused (UNAUTHENTICATED) and its message dropped
      const first = yield* Queue.take(received)
      expect(first.from).toBe("b")
      yield* Effect.sleep("200 millis")
      yield* b.send(message("b"))
      expect((yield* Queue.take(received)).from).toBe("b")
      expect(yield* Queue.size(received)).toBe(0)
    })), 20_000)

  // A grpc-js client keeps every message of a stream (for a transparent retry) until the
  // server's headers commit the call; without them a long-lived stream of small messages
  // pinned tens of MB on every follower.
  it.live(
    "answers a peer's stream with its headers at once, before any message",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const all = yield* peers(["a", "b"])
        yield* transportFor(all[0]!, all, "s")
        const client = yield* Effect.acquireRelease(
          Effect.sync(() => new grpc.Client(all[0]!.raftAddr, grpc.credentials.createInsecure())),
          (c) => Effect.sync(() => c.close())
        )
        const metadata = new grpc.Metadata()
        metadata.set(GrpcTransport.TOKEN_KEY, GrpcTransport.clusterToken(Redacted.make("s")))
        const m = RaftTransportServiceService.stream
        const headers = yield* Effect.async<grpc.Metadata>((resume) => {
          const call = client.makeClientStreamRequest(
            m.path,
            m.requestSerialize,
            m.responseDeserialize,
            metadata,
            {},
            () => {}
          )
          call.on("error", () => {})
          call.on("metadata", (received) => resume(Effect.succeed(received)))
          return Effect.sync(() => call.cancel())
        }).pipe(Effect.timeout("5 seconds"))
        expect(headers).toBeInstanceOf(grpc.Metadata)
      })),
    20_000
  )
})
