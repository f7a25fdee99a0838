import { describe, expect, it } from "@effect/vitest"
import * as P from "@trading/proto/gen/raft/v1/raft"
import * as Either from "effect/Either"
import type { Message } from "./core/Types.js"
import { decode, encode, toProto } from "./Wire.js"

const bytes = (s: string) => new TextEncoder().encode(s)

const samples: Array<Message> = [
  {
    from: "a",
    to: "b",
    term: 3,
    body: { _tag: "VoteRequest", preVote: true, lastLogIndex: 7, lastLogTerm: 2, transfer: false }
  },
  { from: "b", to: "a", term: 3, body: { _tag: "VoteResponse", preVote: true, granted: true } },
  {
    from: "a",
    to: "b",
    term: 4,
    body: {
      _tag: "AppendRequest",
      prevLogIndex: 7,
      prevLogTerm: 2,
      entries: [
        { index: 8, term: 4, kind: "noop", data: new Uint8Array(0) },
        { index: 9, term: 4, kind: "command", data: bytes("x") },
        { index: 10, term: 4, kind: "config", data: bytes("{}") }
      ],
      leaderCommit: 7,
      context: 5
    }
  },
  {
    from: "b",
    to: "a",
    term: 4,
    body: { _tag: "AppendResponse", success: false, matchIndex: 0, conflictIndex: 3, conflictTerm: 2, context: 5 }
  },
  {
    from: "a",
    to: "b",
    term: 4,
    body: {
      _tag: "InstallSnapshotRequest",
      lastIncludedIndex: 9,
      lastIncludedTerm: 4,
      configuration: bytes("{\"voters\":[\"a\"]}"),
      offset: 0,
      data: bytes("state"),
      done: true
    }
  },
  { from: "b", to: "a", term: 4, body: { _tag: "InstallSnapshotResponse", lastIncludedIndex: 9, success: true } },
  { from: "a", to: "b", term: 4, body: { _tag: "TimeoutNow" } }
]

describe("wire mapping onto raft.v1.RaftMessage", () => {
  it("round-trips every message kind through protobuf bytes", () => {
    for (const m of samples) expect(Either.getOrThrow(decode(encode(m)))).toEqual(m)
  })

  it("names the field of an invalid message", () => {
    const noBody = decode(P.RaftMessage.encode({ from: "a", to: "b", term: 1, body: undefined }).finish())
    expect(Either.isLeft(noBody) && noBody.left.field).toBe("body")
    const gap = toProto(samples[2]!)
    if (gap.body?.$case === "appendRequest") gap.body.value.entries[1]!.index = 12
    const r = decode(P.RaftMessage.encode(gap).finish())
    expect(Either.isLeft(r) && r.left.field).toBe("appendRequest.entries[1].index")
    const noSender = decode(P.RaftMessage.encode({ ...toProto(samples[0]!), from: "" }).finish())
    expect(Either.isLeft(noSender) && noSender.left.field).toBe("from")
  })
})
