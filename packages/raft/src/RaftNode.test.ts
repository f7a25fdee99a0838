import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { NodeId } from "./core/Types.js"
import * as FileStorage from "./FileStorage.js"
import * as RegistrySM from "./internal/RegistryStateMachine.js"
import * as MemoryStorage from "./MemoryStorage.js"
import * as MemoryTransport from "./MemoryTransport.js"
import * as RaftNode from "./RaftNode.js"
import { encodeCommand } from "./sim/Registry.js"
import type { StateMachine } from "./StateMachine.js"
import { Storage, type StorageApi } from "./Storage.js"
import { Transport } from "./Transport.js"

const text = (b: Uint8Array) => new TextDecoder().decode(b)
const write = (key: string, value: string) => encodeCommand({ op: "write", key, value })
const key = (k: string) => new TextEncoder().encode(k)

/** Let fibers run: messages between in-memory nodes need a few scheduler turns. */
const drain = Effect.forEach(Array.from({ length: 10 }), () => Effect.yieldNow(), { discard: true })

/** Advance the TestClock one tick at a time so every tick and the messages it causes run in order. */
const advance = (millis: number) =>
  Effect.forEach(
    Array.from({ length: Math.ceil(millis / 5) }),
    () => Effect.zipRight(TestClock.adjust("5 millis"), drain),
    {
      discard: true
    }
  )

const start = (
  network: MemoryTransport.MemoryNetwork,
  storage: StorageApi,
  config: RaftNode.RaftNodeConfig,
  scope: Scope.Scope
) =>
  RaftNode.make(config, RegistrySM.make()).pipe(
    Effect.provideService(Storage, storage),
    Effect.provideService(Transport, network.transport),
    Scope.extend(scope)
  )

const threeNodes = Effect.gen(function*() {
  const network = yield* MemoryTransport.make
  const ids: ReadonlyArray<NodeId> = ["n1", "n2", "n3"]
  const scope = yield* Effect.scope
  const nodes = yield* Effect.forEach(
    ids,
    (id) => start(network, MemoryStorage.make(MemoryStorage.makeDisk()), { id, bootstrap: ids }, scope)
  )
  return { network, nodes }
})

/** Three nodes with `config` and their state machines, on one network; `wrap` adapts each one's storage. */
const threeNodesWith = (
  config: Omit<RaftNode.RaftNodeConfig, "id" | "bootstrap">,
  wrap: (storage: StorageApi) => StorageApi = (storage) => storage
) =>
  Effect.gen(function*() {
    const network = yield* MemoryTransport.make
    const ids: ReadonlyArray<NodeId> = ["n1", "n2", "n3"]
    const scope = yield* Effect.scope
    const sms = ids.map(() => RegistrySM.make())
    const nodes = yield* Effect.forEach(ids, (id, i) =>
      RaftNode.make({ ...config, id, bootstrap: ids }, sms[i]!).pipe(
        Effect.provideService(Storage, wrap(MemoryStorage.make(MemoryStorage.makeDisk()))),
        Effect.provideService(Transport, network.transport),
        Scope.extend(scope)
      ))
    return { network, nodes, sms }
  })

const leaders = (nodes: ReadonlyArray<RaftNode.RaftNode>) =>
  Effect.map(Effect.forEach(nodes, (n) => n.status), (ss) => ss.filter((s) => s.role === "leader"))

/** The leader (the first one a status names) and another node of `nodes`. */
const leaderAndOther = (nodes: ReadonlyArray<RaftNode.RaftNode>) =>
  Effect.map(leaders(nodes), (elected) => {
    const leaderId = elected[0]!.id
    return { leaderId, leader: nodes.find((n) => n.id === leaderId)!, other: nodes.find((n) => n.id !== leaderId)! }
  })

