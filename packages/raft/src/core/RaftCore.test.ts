import { describe, expect, it } from "@effect/vitest"
import * as Core from "./RaftCore.js"
import * as Log from "./RaftLog.js"
import { cluster, cmd, elect, entry, input, message, node, ofTag, receive, sent, settle, tickAll } from "./testkit.js"
import type { AppendRequest, NodeId, Output, VoteRequest } from "./Types.js"

const voters = ["a", "b", "c"]
const vote = (_from: string, lastLogIndex: number, lastLogTerm: number, preVote = false): VoteRequest => ({
  _tag: "VoteRequest",
  preVote,
  lastLogIndex,
  lastLogTerm,
  transfer: false
})
const append = (
  prevLogIndex: number,
  prevLogTerm: number,
  entries: AppendRequest["entries"],
  leaderCommit = 0
): AppendRequest => ({ _tag: "AppendRequest", prevLogIndex, prevLogTerm, entries, leaderCommit, context: 0 })
const terms = (s: Core.RaftState) => s.log.entries.map((e) => e.term)
const firstIndexOf = (outputs: ReadonlyArray<Output>, tag: Output["_tag"]) => outputs.findIndex((o) => o._tag === tag)

describe("Figure 2: RequestVote receiver", () => {
  it("does not grant a vote to a candidate of an older term", () => {
    const { outputs, state } = receive(node("a", voters, { term: 5 }), message("b", "a", 3, vote("b", 9, 3)))
    expect(sent(outputs).some((m) => m.body._tag === "VoteResponse" && m.body.granted)).toBe(false)
    expect(state.votedFor).toBeNull()
    expect(state.term).toBe(5)
  })

  it("grants a vote to an up-to-date candidate and persists it before replying", () => {
    const { outputs, state } = receive(node("a", voters, { term: 1 }), message("b", "a", 2, vote("b", 1, 1)))
    expect(state.votedFor).toBe("b")
    expect(state.term).toBe(2)
    const persist = firstIndexOf(outputs, "PersistHardState")
    const reply = firstIndexOf(outputs, "Send")
    expect(persist).toBeGreaterThanOrEqual(0)
    expect(persist).toBeLessThan(reply)
    expect(ofTag(outputs, "PersistHardState")[0]!.hardState).toEqual({ term: 2, votedFor: "b" })
    expect(sent(outputs)[0]!.body).toMatchObject({ _tag: "VoteResponse", granted: true })
  })

  it("grants at most one vote per term", () => {
    let s = receive(node("a", voters), message("b", "a", 2, vote("b", 1, 1))).state
    const r = receive(s, message("c", "a", 2, vote("c", 1, 1)))
    s = r.state
    expect(s.votedFor).toBe("b")
    expect(sent(r.outputs)[0]!.body).toMatchObject({ _tag: "VoteResponse", granted: false })
    // ...but repeats the same answer to the same candidate (a duplicated request).
    expect(sent(receive(s, message("b", "a", 2, vote("b", 1, 1))).outputs)[0]!.body).toMatchObject({ granted: true })
  })

  it("election restriction (5.4.1): denies a candidate whose last log term is older", () => {
    const s = node("a", voters, { term: 3, entries: [entry(2, 3)] })
    const r = receive(s, message("b", "a", 4, vote("b", 5, 2)))
    expect(sent(r.outputs)[0]!.body).toMatchObject({ granted: false })
    expect(r.state.votedFor).toBeNull()
  })

  it("election restriction (5.4.1): denies a candidate with the same last term but a shorter log", () => {
    const s = node("a", voters, { term: 3, entries: [entry(2, 3), entry(3, 3)] })
    expect(sent(receive(s, message("b", "a", 4, vote("b", 2, 3))).outputs)[0]!.body).toMatchObject({ granted: false })
  })
})

