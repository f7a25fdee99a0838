/**
 * The core's messages <-> `raft.v1.RaftMessage` (proto/raft/v1/raft.proto), field for field.
 * Decoding validates what protobuf cannot (a body is present, indexes are non-negative
 * integers, entry kinds are known) and names the offending field in a typed error.
 */
import * as P from "@trading/proto/gen/raft/v1/raft"
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import type { Entry, EntryKind, Message, MessageBody } from "./core/Types.js"

export class WireDecodeError extends Data.TaggedError("WireDecodeError")<{
  readonly field: string
  readonly reason: string
}> {}

const buffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength)

const kindToProto: Record<EntryKind, P.EntryKind> = {
  command: P.EntryKind.ENTRY_KIND_COMMAND,
  noop: P.EntryKind.ENTRY_KIND_NOOP,
  config: P.EntryKind.ENTRY_KIND_CONFIG
}

const entryToProto = (e: Entry): P.Entry => ({
  term: e.term,
  index: e.index,
  kind: kindToProto[e.kind],
  data: buffer(e.data)
})

const bodyToProto = (b: MessageBody): P.RaftMessage["body"] => {
  switch (b._tag) {
    case "VoteRequest":
      return { $case: "voteRequest", value: { ...b } }
    case "VoteResponse":
      return { $case: "voteResponse", value: { preVote: b.preVote, granted: b.granted } }
    case "AppendRequest":
      return {
        $case: "appendRequest",
        value: {
          prevLogIndex: b.prevLogIndex,
          prevLogTerm: b.prevLogTerm,
          entries: b.entries.map(entryToProto),
          leaderCommit: b.leaderCommit,
          context: b.context
        }
      }
    case "AppendResponse":
      return {
        $case: "appendResponse",
        value: {
          success: b.success,
          matchIndex: b.matchIndex,
          conflictIndex: b.conflictIndex,
          conflictTerm: b.conflictTerm,
          context: b.context
        }
      }
    case "InstallSnapshotRequest":
      return {
        $case: "installSnapshotRequest",
        value: {
          lastIncludedIndex: b.lastIncludedIndex,
          lastIncludedTerm: b.lastIncludedTerm,
          configuration: buffer(b.configuration),
          offset: b.offset,
          data: buffer(b.data),
          done: b.done
        }
      }
    case "InstallSnapshotResponse":
      return {
        $case: "installSnapshotResponse",
        value: { lastIncludedIndex: b.lastIncludedIndex, success: b.success }
      }
    case "TimeoutNow":
      return { $case: "timeoutNow", value: {} }
  }
}

export const toProto = (m: Message): P.RaftMessage => ({
  from: m.from,
  to: m.to,
  term: m.term,
  body: bodyToProto(m.body)
})

class Invalid {
  constructor(readonly field: string, readonly reason: string) {}
}

const count = (field: string, n: number): number => {
  if (!Number.isSafeInteger(n) || n < 0) throw new Invalid(field, `expected a non-negative integer, got ${n}`)
  return n
}

const kindFromProto = (field: string, k: P.EntryKind): EntryKind => {
  switch (k) {
    case P.EntryKind.ENTRY_KIND_COMMAND:
      return "command"
    case P.EntryKind.ENTRY_KIND_NOOP:
      return "noop"
    case P.EntryKind.ENTRY_KIND_CONFIG:
      return "config"
    default:
      throw new Invalid(field, `unknown entry kind ${k}`)
  }
}

const bodyFromProto = (b: P.RaftMessage["body"]): MessageBody => {
  if (b === undefined) throw new Invalid("body", "missing")
  switch (b.$case) {
    case "voteRequest":
      return {
        _tag: "VoteRequest",
        preVote: b.value.preVote,
        lastLogIndex: count("voteRequest.lastLogIndex", b.value.lastLogIndex),
        lastLogTerm: count("voteRequest.lastLogTerm", b.value.lastLogTerm),
        transfer: b.value.transfer
      }
    case "voteResponse":
      return { _tag: "VoteResponse", preVote: b.value.preVote, granted: b.value.granted }
    case "appendRequest": {
      const v = b.value
      const entries = v.entries.map((e, i): Entry => ({
        term: count(`appendRequest.entries[${i}].term`, e.term),
        index: count(`appendRequest.entries[${i}].index`, e.index),
        kind: kindFromProto(`appendRequest.entries[${i}].kind`, e.kind),
        data: new Uint8Array(e.data)
      }))
      entries.forEach((e, i) => {
        if (e.index !== v.prevLogIndex + 1 + i) {
          throw new Invalid(`appendRequest.entries[${i}].index`, `expected ${v.prevLogIndex + 1 + i}, got ${e.index}`)
        }
      })
      return {
        _tag: "AppendRequest",
        prevLogIndex: count("appendRequest.prevLogIndex", v.prevLogIndex),
        prevLogTerm: count("appendRequest.prevLogTerm", v.prevLogTerm),
        entries,
        leaderCommit: count("appendRequest.leaderCommit", v.leaderCommit),
        context: count("appendRequest.context", v.context)
      }
    }
    case "appendResponse":
      return {
        _tag: "AppendResponse",
        success: b.value.success,
        matchIndex: count("appendResponse.matchIndex", b.value.matchIndex),
        conflictIndex: count("appendResponse.conflictIndex", b.value.conflictIndex),
        conflictTerm: count("appendResponse.conflictTerm", b.value.conflictTerm),
        context: count("appendResponse.context", b.value.context)
      }
    case "installSnapshotRequest":
      if (b.value.offset !== 0 || !b.value.done) {
        throw new Invalid(
          "installSnapshotRequest.offset",
          "chunked snapshots are not supported: expected offset 0, done"
        )
      }
      return {
        _tag: "InstallSnapshotRequest",
        lastIncludedIndex: count("installSnapshotRequest.lastIncludedIndex", b.value.lastIncludedIndex),
        lastIncludedTerm: count("installSnapshotRequest.lastIncludedTerm", b.value.lastIncludedTerm),
        configuration: new Uint8Array(b.value.configuration),
        offset: 0,
        data: new Uint8Array(b.value.data),
        done: true
      }
    case "installSnapshotResponse":
      return {
        _tag: "InstallSnapshotResponse",
        lastIncludedIndex: count("installSnapshotResponse.lastIncludedIndex", b.value.lastIncludedIndex),
        success: b.value.success
      }
    case "timeoutNow":
      return { _tag: "TimeoutNow" }
  }
}

export const fromProto = (m: P.RaftMessage): Either.Either<Message, WireDecodeError> => {
  try {
    if (m.from === "") throw new Invalid("from", "empty node id")
    if (m.to === "") throw new Invalid("to", "empty node id")
    return Either.right({ from: m.from, to: m.to, term: count("term", m.term), body: bodyFromProto(m.body) })
  } catch (e) {
    if (e instanceof Invalid) return Either.left(new WireDecodeError({ field: e.field, reason: e.reason }))
    throw e
  }
}

/** Bytes on the wire, for transports that frame messages themselves. */
export const encode = (m: Message): Uint8Array => P.RaftMessage.encode(toProto(m)).finish()

export const decode = (bytes: Uint8Array): Either.Either<Message, WireDecodeError> => {
  try {
    return fromProto(P.RaftMessage.decode(bytes))
  } catch (cause) {
    return Either.left(new WireDecodeError({ field: "message", reason: `not a raft.v1.RaftMessage: ${String(cause)}` }))
  }
}