describe("RaftNode runtime under TestClock", () => {
  it.scoped("elects a leader within the configured election timeout window [100, 200) ms", () =>
    Effect.gen(function*() {
      const { nodes } = yield* threeNodes
      // electionTicks 10 x 10 ms: nobody may stand before 100 ms.
      yield* advance(95)
      expect(yield* leaders(nodes)).toHaveLength(0)
      yield* advance(110)
      const elected = yield* leaders(nodes)
      expect(elected).toHaveLength(1)
      for (const n of nodes) expect((yield* n.status).leader).toBe(elected[0]!.id)
    }).pipe(Effect.withRandom(Random.make("election-window"))))

  it.scoped("commits proposals with the state machine's answer and serves linearizable reads", () =>
    Effect.gen(function*() {
      const { nodes } = yield* threeNodes
      yield* advance(250)
      const { leaderId, leader, other: follower } = yield* leaderAndOther(nodes)
      const first = yield* Effect.fork(leader.propose(write("order-1", "a")))
      const second = yield* Effect.fork(leader.propose(write("order-1", "b")))
      yield* advance(20)
      expect(text(yield* first.await.pipe(Effect.flatten))).toBe("a")
      expect(text(yield* second.await.pipe(Effect.flatten))).toBe("a") // first writer wins
      const read = yield* Effect.fork(leader.read(key("order-1")))
      yield* advance(20)
      expect(text(yield* read.await.pipe(Effect.flatten))).toBe("a")
      const refused = yield* Effect.either(follower.propose(write("order-2", "x")))
      expect(Either.isLeft(refused) && refused.left._tag === "NotLeader" && refused.left.leader).toBe(leaderId)
    }).pipe(Effect.withRandom(Random.make("propose"))))

  it.scoped("proposeNow answers what propose would, never before it returns, and NotLeader on a follower", () =>
    Effect.gen(function*() {
      const { nodes } = yield* threeNodes
      yield* advance(250)
      const { leaderId, leader, other: follower } = yield* leaderAndOther(nodes)
      const answers: Array<Exit.Exit<Uint8Array, RaftNode.ProposeError>> = []
      leader.proposeNow(write("order-1", "a"), (exit) => answers.push(exit))
      leader.proposeNow(write("order-1", "b"), (exit) => answers.push(exit))
      follower.proposeNow(write("order-2", "x"), (exit) => answers.push(exit))
      // even the follower's refusal comes later: a callback is never run inside proposeNow
      expect(answers).toHaveLength(0)
      yield* advance(20)
      expect(answers).toHaveLength(3)
      const [refused, ...committed] = answers
      expect(Exit.isFailure(refused!) && Cause.failureOption(refused.cause)).toMatchObject({
        value: { _tag: "NotLeader", leader: leaderId }
      })
      // in proposal order, first writer wins, as with propose
      expect(committed.map((exit) => Exit.isSuccess(exit) ? text(exit.value) : "failed")).toEqual(["a", "a"])
    }).pipe(Effect.withRandom(Random.make("propose"))))

  it.scoped("a partitioned leader steps down (CheckQuorum) and the others elect a new one", () =>
    Effect.gen(function*() {
      const { network, nodes } = yield* threeNodes
      yield* advance(250)
      const old = (yield* leaders(nodes))[0]!
      yield* network.isolate(old.id)
      yield* advance(450)
      const oldNode = nodes.find((n) => n.id === old.id)!
      // It stepped down; isolated, it may since have timed out and be asking for pre-votes.
      expect((yield* oldNode.status).role).not.toBe("leader")
      const now = yield* leaders(nodes)
      expect(now).toHaveLength(1)
      expect(now[0]!.id).not.toBe(old.id)
      expect(now[0]!.term).toBeGreaterThan(old.term)
    }).pipe(Effect.withRandom(Random.make("partition"))))

  it.scoped("transfers leadership and adds a server through learner catch-up and promotion", () =>
    Effect.gen(function*() {
      const { network, nodes } = yield* threeNodes
      yield* advance(250)
      const { leader, other: target } = yield* leaderAndOther(nodes)
      const transfer = yield* Effect.fork(leader.transferLeadership(target.id))
      yield* advance(100)
      expect(Exit.isSuccess(yield* transfer.await)).toBe(true)
      expect((yield* target.status).role).toBe("leader")
      const scope = yield* Effect.scope
      yield* start(network, MemoryStorage.make(MemoryStorage.makeDisk()), { id: "n4" }, scope)
      const add = yield* Effect.fork(target.addServer("n4"))
      yield* advance(300)
      expect(Exit.isSuccess(yield* add.await)).toBe(true)
      expect((yield* target.status).membership.voters).toContain("n4")
    }).pipe(Effect.withRandom(Random.make("transfer"))))

  it.scoped("acknowledged writes survive repeated leader isolation and reach every node", () =>
    Effect.gen(function*() {
      const { network, nodes, sms } = yield* threeNodesWith({ snapshotEvery: 5 })
      const acknowledged = new Map<string, string>()
      for (let round = 0; round < 4; round++) {
        yield* advance(250)
        const current = yield* leaders(nodes)
        if (current.length === 0) {
          continue
        }
        const leader = nodes.find((n) => n.id === current[0]!.id)!
        const writes = yield* Effect.forEach(
          [0, 1, 2, 3],
          (i) => Effect.fork(Effect.either(leader.propose(write(`r${round}-${i}`, `${leader.id}`)))),
          { concurrency: "unbounded" }
        )
        yield* advance(15)
        // Cut the leader off while later proposals may still be in flight.
        yield* network.isolate(leader.id)
        yield* advance(400)
        for (const [i, f] of writes.entries()) {
          const r = yield* f.await.pipe(Effect.flatten)
          if (Either.isRight(r)) acknowledged.set(`r${round}-${i}`, text(r.right))
        }
        yield* network.heal
      }
      yield* advance(500)
      expect(acknowledged.size).toBeGreaterThan(0)
      for (const sm of sms) {
        for (const [k, v] of acknowledged) expect(sm.values.get(k)).toBe(v)
      }
    }).pipe(Effect.withRandom(Random.make("isolation-rounds"))))

  it.scoped("entry bytes reused after compactions never change what any node applies", () =>
    Effect.gen(function*() {
      // Segments of 64 bytes (three commands each), a snapshot every 12 entries, saved in
      // 40 ms: the log holds several segments of entries past the snapshot when a compaction
      // frees the ones before it, and later entries reuse those. A follower cut off for 12
      // writes at a time is then sent its missing entries from the leader's log.
      const slowSaves = (storage: StorageApi): StorageApi => ({
        ...storage,
        saveSnapshot: (snapshot) => Effect.zipRight(Effect.sleep("40 millis"), storage.saveSnapshot(snapshot))
      })
      const { network, nodes, sms } = yield* threeNodesWith({ snapshotEvery: 12, logSegmentBytes: 64 }, slowSaves)
      yield* advance(250)
      const { leader, other } = yield* leaderAndOther(nodes)
      const acknowledged = new Map<string, string>()
      const writes = (round: number, n: number) =>
        Effect.forEach(
          Array.from({ length: n }, (_, i) => `k${round}-${i}`),
          (k) =>
            Effect.gen(function*() {
              const f = yield* Effect.fork(leader.propose(write(k, `${k}-${"x".repeat(k.length % 5)}`)))
              yield* advance(5)
              const answer = yield* f.await.pipe(Effect.flatten)
              acknowledged.set(k, text(answer))
            })
        )
      for (let round = 0; round < 8; round++) {
        yield* network.cut(leader.id, other.id)
        yield* writes(round, 12)
        yield* network.heal
        yield* writes(100 + round, 2)
      }
      yield* advance(500)
      for (const [k, v] of acknowledged) {
        expect(v).toBe(`${k}-${"x".repeat(k.length % 5)}`)
      }
      for (const sm of sms) {
        expect(new Map(sm.values)).toEqual(acknowledged)
      }
    }).pipe(Effect.withRandom(Random.make("log-bytes-reuse"))))

  it.scoped("closing the scope stops the node and fails requests still waiting", () =>
    Effect.gen(function*() {
      const network = yield* MemoryTransport.make
      const scope = yield* Scope.make()
      const node = yield* start(network, MemoryStorage.make(MemoryStorage.makeDisk()), {
        id: "n1",
        bootstrap: ["n1", "n2", "n3"]
      }, scope)
      const read = yield* Effect.fork(node.read(key("k")))
      yield* drain
      yield* Scope.close(scope, Exit.void)
      const exit = yield* read.await
      expect(Exit.isFailure(exit)).toBe(true)
    }))
})