describe("Figure 2: AppendEntries receiver", () => {
  it("rejects an append from an older term and tells the sender the newer term", () => {
    const r = receive(node("a", voters, { term: 5 }), message("b", "a", 4, append(1, 1, [entry(2, 4)])))
    expect(Log.lastIndex(r.state.log)).toBe(1)
    const reply = sent(r.outputs)[0]!
    expect(reply.term).toBe(5)
    expect(reply.body).toMatchObject({ _tag: "AppendResponse", success: false })
  })

  it("rejects when the log has no entry at prevLogIndex, hinting where it ends", () => {
    const r = receive(node("a", voters), message("b", "a", 2, append(4, 2, [entry(5, 2)])))
    expect(sent(r.outputs)[0]!.body).toMatchObject({ success: false, conflictIndex: 2, conflictTerm: 0 })
  })

  it("rejects when the term at prevLogIndex differs, naming that term and its first index", () => {
    const s = node("a", voters, { term: 3, entries: [entry(2, 2), entry(3, 2), entry(4, 2)] })
    const r = receive(s, message("b", "a", 3, append(4, 3, [])))
    expect(sent(r.outputs)[0]!.body).toMatchObject({ success: false, conflictIndex: 2, conflictTerm: 2 })
  })

  it("deletes a conflicting entry and all that follow it, then appends the new ones", () => {
    const s = node("a", voters, { term: 2, entries: [entry(2, 2), entry(3, 2, "old"), entry(4, 2)] })
    const r = receive(s, message("b", "a", 3, append(2, 2, [entry(3, 3, "new")])))
    expect(terms(r.state)).toEqual([1, 2, 3])
    expect(new TextDecoder().decode(Log.entryAt(r.state.log, 3)!.data)).toBe("new")
    expect(ofTag(r.outputs, "PersistEntries")[0]).toMatchObject({ from: 3 })
    expect(firstIndexOf(r.outputs, "PersistEntries")).toBeLessThan(firstIndexOf(r.outputs, "Send"))
  })

  it("keeps entries after a duplicate or reordered append that matches them", () => {
    const s = node("a", voters, { term: 2, entries: [entry(2, 2), entry(3, 2), entry(4, 2)] })
    const r = receive(s, message("b", "a", 2, append(1, 1, [entry(2, 2), entry(3, 2)])))
    expect(Log.lastIndex(r.state.log)).toBe(4)
    expect(ofTag(r.outputs, "PersistEntries")).toHaveLength(0)
    expect(sent(r.outputs)[0]!.body).toMatchObject({ success: true, matchIndex: 3 })
  })

  it("sets commitIndex to min(leaderCommit, index of the last new entry) and applies", () => {
    const s = node("a", voters, { term: 2, entries: [entry(2, 2), entry(3, 2), entry(4, 2)] })
    // The leader has committed 9, but this message only vouches for entries up to 3.
    const r = receive(s, message("b", "a", 2, append(2, 2, [entry(3, 2)], 9)))
    expect(r.state.commitIndex).toBe(3)
    expect(ofTag(r.outputs, "Apply")[0]!.entries.map((e) => e.index)).toEqual([1, 2, 3])
  })
})

