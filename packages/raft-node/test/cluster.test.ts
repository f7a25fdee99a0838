// A three-node raft-node cluster as real processes on loopback: formation, writes through
// any node, kill -9 of the leader (failover, no acknowledged record lost, duplicates
// answered with the original outcome, catch-up by snapshot), graceful SIGTERM of a
// follower and of the leader, join, leave and a refused join. The tests share one cluster
// and run in order (each leaves it with three healthy voters) to keep the file fast.
import { OrderRecord } from "@trading/domain"
import { GrpcClient } from "@trading/platform"
import { RaftNodeServiceService, type RecordOrdersStreamResponse } from "@trading/proto/gen/trading/v1/raft_node"
import { RaftClient } from "@trading/raft/client/index"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually, grpcAddr, makeSpec, type NodeProcess, type NodeSpec, raftView, start, stop } from "./processes.js"

const SECRET = "integration-secret"
const SNAPSHOT_EVERY = 50
let dataRoot = ""
const scope = Effect.runSync(Scope.make())
const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.extend(effect, scope))
const nodes = new Map<string, NodeProcess>()
const specs = new Map<string, NodeSpec>()
let client: RaftClient.RaftClient

const admin = (spec: NodeSpec) =>
  run(GrpcClient.make(RaftNodeServiceService, { address: grpcAddr(spec), deadline: "3 seconds", tls: "insecure" }))

let seq = 0
const order = (tag: string, status: OrderRecord.OrderRecord["status"] = "ACCEPTED"): OrderRecord.OrderRecord => {
  seq++
  return {
    orderId: `ord-${tag}-${seq}`,
    eventId: `evt-${tag}-${seq}`,
    commandId: `cmd-${tag}-${seq}`,
    status,
    reason: status === "REJECTED" ? "risk limit" : "",
    filledQuantity: 0,
    fillPriceMicros: 0,
    recordedAtUnixMs: Date.now()
  }
}

// a restart uses the node's original command line, as an operator would: the bootstrap node
// keeps RAFT_BOOTSTRAP=true (ignored on existing data), joiners keep RAFT_JOIN_ADDR
const commands = new Map<string, Record<string, string>>()
const launch = (id: string, extra?: Record<string, string>) => {
  if (extra !== undefined) commands.set(id, extra)
  const node = start(specs.get(id)!, commands.get(id) ?? {})
  nodes.set(id, node)
  return node
}

const statusOf = async (id: string) => {
  const c = await admin(specs.get(id)!)
  return run(c.status({}))
}

/** Every running node reports healthy, the same leader, and `voters` voters. */
const healthyCluster = (ids: ReadonlyArray<string>, voters = 3) =>
  eventually(
    `cluster ${ids.join(",")} healthy`,
    async () => {
      const views = await Promise.all(ids.map(async (id) => {
        const node = nodes.get(id)!
        if (node.process.exitCode !== null) {
          throw new Error(`${id} exited: ${node.stderr()} ${node.stdout().slice(-2000)}`)
        }
        const { body, status } = await node.healthz()
        return status === 200 ? raftView(body) : undefined
      }))
      if (views.some((v) => v === undefined)) return undefined
      const leaders = new Set(views.map((v) => v!.leaderId))
      if (leaders.size !== 1 || views.some((v) => v!.members.filter((m) => m.voter).length !== voters)) return undefined
      return views.map((v) => v!)
    },
    30_000,
    100
  )

const leaderId = async (ids: ReadonlyArray<string>) => {
  const views = await healthyCluster(ids)
  return views[0]!.leaderId!
}

beforeAll(async () => {
  dataRoot = mkdtempSync(join(tmpdir(), "raft-node-it-"))
  const common = { RAFT_CLUSTER_SECRET: SECRET, RAFT_SNAPSHOT_EVERY: String(SNAPSHOT_EVERY) }
  for (const id of ["n1", "n2", "n3", "n4", "n5"]) specs.set(id, await makeSpec(id, dataRoot, common))
  launch("n1", { RAFT_BOOTSTRAP: "true" })
  launch("n2", { RAFT_JOIN_ADDR: grpcAddr(specs.get("n1")!) })
  launch("n3", { RAFT_JOIN_ADDR: grpcAddr(specs.get("n1")!) })
  client = await run(RaftClient.make({
    seeds: ["n2", "n3"].map((id) => grpcAddr(specs.get(id)!)),
    deadline: "15 seconds",
    tls: "insecure"
  }))
})