/** In-memory storage that counts syncs and can hold a sync until its gate opens. */
const gatedStorage = Effect.gen(function*() {
  const inner = MemoryStorage.make(MemoryStorage.makeDisk())
  const gate = yield* Effect.makeLatch(true)
  let syncs = 0
  const api: StorageApi = {
    load: inner.load,
    write: inner.write,
    sync: Effect.suspend(() => {
      syncs++
      return Effect.zipRight(gate.await, inner.sync)
    }),
    saveSnapshot: inner.saveSnapshot,
    snapshotData: inner.snapshotData
  }
  return { api, gate, syncs: () => syncs }
})

describe("RaftNode group commit", () => {
  it.scoped("appends replicate during the leader's sync, answers wait for it; a whole mailbox turn takes one sync", () =>
    Effect.gen(function*() {
      const network = yield* MemoryTransport.make
      const ids: ReadonlyArray<NodeId> = ["n1", "n2", "n3"]
      const scope = yield* Effect.scope
      const disks = yield* Effect.forEach(ids, () => gatedStorage)
      const nodes = yield* Effect.forEach(ids, (id, i) => start(network, disks[i]!.api, { id, bootstrap: ids }, scope))
      yield* advance(250)
      const at = ids.indexOf((yield* leaders(nodes))[0]!.id)
      const leader = nodes[at]!
      const disk = disks[at]!
      const followers = nodes.filter((_, i) => i !== at)
      const before = yield* Effect.forEach(followers, (f) => Effect.map(f.status, (s) => s.lastIndex))

      // The leader's sync for the first proposal blocks: its append still reaches the followers
      // (ADR 0037), but nothing that depends on the sync may happen.
      yield* disk.gate.close
      const p0 = yield* Effect.fork(leader.propose(write("k0", "v0")))
      yield* drain
      const syncsBefore = disk.syncs()
      // Proposals interleaved with ticks queue up behind the blocked turn.
      const p1 = yield* Effect.fork(leader.propose(write("k1", "v1")))
      yield* drain
      yield* TestClock.adjust("10 millis")
      yield* drain
      const p2 = yield* Effect.fork(leader.propose(write("k2", "v2")))
      yield* advance(30)
      // P0's entry is on the followers; P1 and P2 wait in the mailbox behind the blocked turn
      expect(yield* Effect.forEach(followers, (f) => Effect.map(f.status, (s) => s.lastIndex))).toEqual(
        before.map((i) => i + 1)
      )
      expect(p0.unsafePoll()).toBeNull()

      yield* disk.gate.open
      yield* advance(40)
      for (const [i, p] of [p0, p1, p2].entries()) expect(text(yield* p.await.pipe(Effect.flatten))).toBe(`v${i}`)
      // The blocked sync, then one sync for P1, the ticks and P2 together (a sync per step was 2).
      expect(disk.syncs()).toBe(syncsBefore + 1)
      for (const f of followers) expect((yield* f.status).lastIndex).toBe((yield* leader.status).lastIndex)
    }).pipe(Effect.withRandom(Random.make("group-commit"))))
})