describe("Figure 2: rules for servers", () => {
  it("PreVote: a timed-out follower asks first without raising its term", () => {
    const c = cluster(voters)
    c.drop = () => true
    for (let i = 0; i < 10; i++) input(c, "a", { _tag: "Tick", jitter: 0 })
    const a = c.nodes.get("a")!
    expect(a.role).toBe("precandidate")
    expect(a.term).toBe(1)
    expect(c.inflight.every((m) => m.body._tag === "VoteRequest" && m.body.preVote && m.term === 2)).toBe(true)
  })

  it("a candidate votes for itself in a new term, wins with a majority and opens its term with a no-op", () => {
    const c = cluster(voters)
    elect(c, "a")
    const a = c.nodes.get("a")!
    expect(a.role).toBe("leader")
    expect(a.term).toBe(2)
    expect(a.votedFor).toBe("a")
    expect(Log.entryAt(a.log, 2)).toMatchObject({ term: 2, kind: "noop" })
    for (const id of ["b", "c"]) {
      expect(c.nodes.get(id)!.leader).toBe("a")
      expect(Log.lastIndex(c.nodes.get(id)!.log)).toBe(2)
    }
    expect(a.commitIndex).toBe(2)
  })

  it("a candidate returns to follower when a leader of its term appends", () => {
    const s = node("a", voters)
    const candidate = Core.step(s, { _tag: "Receive", message: message("x", "a", 1, vote("x", 0, 0)) }).state
    let st = candidate
    for (let i = 0; i < 10; i++) st = Core.step(st, { _tag: "Tick", jitter: 0 }).state
    for (const id of ["b", "c"]) {
      st = receive(st, message(id, "a", 2, { _tag: "VoteResponse", preVote: true, granted: true })).state
    }
    expect(st.role).toBe("candidate")
    const r = receive(st, message("b", "a", st.term, append(1, 1, [])))
    expect(r.state.role).toBe("follower")
    expect(r.state.leader).toBe("b")
  })

  it("any message with a newer term turns a leader into a follower of that term", () => {
    const c = cluster(voters)
    elect(c, "a")
    const r = receive(
      c.nodes.get("a")!,
      message("b", "a", 7, {
        _tag: "AppendResponse",
        success: false,
        matchIndex: 0,
        conflictIndex: 0,
        conflictTerm: 0,
        context: 0
      })
    )
    expect(r.state.role).toBe("follower")
    expect(r.state.term).toBe(7)
    expect(ofTag(r.outputs, "PersistHardState")[0]!.hardState).toEqual({ term: 7, votedFor: null })
  })

  it("replicates proposals, commits on a majority and applies in order on every node", () => {
    const c = cluster(voters)
    elect(c, "a")
    const out = input(c, "a", { _tag: "Propose", reqId: 1, commands: [cmd("x"), cmd("y")] })
    expect(ofTag(out, "Accepted")[0]).toMatchObject({ reqId: 1, index: 3, term: 2 })
    settle(c)
    tickAll(c, 2)
    for (const id of voters) {
      const applied = c.outputs.get(id)!.flatMap((o) => (o._tag === "Apply" ? o.entries.map((e) => e.index) : []))
      expect(applied).toEqual([1, 2, 3, 4])
    }
  })

  it("a follower that is not in its own configuration never stands for election", () => {
    let s = node("z", voters)
    for (let i = 0; i < 50; i++) s = Core.step(s, { _tag: "Tick", jitter: 0 }).state
    expect(s.role).toBe("follower")
  })
})

describe("commitment (5.4.2, Figure 8)", () => {
  it("does not commit an entry of an earlier term by counting replicas, only via one of its own term", () => {
    // Leader of term 4 holding an entry of term 2 at index 2; its own no-op goes to index 3.
    let s = node("a", voters, { term: 3, entries: [entry(2, 2)] })
    s = Core.step(s, { _tag: "Receive", message: message("a", "a", 3, vote("a", 0, 0)) }).state
    for (let i = 0; i < 10; i++) s = Core.step(s, { _tag: "Tick", jitter: 0 }).state
    s = receive(s, message("b", "a", 4, { _tag: "VoteResponse", preVote: true, granted: true })).state
    s = receive(s, message("b", "a", 4, { _tag: "VoteResponse", preVote: false, granted: true })).state
    expect(s.role).toBe("leader")
    expect(s.term).toBe(4)
    expect(terms(s)).toEqual([1, 2, 4])
    s = Core.step(s, { _tag: "Synced" }).state // the no-op is on disk
    const ack = (matchIndex: number) =>
      message("b", "a", 4, {
        _tag: "AppendResponse",
        success: true,
        matchIndex,
        conflictIndex: 0,
        conflictTerm: 0,
        context: 0
      })
    // b now holds index 2 as well: a majority, but the entry is from term 2.
    s = receive(s, ack(2)).state
    expect(s.commitIndex).toBe(0)
    // Once the term-4 no-op is on a majority, it commits, and index 2 with it.
    const r = receive(s, ack(3))
    expect(r.state.commitIndex).toBe(3)
    expect(ofTag(r.outputs, "Apply")[0]!.entries.map((e) => e.index)).toEqual([1, 2, 3])
  })
})