afterAll(async () => {
  await Promise.all([...nodes.values()].map((n) => stop(n, "SIGKILL")))
  await Effect.runPromise(Scope.close(scope, Exit.void))
  rmSync(dataRoot, { recursive: true, force: true })
})

describe("raft-node cluster (real processes)", () => {
  it("three processes form a cluster with exactly one leader", async () => {
    const views = await healthyCluster(["n1", "n2", "n3"])
    const statuses = await Promise.all(["n1", "n2", "n3"].map(statusOf))
    expect(statuses.filter((s) => s.role === "leader")).toHaveLength(1)
    expect(new Set(statuses.map((s) => `${s.term}/${s.leaderId}`)).size).toBe(1)
    // /healthz carries the node's view as top-level JSON (`body.raft`), member list with
    // gRPC addresses from the directory
    for (const view of views) {
      expect(view).toMatchObject({
        role: expect.any(String),
        term: expect.any(Number),
        leaderId: expect.any(String),
        commitIndex: expect.any(Number),
        appliedIndex: expect.any(Number)
      })
      expect(view.members.map((m) => m.nodeId).sort()).toEqual(["n1", "n2", "n3"])
      for (const m of view.members) expect(m.grpcAddr).toBe(grpcAddr(specs.get(m.nodeId)!))
    }
    const metrics = await nodes.get("n1")!.metrics()
    expect(metrics).toMatch(/^raft_elections_total \d+$/m)
    expect(metrics).toMatch(/^raft_term \d+$/m)
    // the leader answers Leader with its own gRPC address; a follower with the leader's
    const follower = statuses.find((s) => s.role !== "leader")!
    const leader = await run((await admin(specs.get(follower.nodeId)!)).leader({}))
    expect(leader.leaderGrpcAddr).toBe(grpcAddr(specs.get(leader.leaderId)!))
  })

  it("records first-writer-wins through any node; a follower forwards or names the leader", async () => {
    const records = Array.from({ length: 40 }, () => order("fw"))
    const first = await run(Effect.forEach(records, client.record, { concurrency: 8 }))
    expect(first.every((o) => o.created && o.index > 0)).toBe(true)
    // the same ids with another outcome: the stored one comes back, never a second one
    const again = await run(
      Effect.forEach(records, (r) => client.record({ ...r, status: "REJECTED", reason: "late duplicate" }), {
        concurrency: 8
      })
    )
    again.forEach((o, i) => {
      expect(o.created).toBe(false)
      expect(o.record).toEqual(records[i])
      expect(o.index).toBe(first[i]!.index)
    })
    const batch = [order("batch"), order("batch")]
    const outcomes = await run(client.recordBatch([...batch, batch[0]!]))
    expect(outcomes.map((o) => o.created)).toEqual([true, true, false])

    // Apply sent straight to a follower is forwarded to the leader
    const leader = await leaderId(["n1", "n2", "n3"])
    const followerId = ["n1", "n2", "n3"].find((id) => id !== leader)!
    const follower = await admin(specs.get(followerId)!)
    const direct = await run(follower.apply({ record: OrderRecord.toProto(order("direct")) }))
    expect(direct.outcome?.created).toBe(true)
    // a request already forwarded once is not forwarded again: UNAVAILABLE + the leader's gRPC address
    const refused = await run(
      Effect.flip(follower.read({ orderId: records[0]!.orderId }, { metadata: { "raft-forwarded": "1" } }))
    )
    expect(refused.code).toBe(14)
    expect(refused.metadata["leader-grpc-addr"]).toBe(grpcAddr(specs.get(leader)!))
    // invalid input is INVALID_ARGUMENT naming the field
    const invalid = await run(
      Effect.flip(follower.apply({ record: { ...OrderRecord.toProto(order("bad")), orderId: "" } }))
    )
    expect(invalid.code).toBe(3)
    expect(invalid.details).toContain("record.order_id")
    const metrics = await nodes.get(leader)!.metrics()
    expect(metrics).toMatch(/^raft_commit_seconds_count [1-9]\d*$/m)
    // the commits above were fsynced on every node, the followers included
    for (const node of nodes.values()) {
      expect(await node.metrics()).toMatch(/^raft_storage_fsync_seconds_count [1-9]\d*$/m)
    }
  })

  it("RecordOrdersStream: calls through a follower answered by id, a bad record answered INVALID_ARGUMENT in its envelope", async () => {
    const leader = await leaderId(["n1", "n2", "n3"])
    const followerId = ["n1", "n2", "n3"].find((id) => id !== leader)!
    const follower = await admin(specs.get(followerId)!)
    const good = order("stream")
    const answers: Array<RecordOrdersStreamResponse> = []
    const ended = await run(Effect.gen(function*() {
      const call = yield* follower.recordOrdersStream((answer) => answers.push(answer), { deadline: "10 seconds" })
      call.write({ callId: 7, request: { records: [OrderRecord.toProto(good)] }, traceparent: "" })
      call.write({
        callId: 8,
        request: { records: [{ ...OrderRecord.toProto(order("stream-bad")), orderId: "" }] },
        traceparent: ""
      })
      yield* call.end
      return yield* Effect.exit(call.done)
    }))
    // both calls answered, then the stream ended OK: one refused call does not end it
    expect(Exit.isSuccess(ended)).toBe(true)
    const byId = new Map(answers.map((a) => [a.callId, a.result]))
    expect(answers.length).toBe(2)
    const ok = byId.get(7)
    expect(ok?.$case === "response" && ok.value.outcomes.map((o) => [o.record?.orderId, o.created])).toEqual([
      [good.orderId, true]
    ])
    const refused = byId.get(8)
    expect(refused?.$case === "error" && refused.value.code).toBe(3)
    expect(refused?.$case === "error" && refused.value.details).toContain("records[0].order_id")
    // the follower forwarded the good call: the leader answers it as recorded
    const stored = await run(client.recordBatch([{ ...good, eventId: "evt-other" }]))
    expect(stored[0]).toMatchObject({ created: false, record: { eventId: good.eventId } })
  })

  it("kill -9 of the leader: a new leader, nothing acknowledged lost, duplicates keep their outcome, the node catches up by snapshot", async () => {
    const ids = ["n1", "n2", "n3"]
    const oldLeader = await leaderId(ids)
    const acknowledged = Array.from({ length: 60 }, () => order("pre"))
    const outcomes = await run(Effect.forEach(acknowledged, client.record, { concurrency: 10 }))
    expect(outcomes.every((o) => o.created)).toBe(true)

    const killedAt = Date.now()
    nodes.get(oldLeader)!.process.kill("SIGKILL")
    await nodes.get(oldLeader)!.exited
    const survivors = ids.filter((id) => id !== oldLeader)
    const newLeader = await eventually(
      "a new leader",
      async () => {
        const statuses = await Promise.all(survivors.map(statusOf))
        const leaders = statuses.filter((s) => s.role === "leader" && s.leaderId !== oldLeader)
        return leaders.length === 1 && statuses.every((s) => s.leaderId === leaders[0]!.nodeId)
          ? leaders[0]!.nodeId
          : undefined
      },
      10_000,
      20
    )
    const electedAfterMs = Date.now() - killedAt
    // election timeout is 300..600 ms (RAFT_ELECTION_TICKS=30 x 10 ms): a few windows at most
    expect(electedAfterMs).toBeLessThan(5_000)
    expect(survivors).toContain(newLeader)

    // every acknowledged record is still there (linearizable reads), with its outcome
    const reads = await run(Effect.forEach(acknowledged, (r) => client.read(r.orderId), { concurrency: 10 }))
    reads.forEach((found, i) => {
      expect(Option.isSome(found)).toBe(true)
      expect(Option.getOrThrow(found).record).toEqual(acknowledged[i])
      expect(Option.getOrThrow(found).index).toBe(outcomes[i]!.index)
    })
    const duplicates = await run(
      Effect.forEach(acknowledged, (r) => client.record({ ...r, status: "REJECTED", reason: "replayed" }), {
        concurrency: 10
      })
    )
    expect(duplicates.every((o, i) => !o.created && o.index === outcomes[i]!.index)).toBe(true)

    // move the log far past the killed node until the leader has compacted beyond it: the
    // restarted node's next entry is gone from the leader's log, so it must install a snapshot
    const lastIndexBeforeKill = outcomes.reduce((max, o) => Math.max(max, o.index), 0)
    await eventually(
      "leader compacted past the killed node",
      async () => {
        await run(Effect.forEach(Array.from({ length: 40 }, () => order("post")), client.record, {
          concurrency: 4,
          discard: true
        }))
        const s = await statusOf(newLeader)
        return s.snapshotIndex > lastIndexBeforeKill + 1 ? s : undefined
      },
      60_000,
      0
    )

    const restarted = launch(oldLeader)
    const started = await restarted.waitFor((l) => l.message === "raft node started", "start")
    await restarted.waitFor(
      (l) => l.message === "state machine restored from snapshot" && l.timestamp >= started.timestamp,
      "snapshot install from the leader"
    )
    await healthyCluster(ids)
    const target = (await statusOf(newLeader)).appliedIndex
    await eventually("restarted node caught up", async () => {
      const s = await statusOf(oldLeader)
      return s.appliedIndex >= target && s.snapshotIndex > 0 ? s : undefined
    })
  })

  it("graceful SIGTERM of a follower: exit 0, the cluster keeps committing, the node rejoins", async () => {
    const ids = ["n1", "n2", "n3"]
    const leader = await leaderId(ids)
    const follower = ids.find((id) => id !== leader)!
    const node = nodes.get(follower)!
    const exit = await stop(node)
    expect(exit.code).toBe(0)
    expect(node.lines().some((l) => l.message === "service stopped")).toBe(true)
    expect(node.lines().some((l) => l.message === "leadership transferred")).toBe(false)
    const o = await run(client.record(order("one-down")))
    expect(o.created).toBe(true)
    const restarted = launch(follower)
    if (commands.get(follower)?.["RAFT_JOIN_ADDR"] !== undefined) {
      // a joiner re-sends Join after a restart: accepted, and membership is not duplicated
      await restarted.waitFor((l) => l.message === "joined the cluster", "rejoin")
    }
    const views = await healthyCluster(ids)
    for (const view of views) expect(view.members.map((m) => m.nodeId).sort()).toEqual(ids)
  })

  it("graceful SIGTERM of the leader transfers leadership first", async () => {
    const ids = ["n1", "n2", "n3"]
    const leader = await leaderId(ids)
    const node = nodes.get(leader)!
    const stoppedAt = Date.now()
    const exit = await stop(node)
    expect(exit.code).toBe(0)
    const transferred = node.lines().find((l) => l.message === "leadership transferred")
    expect(transferred).toBeDefined()
    const to = transferred!.annotations["to"] as string
    const others = ids.filter((id) => id !== leader)
    await eventually(
      "transfer target leads",
      async () => {
        const statuses = await Promise.all(others.map(statusOf))
        return statuses.every((s) => s.leaderId === to) ? true : undefined
      },
      10_000,
      20
    )
    const o = await run(client.record(order("after-transfer")))
    expect(o.created).toBe(true)
    void stoppedAt
    launch(leader)
    await healthyCluster(ids)
  })

  it("a node joins with the secret and leaves; a join with the wrong secret is refused and logged", async () => {
    const ids = ["n1", "n2", "n3"]
    const leader = await leaderId(ids)
    const follower = ids.find((id) => id !== leader)!
    const n4 = launch("n4", { RAFT_JOIN_ADDR: grpcAddr(specs.get(follower)!) })
    await n4.waitFor((l) => l.message === "joined the cluster", "join")
    await healthyCluster([...ids, "n4"], 4)

    const c = await admin(specs.get(follower)!)
    const left = await run(c.leave({ nodeId: "n4", clusterSecret: SECRET }, { deadline: "20 seconds" }))
    expect(left.members.map((m) => m.nodeId).sort()).toEqual(ids)
    await healthyCluster(ids, 3)
    await eventually("n4 no longer a member", async () => ((await n4.healthz()).status === 503 ? true : undefined))
    expect((await stop(n4)).code).toBe(0)

    // wrong secret on Leave too
    const denied = await run(Effect.flip(c.leave({ nodeId: "n1", clusterSecret: "nope" })))
    expect(denied.code).toBe(7)

    const n5 = launch("n5", { RAFT_JOIN_ADDR: grpcAddr(specs.get(leader)!), RAFT_CLUSTER_SECRET: "wrong-secret" })
    await n5.waitFor((l) => l.message === "join refused by the cluster: wrong cluster secret", "refusal on the joiner")
    await nodes.get(leader)!.waitFor(
      (l) => l.message === "join refused: wrong cluster secret" && l.annotations["member"] === "n5",
      "refusal logged by the cluster"
    )
    const refused = await n5.healthz()
    expect(refused.status).toBe(503)
    // unhealthy, yet the view is still there as fields, and the check names the reason
    expect(refused.body.raft).toMatchObject({ role: expect.any(String), term: expect.any(Number) })
    expect(refused.body.raft.members.map((m) => m.nodeId)).not.toContain("n5")
    expect(refused.body.checks).toContainEqual(
      expect.objectContaining({ name: "raft", state: "failed", detail: "not a member of the cluster (yet)" })
    )
    const members = (await statusOf(leader)).members.map((m) => m.nodeId).sort()
    expect(members).toEqual(ids)
    await stop(n5)
  })
})