describe("durable storage (real files)", () => {
  const tempDir = Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "raft-test-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

  it.scoped("a restarted node recovers its log, snapshot and state from disk", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const network = yield* MemoryTransport.make
      const config = { id: "solo", bootstrap: ["solo"], snapshotEvery: 4 }
      const first = yield* Scope.make()
      const storage1 = yield* FileStorage.make(dir).pipe(Scope.extend(first))
      const node1 = yield* start(network, storage1, config, first)
      yield* advance(250)
      for (let i = 0; i < 10; i++) {
        const f = yield* Effect.fork(node1.propose(write(`k${i}`, `v${i}`)))
        yield* advance(10)
        expect(text(yield* f.await.pipe(Effect.flatten))).toBe(`v${i}`)
      }
      const before = yield* node1.status
      yield* Scope.close(first, Exit.void)

      const second = yield* Scope.make()
      const storage2 = yield* FileStorage.make(dir).pipe(Scope.extend(second))
      const loaded = yield* storage2.load
      expect(loaded.hardState.term).toBe(before.term)
      expect(loaded.snapshot).not.toBeNull()
      const node2 = yield* start(network, storage2, config, second)
      expect((yield* node2.status).lastIndex).toBe(before.lastIndex)
      yield* advance(250)
      const read = yield* Effect.fork(node2.read(key("k9")))
      yield* advance(20)
      expect(text(yield* read.await.pipe(Effect.flatten))).toBe("v9")
      const read0 = yield* Effect.fork(node2.read(key("k0")))
      yield* advance(20)
      expect(text(yield* read0.await.pipe(Effect.flatten))).toBe("v0")
      yield* Scope.close(second, Exit.void)
    }))

  it.scoped("snapshots by the bytes applied, not only by the entry count, so large entries cannot pile up in memory", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const network = yield* MemoryTransport.make
      // a count that is never reached, and about three commands' worth of bytes
      const config = { id: "solo", bootstrap: ["solo"], snapshotEvery: 1_000_000, snapshotBytes: 1200 }
      const scope = yield* Scope.make()
      const storage = yield* FileStorage.make(dir).pipe(Scope.extend(scope))
      const node = yield* start(network, storage, config, scope)
      yield* advance(250)
      for (let i = 0; i < 7; i++) {
        const f = yield* Effect.fork(node.propose(write(`k${i}`, "v".repeat(400))))
        yield* advance(10)
        yield* f.await
      }
      yield* advance(50)
      yield* Scope.close(scope, Exit.void)
      const loaded = yield* Effect.flatMap(
        FileStorage.make(dir).pipe(Scope.extend(yield* Scope.make())),
        (st) => st.load
      )
      // two snapshots' worth of commands: the newest one covers at least the sixth command
      expect(loaded.snapshot?.index ?? 0).toBeGreaterThanOrEqual(6)
      expect(loaded.entries.length).toBeLessThan(4)
    }))

  it.scoped("a snapshot spread stretches the threshold by a random factor, never below it", () =>
    Effect.gen(function*() {
      // snapshotEvery 4 with spread 1: the threshold is 4 times a factor in [1, 2), so the
      // first snapshot is captured after 4 to 8 applied entries; without a spread, after exactly 4
      const firstSnapshotAt = (seed: string, spread: number) =>
        Effect.gen(function*() {
          const network = yield* MemoryTransport.make
          const inner = RegistrySM.make()
          let applied = 0
          const captures: Array<number> = []
          const sm: StateMachine = {
            ...inner,
            apply: (command, index) => Effect.zipLeft(inner.apply(command, index), Effect.sync(() => applied = index)),
            snapshot: Effect.zipLeft(inner.snapshot, Effect.sync(() => captures.push(applied)))
          }
          const scope = yield* Scope.make()
          const node = yield* RaftNode.make(
            { id: "solo", bootstrap: ["solo"], snapshotEvery: 4, snapshotSpread: spread },
            sm
          ).pipe(
            Effect.provideService(Storage, MemoryStorage.make(MemoryStorage.makeDisk())),
            Effect.provideService(Transport, network.transport),
            Scope.extend(scope)
          )
          yield* advance(250)
          for (let i = 0; i < 12 && captures.length === 0; i++) {
            const f = yield* Effect.fork(node.propose(write(`k${i}`, "v")))
            yield* advance(10)
            yield* f.await
          }
          yield* Scope.close(scope, Exit.void)
          return captures[0] ?? 0
        }).pipe(Effect.withRandom(Random.make(seed)))
      const exact = yield* Effect.forEach(["a", "b", "c"], (seed) => firstSnapshotAt(seed, 0))
      expect(exact).toEqual([4, 4, 4])
      const spread = yield* Effect.forEach(["a", "b", "c", "d", "e", "f"], (seed) => firstSnapshotAt(seed, 1))
      for (const at of spread) {
        expect(at).toBeGreaterThanOrEqual(4)
        expect(at).toBeLessThanOrEqual(8)
      }
      // six seeds all drawing the same stretch would mean no spread at all
      expect(new Set(spread).size).toBeGreaterThan(1)
      // a spread that would make the thresholds unreachable is refused, not silently kept
      for (const bad of [NaN, Infinity, -0.5]) {
        const network = yield* MemoryTransport.make
        const exit = yield* RaftNode.make(
          { id: "solo", bootstrap: ["solo"], snapshotEvery: 4, snapshotSpread: bad },
          RegistrySM.make()
        ).pipe(
          Effect.provideService(Storage, MemoryStorage.make(MemoryStorage.makeDisk())),
          Effect.provideService(Transport, network.transport),
          Effect.scoped,
          Effect.exit
        )
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause), String(bad)).toBe(true)
      }
    }))

  it.scoped("a snapshot's capture is held until storage has written its parts, then released", () =>
    Effect.gen(function*() {
      // the state machine may reuse the parts' memory once the capture's scope closes
      // (the order registry does): the node must not close it before saveSnapshot is done
      const network = yield* MemoryTransport.make
      const inner = RegistrySM.make()
      const events: Array<string> = []
      const sm: StateMachine = {
        ...inner,
        snapshot: Effect.zipLeft(inner.snapshot, Effect.addFinalizer(() => Effect.sync(() => events.push("released"))))
      }
      const memory = MemoryStorage.make(MemoryStorage.makeDisk())
      const storage: typeof memory = {
        ...memory,
        saveSnapshot: (snapshot) =>
          Effect.sync(() => events.push("save started")).pipe(
            Effect.zipRight(Effect.sleep("20 millis")), // a write across event-loop turns
            Effect.zipRight(memory.saveSnapshot(snapshot)),
            Effect.zipLeft(Effect.sync(() => events.push("save done")))
          )
      }
      const scope = yield* Scope.make()
      const node = yield* RaftNode.make({ id: "solo", bootstrap: ["solo"], snapshotEvery: 4 }, sm).pipe(
        Effect.provideService(Storage, storage),
        Effect.provideService(Transport, network.transport),
        Scope.extend(scope)
      )
      yield* advance(250)
      for (let i = 0; i < 8 && events.length === 0; i++) {
        const f = yield* Effect.fork(node.propose(write(`k${i}`, "v")))
        yield* Effect.yieldNow()
        yield* f.await
      }
      yield* advance(10)
      expect(events).toEqual(["save started"])
      yield* advance(20)
      expect(events).toEqual(["save started", "save done", "released"])
      yield* Scope.close(scope, Exit.void)
    }))

  it.scoped("a torn log tail is detected and truncated on start", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const entries = [1, 2, 3].map((index) => ({
        index,
        term: 1,
        kind: "command" as const,
        data: new TextEncoder().encode(`e${index}`)
      }))
      const s1 = yield* Scope.make()
      const st1 = yield* FileStorage.make(dir).pipe(Scope.extend(s1))
      yield* st1.write([{ _tag: "PersistEntries", from: 1, entries }])
      yield* st1.sync
      yield* Scope.close(s1, Exit.void)
      const logFile = path.join(dir, "log")
      const good = fs.statSync(logFile).size
      // A crash in the middle of appending a fourth record: header written, payload cut short.
      const torn = FileStorage.encodeRecord({ index: 4, term: 1, kind: "command", data: new Uint8Array(100) })
      fs.appendFileSync(logFile, torn.subarray(0, 40))

      const s2 = yield* Scope.make()
      const st2 = yield* FileStorage.make(dir).pipe(Scope.extend(s2))
      expect((yield* st2.load).entries.map((e) => e.index)).toEqual([1, 2, 3])
      expect(fs.statSync(logFile).size).toBe(good)
      // The repaired log accepts appends at the right place.
      yield* st2.write([{ _tag: "PersistEntries", from: 4, entries: [{ ...entries[0]!, index: 4 }] }])
      yield* st2.sync
      yield* Scope.close(s2, Exit.void)

      // A flipped bit in the last record is caught by its checksum.
      const bytes = fs.readFileSync(logFile)
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
      fs.writeFileSync(logFile, bytes)
      const s3 = yield* Scope.make()
      const st3 = yield* FileStorage.make(dir).pipe(Scope.extend(s3))
      expect((yield* st3.load).entries.map((e) => e.index)).toEqual([1, 2, 3])
      yield* Scope.close(s3, Exit.void)
    }))

  it.scoped("compaction keeps the log after the snapshot; entries that do not continue a snapshot are dropped", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const e = (index: number, term: number) => ({
        index,
        term,
        kind: "command" as const,
        data: new Uint8Array([index])
      })
      const membership = { voters: ["a"], learners: [] }
      const s1 = yield* Scope.make()
      const st1 = yield* FileStorage.make(dir).pipe(Scope.extend(s1))
      yield* st1.write([{ _tag: "PersistEntries", from: 1, entries: [1, 2, 3, 4, 5].map((i) => e(i, 1)) }])
      yield* st1.write([{
        _tag: "PersistSnapshot",
        snapshot: { index: 3, term: 1, membership, data: new Uint8Array([9]) }
      }])
      yield* st1.write([{ _tag: "PersistEntries", from: 6, entries: [e(6, 2)] }])
      yield* st1.sync
      yield* Scope.close(s1, Exit.void)
      const s2 = yield* Scope.make()
      const loaded = yield* Effect.flatMap(FileStorage.make(dir).pipe(Scope.extend(s2)), (st) => st.load)
      expect(loaded.snapshot).toMatchObject({ index: 3, term: 1, membership })
      expect(loaded.entries.map((x) => x.index)).toEqual([4, 5, 6])
      yield* Scope.close(s2, Exit.void)

      // A snapshot installed from a leader (index 10, term 7) saved just before a crash, with
      // the old, conflicting log still on disk: the old entries must not come back.
      fs.writeFileSync(path.join(dir, "log"), Buffer.concat([1, 2, 3].map((i) => FileStorage.encodeRecord(e(i, 1)))))
      const s3 = yield* Scope.make()
      const st3 = yield* FileStorage.make(dir).pipe(Scope.extend(s3))
      yield* st3.write([{
        _tag: "PersistSnapshot",
        snapshot: { index: 10, term: 7, membership, data: new Uint8Array() }
      }])
      yield* Scope.close(s3, Exit.void)
      fs.writeFileSync(
        path.join(dir, "log"),
        Buffer.concat([8, 9, 10, 11].map((i) => FileStorage.encodeRecord(e(i, 2))))
      )
      const s4 = yield* Scope.make()
      const reloaded = yield* Effect.flatMap(FileStorage.make(dir).pipe(Scope.extend(s4)), (st) => st.load)
      expect(reloaded.snapshot?.index).toBe(10)
      expect(reloaded.entries).toEqual([])
      yield* Scope.close(s4, Exit.void)
    }))

  it.scoped("saveSnapshot makes a snapshot durable ahead of its compaction and never replaces a newer one", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const membership = { voters: ["a"], learners: [] }
      const entries = [1, 2, 3, 4, 5, 6].map((index) => ({
        index,
        term: 1,
        kind: "command" as const,
        data: new Uint8Array([index])
      }))
      const s1 = yield* Scope.make()
      const st1 = yield* FileStorage.make(dir).pipe(Scope.extend(s1))
      yield* st1.write([{ _tag: "PersistEntries", from: 1, entries }])
      yield* st1.sync
      const taken = { index: 3, term: 1, membership, parts: [new Uint8Array([3]), new Uint8Array([3, 3])] }
      yield* st1.saveSnapshot(taken)
      // durable before the compaction is persisted: a crash now finds the snapshot and the whole log
      const early = yield* Effect.flatMap(
        FileStorage.make(dir).pipe(Scope.extend(yield* Scope.make())),
        (st) => st.load
      )
      expect(early.snapshot).toMatchObject({ index: 3, data: new Uint8Array([3, 3, 3]) })
      // a newer snapshot arrives (installed from a leader) and is persisted by the core
      const installed = { index: 5, term: 1, membership, data: new Uint8Array([5]) }
      yield* st1.write([{ _tag: "PersistSnapshot", snapshot: installed }])
      yield* st1.sync
      // an older one finished serializing afterwards: it must not replace the newer file
      yield* st1.saveSnapshot(taken)
      yield* Scope.close(s1, Exit.void)
      expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([])
      const loaded = yield* Effect.flatMap(
        FileStorage.make(dir).pipe(Scope.extend(yield* Scope.make())),
        (st) => st.load
      )
      expect(loaded.snapshot).toMatchObject({ index: 5, data: new Uint8Array([5]) })
      expect(loaded.entries.map((e) => e.index)).toEqual([6])
    }))

  it.scoped("a saved snapshot replaces the last one, and what a crash in saveSnapshot leaves is removed at start", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const membership = { voters: ["a"], learners: [] }
      const s1 = yield* Scope.make()
      const st1 = yield* FileStorage.make(dir).pipe(Scope.extend(s1))
      yield* st1.saveSnapshot({ index: 3, term: 1, membership, parts: [new Uint8Array([3])] })
      yield* st1.saveSnapshot({ index: 4, term: 1, membership, parts: [new Uint8Array([4])] })
      // the replaced file's second name is gone once saveSnapshot is done
      expect(fs.readdirSync(dir).filter((f) => f.startsWith("snapshot"))).toEqual(["snapshot"])
      yield* Scope.close(s1, Exit.void)
      // a crash after the link and before the rename, or while writing the temporary file
      fs.linkSync(path.join(dir, "snapshot"), path.join(dir, "snapshot.5.replaced"))
      fs.writeFileSync(path.join(dir, "snapshot.6.tmp"), "torn")
      const loaded = yield* Effect.flatMap(
        FileStorage.make(dir).pipe(Scope.extend(yield* Scope.make())),
        (st) => st.load
      )
      expect(loaded.snapshot).toMatchObject({ index: 4, data: new Uint8Array([4]) })
      expect(fs.readdirSync(dir).filter((f) => f.startsWith("snapshot"))).toEqual(["snapshot"])
    }))

  it.scoped("a snapshot of several MiB (checksummed a MiB at a time) and an empty one load back as saved", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const membership = { voters: ["a", "b"], learners: ["c"] }
      // 3.5 MiB, not a multiple of the slice, with a byte pattern a misplaced slice would break
      const data = new Uint8Array(3.5 * 1024 * 1024 + 13)
      for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >>> 11)) & 0xff
      const scope = yield* Scope.make()
      const storage = yield* FileStorage.make(dir).pipe(Scope.extend(scope))
      // in parts as a state machine answers them: uneven, one empty, a slice boundary inside one
      const cuts = [0, 700_000, 700_000, 2 * 1024 * 1024 + 5, data.length]
      const parts = cuts.slice(1).map((end, i) => data.subarray(cuts[i], end))
      yield* storage.saveSnapshot({ index: 7, term: 2, membership, parts })
      yield* Scope.close(scope, Exit.void)
      const loaded = yield* Effect.flatMap(
        FileStorage.make(dir).pipe(Scope.extend(yield* Scope.make())),
        (st) => st.load
      )
      expect(loaded.snapshot?.index).toBe(7)
      expect(loaded.snapshot?.membership).toEqual(membership)
      expect(Buffer.compare(Buffer.from(loaded.snapshot!.data), Buffer.from(data))).toBe(0)

      const empty = yield* tempDir
      const s2 = yield* Scope.make()
      const st2 = yield* FileStorage.make(empty).pipe(Scope.extend(s2))
      yield* st2.saveSnapshot({ index: 4, term: 1, membership, parts: [] })
      yield* Scope.close(s2, Exit.void)
      const loadedEmpty = yield* Effect.flatMap(
        FileStorage.make(empty).pipe(Scope.extend(yield* Scope.make())),
        (st) => st.load
      )
      expect(loadedEmpty.snapshot).toMatchObject({ index: 4, data: new Uint8Array() })
    }))

  it.scoped("a follower far behind gets the snapshot read back from the leader's file (its log keeps a stand-in)", () =>
    Effect.gen(function*() {
      const network = yield* MemoryTransport.make
      const ids: ReadonlyArray<NodeId> = ["n1", "n2", "n3"]
      const scope = yield* Effect.scope
      const dirs = yield* Effect.forEach(ids, () => tempDir)
      const sms = ids.map(() => RegistrySM.make())
      const nodes = yield* Effect.forEach(
        ids,
        (id, i) =>
          Effect.flatMap(
            FileStorage.make(dirs[i]!),
            (storage) =>
              RaftNode.make({ id, bootstrap: ids, snapshotEvery: 4 }, sms[i]!).pipe(
                Effect.provideService(Storage, storage),
                Effect.provideService(Transport, network.transport)
              )
          ).pipe(Scope.extend(scope))
      )
      yield* advance(250)
      const { leader, other: behind } = yield* leaderAndOther(nodes)
      yield* network.isolate(behind.id)
      for (let i = 0; i < 12; i++) {
        const f = yield* Effect.fork(leader.propose(write(`k${i}`, `v${i}`)))
        yield* advance(10)
        expect(text(yield* f.await.pipe(Effect.flatten))).toBe(`v${i}`)
      }
      // the leader's snapshot is written on the thread pool: real time, not the TestClock's
      const leaderFile = path.join(dirs[ids.indexOf(leader.id)]!, "snapshot")
      for (let i = 0; i < 200 && !fs.existsSync(leaderFile); i++) {
        yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
        yield* advance(5)
      }
      expect(fs.existsSync(leaderFile)).toBe(true)
      // more entries, so the leader compacts past what the isolated node has
      for (let i = 12; i < 16; i++) {
        const f = yield* Effect.fork(leader.propose(write(`k${i}`, `v${i}`)))
        yield* advance(10)
        yield* f.await
      }
      yield* network.heal
      const caughtUp = () => Effect.map(behind.status, (st) => st.commitIndex)
      const target = (yield* leader.status).commitIndex
      for (let i = 0; i < 400 && (yield* caughtUp()) < target; i++) {
        yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
        yield* advance(5)
      }
      expect(yield* caughtUp()).toBeGreaterThanOrEqual(target)
      // its state machine holds what only the snapshot carried (k0 was compacted away)
      const sm = sms[ids.indexOf(behind.id)]!
      expect(text(yield* sm.query(key("k0")))).toBe("v0")
      expect(text(yield* sm.query(key("k15")))).toBe("v15")
    }))

  it.scoped("unsynced writes to the in-memory disk are lost on a crash", () =>
    Effect.gen(function*() {
      const disk = MemoryStorage.makeDisk()
      const st = MemoryStorage.make(disk)
      yield* st.write([{ _tag: "PersistHardState", hardState: { term: 3, votedFor: "a" } }])
      yield* st.sync
      yield* st.write([{ _tag: "PersistHardState", hardState: { term: 4, votedFor: "b" } }])
      yield* MemoryStorage.crash(disk)
      expect((yield* st.load).hardState).toEqual({ term: 3, votedFor: "a" })
    }))
})