describe("appends ahead of the leader's own fsync (thesis 10.2.1)", () => {
  const ack = (from: NodeId, term: number, matchIndex: number) =>
    message(from, "a", term, {
      _tag: "AppendResponse",
      success: true,
      matchIndex,
      conflictIndex: 0,
      conflictTerm: 0,
      context: 0
    })

  it("sends a proposal's appends before its persist, and counts itself only once Synced", () => {
    const c = cluster(voters)
    elect(c, "a")
    const lead = c.nodes.get("a")!
    const last = lead.log.entries.at(-1)!.index
    const r = Core.step(lead, { _tag: "Propose", reqId: 1, commands: [cmd("x")] })
    const tags = r.outputs.map((o) => (o._tag === "Send" ? `Send:${o.message.body._tag}` : o._tag))
    // the appends lead, the persist follows, and nothing is committed yet
    expect(tags.slice(0, 3)).toEqual(["Send:AppendRequest", "Send:AppendRequest", "PersistEntries"])
    expect(r.outputs.slice(0, 2).every(Core.isEarlySend)).toBe(true)
    // one follower acknowledges: with the leader's own copy not durable yet, that is 1 of 3
    const acked = receive(r.state, ack("b", lead.term, last + 1))
    expect(acked.state.commitIndex).toBe(last)
    expect(ofTag(acked.outputs, "Apply")).toEqual([])
    // the leader's sync completes: now two durable copies, a majority
    const synced = Core.step(acked.state, { _tag: "Synced" })
    expect(synced.state.commitIndex).toBe(last + 1)
    expect(ofTag(synced.outputs, "Apply")[0]!.entries.map((e) => e.index)).toEqual([last + 1])
  })

  it("votes and acknowledgements still wait for the persist", () => {
    const c = cluster(voters)
    elect(c, "a")
    const follower = c.nodes.get("b")!
    const last = follower.log.entries.at(-1)!
    const r = receive(
      follower,
      message("a", "b", follower.term, {
        _tag: "AppendRequest",
        prevLogIndex: last.index,
        prevLogTerm: last.term,
        entries: [entry(last.index + 1, follower.term)],
        leaderCommit: 0,
        context: 0
      })
    )
    const tags = r.outputs.map((o) => (o._tag === "Send" ? `Send:${o.message.body._tag}` : o._tag))
    expect(tags).toEqual(["PersistEntries", "Send:AppendResponse"])
    expect(r.outputs.some(Core.isEarlySend)).toBe(false)
  })
})

describe("log replication details", () => {
  it("fast backtracking: one rejection skips a whole conflicting term", () => {
    const c = cluster(voters)
    const run = (n: number, term: number) => Array.from({ length: n }, (_, i) => entry(2 + i, term, `t${term}`))
    c.nodes.set("a", node("a", voters, { term: 2, entries: run(10, 2) }))
    c.nodes.set("b", node("b", voters, { term: 2, entries: run(10, 2) }))
    // c holds a long run of entries from a term the others never saw.
    c.nodes.set("c", node("c", voters, { term: 2, entries: run(20, 1) }))
    const rejects: Array<number> = []
    c.drop = (m) => {
      if (m.body._tag === "AppendResponse" && !m.body.success && m.from === "c") rejects.push(m.body.conflictIndex)
      return false
    }
    elect(c, "a")
    tickAll(c, 2)
    expect(rejects).toEqual([1])
    expect(terms(c.nodes.get("c")!)).toEqual(terms(c.nodes.get("a")!))
  })

  it("flow control: at most maxEntriesPerMessage entries per append, maxInflight appends in flight", () => {
    const c = cluster(voters, { maxEntriesPerMessage: 3, maxInflight: 2 })
    elect(c, "a")
    const out = input(c, "a", {
      _tag: "Propose",
      reqId: 1,
      commands: Array.from({ length: 20 }, (_, i) => cmd(`${i}`))
    })
    const toB = sent(out).filter((m) => m.to === "b" && m.body._tag === "AppendRequest")
    expect(toB).toHaveLength(2)
    for (const m of toB) expect((m.body as AppendRequest).entries.length).toBeLessThanOrEqual(3)
    settle(c)
    expect(Log.lastIndex(c.nodes.get("b")!.log)).toBe(22)
  })

  it("flow control by bytes: an append stops before maxBytesPerMessage (but carries at least one entry)", () => {
    const c = cluster(voters, { maxBytesPerMessage: 10 })
    elect(c, "a")
    const out = input(c, "a", { _tag: "Propose", reqId: 1, commands: [cmd("123456"), cmd("123456"), cmd("1")] })
    const first = sent(out).find((m) => m.to === "b" && m.body._tag === "AppendRequest")!.body as AppendRequest
    expect(first.entries).toHaveLength(1)
  })

  it("batches a proposal of many commands into one append per follower", () => {
    const c = cluster(voters)
    elect(c, "a")
    const out = input(c, "a", {
      _tag: "Propose",
      reqId: 1,
      commands: Array.from({ length: 50 }, (_, i) => cmd(`${i}`))
    })
    expect(sent(out).filter((m) => m.to === "b")).toHaveLength(1)
  })
})

describe("leader election extensions", () => {
  it("CheckQuorum: a leader that hears from no majority for an election timeout steps down", () => {
    const c = cluster(voters)
    elect(c, "a")
    c.drop = (m) => m.from === "a" || m.to === "a"
    for (let i = 0; i < 25; i++) input(c, "a", { _tag: "Tick", jitter: 0 })
    settle(c)
    expect(c.nodes.get("a")!.role).toBe("follower")
  })

  it("PreVote: a node that was partitioned away does not disrupt the leader when it returns", () => {
    const c = cluster(voters)
    elect(c, "a")
    c.drop = (m) => m.from === "c" || m.to === "c"
    for (let i = 0; i < 100; i++) input(c, "c", { _tag: "Tick", jitter: 0 })
    settle(c)
    expect(c.nodes.get("c")!.term).toBe(2) // pre-votes never raised its term
    c.drop = () => false
    tickAll(c, 3)
    expect(c.nodes.get("a")!.role).toBe("leader")
    expect(c.nodes.get("a")!.term).toBe(2)
  })

  it("leadership transfer: the target catches up, gets TimeoutNow and wins the next term", () => {
    const c = cluster(voters)
    elect(c, "a")
    input(c, "a", { _tag: "Propose", reqId: 1, commands: [cmd("x")] })
    const out = input(c, "a", { _tag: "TransferLeadership", reqId: 2, to: "b" })
    expect(ofTag(out, "Accepted")).toHaveLength(1)
    expect(ofTag(input(c, "a", { _tag: "Propose", reqId: 3, commands: [cmd("y")] }), "Rejected")[0]!.reason).toBe(
      "transferring"
    )
    settle(c)
    expect(c.nodes.get("b")!.role).toBe("leader")
    expect(c.nodes.get("b")!.term).toBe(3)
    expect(c.nodes.get("a")!.role).toBe("follower")
  })
})

describe("membership changes", () => {
  it("a learner is added, refused promotion until caught up, then promoted", () => {
    const c = cluster(voters)
    elect(c, "a")
    c.nodes.set(
      "d",
      Core.init("d", c.nodes.get("a")!.options, {
        hardState: { term: 0, votedFor: null },
        snapshot: null,
        entries: []
      })
    )
    c.outputs.set("d", [])
    c.drop = (m) => m.to === "d" || m.from === "d"
    input(c, "a", { _tag: "ChangeMembership", reqId: 1, change: { _tag: "AddLearner", node: "d" } })
    settle(c)
    tickAll(c, 1)
    expect(c.nodes.get("a")!.membership.learners).toEqual(["d"])
    const refused = input(c, "a", { _tag: "ChangeMembership", reqId: 2, change: { _tag: "Promote", node: "d" } })
    expect(ofTag(refused, "Rejected")[0]!.reason).toBe("not-caught-up")
    c.drop = () => false
    tickAll(c, 3)
    expect(Log.lastIndex(c.nodes.get("d")!.log)).toBe(Log.lastIndex(c.nodes.get("a")!.log))
    const ok = input(c, "a", { _tag: "ChangeMembership", reqId: 3, change: { _tag: "Promote", node: "d" } })
    expect(ofTag(ok, "Accepted")).toHaveLength(1)
    settle(c)
    tickAll(c, 2)
    for (const id of ["a", "b", "c", "d"]) expect(c.nodes.get(id)!.membership.voters).toContain("d")
  })

  it("one change at a time: a second change waits for the first to commit", () => {
    const c = cluster(voters)
    elect(c, "a")
    c.drop = () => true
    input(c, "a", { _tag: "ChangeMembership", reqId: 1, change: { _tag: "AddLearner", node: "d" } })
    const second = input(c, "a", { _tag: "ChangeMembership", reqId: 2, change: { _tag: "AddLearner", node: "e" } })
    expect(ofTag(second, "Rejected")[0]!.reason).toBe("config-pending")
  })

  it("a removed leader keeps leading until the removal commits, then steps down and stays quiet", () => {
    const c = cluster(voters)
    elect(c, "a")
    input(c, "a", { _tag: "ChangeMembership", reqId: 1, change: { _tag: "Remove", node: "a" } })
    settle(c)
    const a = c.nodes.get("a")!
    expect(a.role).toBe("follower")
    expect(a.membership.voters).toEqual(["b", "c"])
    tickAll(c, 40)
    expect(c.nodes.get("a")!.role).toBe("follower")
    const leaders = ["b", "c"].filter((id) => c.nodes.get(id)!.role === "leader")
    expect(leaders).toHaveLength(1)
  })
})

describe("snapshots", () => {
  it("compacts the log and brings a lagging follower up with InstallSnapshot", () => {
    const c = cluster(voters)
    elect(c, "a")
    c.drop = (m) => m.to === "c" || m.from === "c"
    input(c, "a", { _tag: "Propose", reqId: 1, commands: [cmd("x"), cmd("y"), cmd("z")] })
    settle(c)
    tickAll(c, 1)
    const a = c.nodes.get("a")!
    expect(a.applied).toBe(5)
    const out = input(c, "a", { _tag: "Compact", index: 5, data: cmd("state@5") })
    expect(ofTag(out, "PersistSnapshot")[0]!.snapshot).toMatchObject({ index: 5, term: 2 })
    expect(c.nodes.get("a")!.log.entries).toHaveLength(0)
    c.drop = () => false
    tickAll(c, 2)
    const restored = ofTag(c.outputs.get("c")!, "Restore")
    expect(restored).toHaveLength(1)
    expect(new TextDecoder().decode(restored[0]!.snapshot.data)).toBe("state@5")
    expect(c.nodes.get("c")!.commitIndex).toBe(5)
    expect(c.nodes.get("c")!.membership.voters).toEqual(voters)
  })
})

describe("linearizable reads (ReadIndex)", () => {
  it("answers only after a majority confirmed leadership, with the commit index at arrival", () => {
    const c = cluster(voters)
    elect(c, "a")
    c.drop = () => true
    const out = input(c, "a", { _tag: "ReadIndex", reqId: 9 })
    expect(ofTag(out, "ReadReady")).toHaveLength(0)
    c.drop = () => false
    settle(c)
    expect(ofTag(c.outputs.get("a")!, "ReadReady")).toEqual([{ _tag: "ReadReady", reqId: 9, index: 2 }])
  })

  it("a deposed leader rejects waiting reads instead of answering them", () => {
    const c = cluster(voters)
    elect(c, "a")
    c.drop = () => true
    input(c, "a", { _tag: "ReadIndex", reqId: 9 })
    for (let i = 0; i < 25; i++) input(c, "a", { _tag: "Tick", jitter: 0 })
    expect(ofTag(c.outputs.get("a")!, "Rejected")).toMatchObject([{ reqId: 9, reason: "not-leader" }])
    expect(ofTag(c.outputs.get("a")!, "ReadReady")).toHaveLength(0)
  })

  it("followers refuse reads and name the leader", () => {
    const c = cluster(voters)
    elect(c, "a")
    expect(ofTag(input(c, "b", { _tag: "ReadIndex", reqId: 1 }), "Rejected")[0]).toMatchObject({ leader: "a" })
  })
})
