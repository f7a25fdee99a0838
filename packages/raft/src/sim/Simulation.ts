/**
 * The deterministic cluster simulator. One seed fixes everything: the fault profile, every
 * message delay, loss and duplicate, every crash, pause, partition, membership change and
 * client operation, all drawn from one PRNG. Simulated time is an integer number of
 * milliseconds advanced by a priority queue of events, so a seed replays exactly and a run
 * of 10,000 steps takes milliseconds.
 *
 * This drives the pure core directly (the Effect runtime in `RaftNode.ts` is exercised by its
 * own tests under TestClock). It plays the runtime's part faithfully: persist outputs go to a
 * crash-prone in-memory store and everything after them waits for a simulated fsync.
 */
import { createHash } from "node:crypto"
import { isMember } from "../core/Membership.js"
import * as Core from "../core/RaftCore.js"
import * as Log from "../core/RaftLog.js"
import type { BugName, Entry, Input, Message, NodeId, Options, Output } from "../core/Types.js"
import * as Store from "../internal/MemoryLogStore.js"
import * as Check from "./Checker.js"
import * as Heap from "./Heap.js"
import { checkLinearizable, type HistoryOp } from "./Linearizability.js"
import { makePrng, type Prng } from "./Prng.js"
import * as Reg from "./Registry.js"

export interface SimConfig {
  readonly seed: number
  /** 3 or 5; sampled from the seed when absent. */
  readonly nodes?: number | undefined
  /** Events processed while faults are active; healing and the final checks follow. */
  readonly steps: number
  readonly bug?: BugName | undefined
  /** Receives every event line (for --trace and shrinking). */
  readonly trace?: ((line: string) => void) | undefined
  /** Compute a hash of the full event trace. */
  readonly hash?: boolean | undefined
}

export interface SimStats {
  readonly nodes: number
  readonly steps: number
  readonly simMillis: number
  readonly leadersElected: number
  readonly committed: number
  readonly opsOk: number
  readonly opsUnknown: number
  readonly crashes: number
  readonly partitions: number
  readonly pauses: number
  readonly membershipChanges: number
  readonly transfers: number
  readonly snapshots: number
}

export interface SimResult {
  readonly seed: number
  readonly violation: Check.Violation | null
  /** Step (event number) at which the violation was detected, or the final step. */
  readonly step: number
  readonly traceHash: string | null
  readonly stats: SimStats
}

type Event =
  | { at: number; seq: number; kind: "tick"; node: SimNode; inc: number }
  | { at: number; seq: number; kind: "deliver"; message: Message }
  | { at: number; seq: number; kind: "fsync"; node: SimNode; inc: number }
  | { at: number; seq: number; kind: "input"; node: SimNode; input: Input; op: ClientOp | null }
  | { at: number; seq: number; kind: "client"; client: Client }
  | { at: number; seq: number; kind: "timeout"; op: ClientOp }
  | { at: number; seq: number; kind: "chaos" }
  | { at: number; seq: number; kind: "restart"; node: SimNode }
  | { at: number; seq: number; kind: "resume"; node: SimNode; inc: number }
  | { at: number; seq: number; kind: "heal" }
  | { at: number; seq: number; kind: "compact"; node: SimNode; inc: number }

type Unsequenced = Event extends infer E ? E extends unknown ? Omit<E, "seq"> : never : never

interface ClientOp {
  readonly id: number
  readonly client: Client | null
  readonly kind: "write" | "read"
  readonly key: string
  readonly value: string
  readonly invoke: number
  response: number | null
  result: string | null
  status: "pending" | "ok" | "failed"
}

interface Client {
  readonly id: number
  hint: NodeId | null
  busy: ClientOp | null
}

interface SimNode {
  readonly id: NodeId
  /** Incarnation: bumped on crash so events of the previous life are ignored. */
  inc: number
  up: boolean
  paused: boolean
  state: Core.RaftState | null
  readonly store: Store.MemoryLogStore
  sm: Reg.Registry
  smApplied: number
  writeSeq: number
  syncedSeq: number
  fsyncScheduled: boolean
  /** Outputs waiting for an fsync (the persistence contract), in order. */
  queue: Array<{ readonly output: Output; readonly need: number }>
  held: Array<Event>
  reqs: Map<number, ClientOp>
  byIndex: Map<number, { op: ClientOp; term: number }>
  readWaiters: Array<{ op: ClientOp; index: number }>
  compactScheduled: boolean
}

interface Profile {
  readonly loss: number
  readonly duplicate: number
  readonly minDelay: number
  readonly delayJitter: number
  readonly longDelay: number
  readonly fsyncDelay: number
  /** Extra random fsync time, up to this many ms: disks differ, so a leader's sync may end after a follower's. */
  readonly fsyncJitter: number
  readonly chaosEvery: number
  readonly faults: ReadonlyArray<"partition" | "crash" | "pause" | "membership" | "transfer">
  readonly snapshotEvery: number
  readonly keys: number
  readonly clients: number
  readonly opTimeout: number
  readonly options: Options
}

const TICK_MS = 10
const LIVENESS_BOUND_MS = 10_000

const sampleProfile = (rng: Prng, bug: BugName | undefined): Profile => {
  const all = ["partition", "crash", "pause", "membership", "transfer"] as const
  const faults = all.filter(() => rng.chance(0.6))
  return {
    loss: rng.pick([0, 0.01, 0.05, 0.15]),
    duplicate: rng.pick([0, 0.02, 0.1]),
    minDelay: 1 + rng.int(3),
    delayJitter: rng.pick([2, 10, 30]),
    longDelay: rng.pick([0, 0.01, 0.05]),
    fsyncDelay: rng.pick([1, 3, 8]),
    fsyncJitter: rng.pick([0, 0, 40]),
    chaosEvery: rng.pick([50, 150, 400]),
    faults: faults.length === 0 ? [rng.pick(all)] : faults,
    snapshotEvery: rng.pick([8, 40, 1_000_000]),
    keys: 2 + rng.int(5),
    clients: 2 + rng.int(3),
    opTimeout: rng.pick([300, 1000]),
    options: {
      electionTicks: 10,
      heartbeatTicks: 2,
      maxEntriesPerMessage: rng.pick([1, 3, 64]),
      maxBytesPerMessage: rng.pick([64, 1 << 20]),
      maxInflight: rng.pick([1, 4, 16]),
      preVote: true,
      checkQuorum: true,
      bug
    }
  }
}

const describeMessage = (m: Message): string => {
  const b = m.body
  const head = `${m.from}->${m.to} t${m.term} ${b._tag}`
  switch (b._tag) {
    case "VoteRequest":
      return `${head}${b.preVote ? " pre" : ""} last=${b.lastLogIndex}/${b.lastLogTerm}${b.transfer ? " transfer" : ""}`
    case "VoteResponse":
      return `${head}${b.preVote ? " pre" : ""} ${b.granted ? "granted" : "denied"}`
    case "AppendRequest":
      return `${head} prev=${b.prevLogIndex}/${b.prevLogTerm} n=${b.entries.length} commit=${b.leaderCommit} ctx=${b.context}`
    case "AppendResponse":
      return `${head} ${
        b.success ? "ok" : "reject"
      } match=${b.matchIndex} conflict=${b.conflictIndex}/${b.conflictTerm}`
    case "InstallSnapshotRequest":
      return `${head} index=${b.lastIncludedIndex}/${b.lastIncludedTerm} bytes=${b.data.length}`
    case "InstallSnapshotResponse":
      return `${head} index=${b.lastIncludedIndex}`
    case "TimeoutNow":
      return head
  }
}

const describeInput = (i: Input): string => {
  switch (i._tag) {
    case "Propose":
      return `propose #${i.reqId} n=${i.commands.length}`
    case "ReadIndex":
      return `read #${i.reqId}`
    case "ChangeMembership":
      return `membership #${i.reqId} ${i.change._tag} ${i.change.node}`
    case "TransferLeadership":
      return `transfer #${i.reqId} to ${i.to}`
    default:
      return i._tag
  }
}

export const runSeed = (config: SimConfig): SimResult => {
  const rng = makePrng(config.seed)
  const nodeCount = config.nodes ?? rng.pick([3, 5])
  const profile = sampleProfile(rng, config.bug)
  const heap = Heap.makeHeap<Event>()
  const checker = Check.makeChecker()
  const hasher = config.hash === true ? createHash("sha256") : null
  const tracing = config.trace !== undefined || hasher !== null
  const nodes = new Map<NodeId, SimNode>()
  const history: Array<ClientOp> = []
  const blocked = new Set<string>()
  let now = 0
  let seq = 0
  let step = 0
  let logical = 0
  let nextReq = 1
  let nextOp = 1
  let nextNodeId = nodeCount + 1
  let faulty = true
  const stats = {
    leadersElected: 0,
    crashes: 0,
    partitions: 0,
    pauses: 0,
    membershipChanges: 0,
    transfers: 0,
    snapshots: 0
  }

  const trace = (line: string) => {
    const text = `${now}ms #${step} ${line}`
    config.trace?.(text)
    hasher?.update(text + "\n")
  }
  const schedule = (e: Unsequenced) => Heap.push(heap, { ...e, seq: seq++ } as Event)
  const liveStates = (): Array<readonly [NodeId, Core.RaftState]> => {
    const out: Array<readonly [NodeId, Core.RaftState]> = []
    for (const n of nodes.values()) if (n.state !== null) out.push([n.id, n.state])
    return out
  }

  // ------------------------------------------------------------------------------------------
  // Nodes
  // ------------------------------------------------------------------------------------------

  const jitter = () => rng.int(profile.options.electionTicks)

  const boot = (n: SimNode) => {
    const stored = Store.load(n.store)
    n.state = Core.init(n.id, profile.options, stored, jitter())
    n.sm = stored.snapshot === null ? Reg.makeRegistry() : Reg.restoreRegistry(stored.snapshot.data)
    n.smApplied = stored.snapshot?.index ?? 0
    n.up = true
    n.paused = false
    n.writeSeq = 0
    n.syncedSeq = 0
    n.fsyncScheduled = false
    n.queue = []
    n.held = []
    n.reqs = new Map()
    n.byIndex = new Map()
    n.readWaiters = []
    n.compactScheduled = false
    Check.registerEntries(checker, n.id, n.state, n.state.log.entries)
    schedule({ at: now + 1 + rng.int(TICK_MS), kind: "tick", node: n, inc: n.inc })
  }

  const addNode = (id: NodeId, stored?: Store.StoredState): SimNode => {
    const n: SimNode = {
      id,
      inc: 0,
      up: false,
      paused: false,
      state: null,
      store: Store.makeMemoryLogStore(stored),
      sm: Reg.makeRegistry(),
      smApplied: 0,
      writeSeq: 0,
      syncedSeq: 0,
      fsyncScheduled: false,
      queue: [],
      held: [],
      reqs: new Map(),
      byIndex: new Map(),
      readWaiters: [],
      compactScheduled: false
    }
    nodes.set(id, n)
    boot(n)
    return n
  }

  const crash = (n: SimNode) => {
    trace(`crash ${n.id} (unsynced writes: ${n.store.pending.length})`)
    stats.crashes++
    Store.crash(n.store)
    n.inc++
    n.up = false
    n.state = null
    // Whatever the node was doing for clients is now of unknown outcome.
    n.reqs.clear()
    n.byIndex.clear()
    n.readWaiters = []
  }

  const stepNode = (n: SimNode, input: Input) => {
    const s = n.state!
    const b = Check.before(s)
    const { outputs, state } = Core.step(s, input)
    n.state = state
    if (state.role === "leader" && !(b.role === "leader" && b.term === state.term)) {
      stats.leadersElected++
      if (tracing) trace(`${n.id} becomes leader of term ${state.term}`)
    }
    Check.afterStep(checker, n.id, b, state, outputs, liveStates())
    for (const o of outputs) {
      if (Store.isPersist(o)) {
        Store.write(n.store, o)
        n.writeSeq++
      } else if ((n.queue.length > 0 || n.syncedSeq < n.writeSeq) && !Core.isEarlySend(o)) {
        n.queue.push({ output: o, need: n.writeSeq })
      } else perform(n, o)
    }
    if (n.syncedSeq < n.writeSeq && !n.fsyncScheduled) {
      n.fsyncScheduled = true
      const delay = profile.fsyncDelay + (profile.fsyncJitter > 0 ? rng.int(profile.fsyncJitter + 1) : 0)
      schedule({ at: now + delay, kind: "fsync", node: n, inc: n.inc })
    }
  }

  const fsync = (n: SimNode) => {
    n.fsyncScheduled = false
    Store.sync(n.store)
    n.syncedSeq = n.writeSeq
    const ready = n.queue
    n.queue = []
    for (const q of ready) perform(n, q.output)
    // as the runtime does: right after the sync, before any other input
    stepNode(n, { _tag: "Synced" })
  }

  const perform = (n: SimNode, o: Output) => {
    switch (o._tag) {
      case "Send":
        return send(o.message)
      case "Apply":
        for (const e of o.entries) applyEntry(n, e)
        serveReads(n)
        if (n.smApplied - n.state!.log.snapshot.index >= profile.snapshotEvery && !n.compactScheduled) {
          n.compactScheduled = true
          schedule({ at: now, kind: "compact", node: n, inc: n.inc })
        }
        return
      case "Restore":
        n.sm = Reg.restoreRegistry(o.snapshot.data)
        n.smApplied = o.snapshot.index
        for (const [index] of n.byIndex) if (index <= o.snapshot.index) n.byIndex.delete(index)
        return serveReads(n)
      case "Accepted": {
        const op = n.reqs.get(o.reqId)
        if (op !== undefined) {
          n.reqs.delete(o.reqId)
          n.byIndex.set(o.index, { op, term: o.term })
        }
        return
      }
      case "Rejected": {
        const op = n.reqs.get(o.reqId)
        if (op === undefined) return
        n.reqs.delete(o.reqId)
        if (op.client !== null) op.client.hint = o.leader
        return finish(op, "failed", null)
      }
      case "ReadReady": {
        const op = n.reqs.get(o.reqId)
        if (op === undefined) return
        n.reqs.delete(o.reqId)
        n.readWaiters.push({ op, index: o.index })
        return serveReads(n)
      }
      default:
        return
    }
  }

  const applyEntry = (n: SimNode, e: Entry) => {
    Check.onApply(checker, n.id, e)
    let result: string | null = null
    if (e.kind === "command") result = Reg.applyCommand(n.sm, Reg.decodeCommand(e.data))
    n.smApplied = e.index
    const waiting = n.byIndex.get(e.index)
    if (waiting !== undefined) {
      n.byIndex.delete(e.index)
      // A different term at our index means our entry was overwritten: it never committed.
      if (waiting.term === e.term) finish(waiting.op, "ok", result)
      else finish(waiting.op, "failed", null)
    }
  }

  const serveReads = (n: SimNode) => {
    if (n.readWaiters.length === 0) return
    const still: Array<{ op: ClientOp; index: number }> = []
    for (const w of n.readWaiters) {
      if (n.smApplied >= w.index) finish(w.op, "ok", n.sm.values.get(w.op.key) ?? null)
      else still.push(w)
    }
    n.readWaiters = still
  }

  // ------------------------------------------------------------------------------------------
  // Network
  // ------------------------------------------------------------------------------------------

  const delay = () =>
    profile.minDelay + rng.int(profile.delayJitter) + (faulty && rng.chance(profile.longDelay) ? 50 + rng.int(200) : 0)

  const send = (m: Message) => {
    if (!nodes.has(m.to)) return
    if (faulty) {
      if (blocked.has(`${m.from}>${m.to}`)) return
      if (rng.chance(profile.loss)) return
      if (rng.chance(profile.duplicate)) schedule({ at: now + delay(), kind: "deliver", message: m })
    }
    schedule({ at: now + delay(), kind: "deliver", message: m })
  }

  // ------------------------------------------------------------------------------------------
  // Clients
  // ------------------------------------------------------------------------------------------

  const finish = (op: ClientOp, status: "ok" | "failed", result: string | null) => {
    if (op.status !== "pending") return
    op.status = status
    op.result = result
    op.response = ++logical
    if (tracing) trace(`client op ${op.id} ${op.kind} ${op.key} -> ${status}${status === "ok" ? ` ${result}` : ""}`)
    const c = op.client
    if (c !== null && c.busy === op) {
      c.busy = null
      if (faulty) schedule({ at: now + 1 + rng.int(20), kind: "client", client: c })
    }
  }

  const submit = (n: SimNode, op: ClientOp, input: Input) => {
    n.reqs.set((input as { reqId: number }).reqId, op)
    if (n.paused) n.held.push({ at: now, seq: seq++, kind: "input", node: n, input, op })
    else stepNode(n, input)
  }

  const startOp = (c: Client) => {
    const ids = [...nodes.keys()]
    const target = nodes.get(c.hint !== null && rng.chance(0.8) ? c.hint : rng.pick(ids))
    if (target === undefined || !target.up) {
      c.hint = null
      schedule({ at: now + 5 + rng.int(20), kind: "client", client: c })
      return
    }
    const kind = rng.chance(0.5) ? "write" : "read"
    const key = `k${rng.int(profile.keys)}`
    const id = nextOp++
    const op: ClientOp = {
      id,
      client: c,
      kind,
      key,
      value: `v${id}`,
      invoke: ++logical,
      response: null,
      result: null,
      status: "pending"
    }
    history.push(op)
    c.busy = op
    if (tracing) trace(`client ${c.id} op ${id} ${kind} ${key} at ${target.id}`)
    const reqId = nextReq++
    submit(
      target,
      op,
      kind === "write"
        ? { _tag: "Propose", reqId, commands: [Reg.encodeCommand({ op: "write", key, value: op.value })] }
        : { _tag: "ReadIndex", reqId }
    )
    schedule({ at: now + profile.opTimeout, kind: "timeout", op })
  }

  // ------------------------------------------------------------------------------------------
  // Faults
  // ------------------------------------------------------------------------------------------

  const currentLeader = (): SimNode | null => {
    let best: SimNode | null = null
    for (const n of nodes.values()) {
      if (n.state?.role === "leader" && !n.paused && (best === null || n.state.term > best.state!.term)) best = n
    }
    return best
  }

  const adminInput = (n: SimNode, input: Input) => {
    if (tracing) trace(`admin ${n.id} ${describeInput(input)}`)
    stepNode(n, input)
  }

  /** Half of the faults aim at the leader: leader changes are where Raft's hard cases live. */
  const victim = (ids: ReadonlyArray<NodeId>): NodeId => {
    const leader = currentLeader()
    return leader !== null && ids.includes(leader.id) && rng.chance(0.5) ? leader.id : rng.pick(ids)
  }

  const chaos = () => {
    const fault = rng.pick(profile.faults)
    const ids = [...nodes.keys()]
    switch (fault) {
      case "partition": {
        if (blocked.size > 0) {
          blocked.clear()
          trace("partition healed")
          break
        }
        stats.partitions++
        const shape = rng.int(3)
        if (shape === 0) {
          const x = victim(ids)
          for (const y of ids) if (y !== x) blocked.add(`${x}>${y}`).add(`${y}>${x}`)
          trace(`partition: ${x} isolated`)
        } else if (shape === 1) {
          const side = new Set(ids.filter(() => rng.chance(0.5)))
          for (const x of ids) for (const y of ids) if (side.has(x) !== side.has(y)) blocked.add(`${x}>${y}`)
          trace(`partition: {${[...side].join(",")}} | rest`)
        } else {
          const x = rng.pick(ids)
          const y = rng.pick(ids)
          if (x !== y) blocked.add(`${x}>${y}`)
          if (rng.chance(0.5)) { for (const z of ids) if (z !== x) blocked.add(`${x}>${z}`) }
          trace(`partition: asymmetric from ${x}`)
        }
        schedule({ at: now + 100 + rng.int(1500), kind: "heal" })
        break
      }
      case "crash": {
        const up = ids.map((id) => nodes.get(id)!).filter((n) => n.up)
        if (up.length === 0) break
        const n = nodes.get(victim(up.map((x) => x.id)))!
        crash(n)
        schedule({ at: now + 20 + rng.int(1000), kind: "restart", node: n })
        break
      }
      case "pause": {
        const up = ids.map((id) => nodes.get(id)!).filter((n) => n.up && !n.paused)
        if (up.length === 0) break
        const n = nodes.get(victim(up.map((x) => x.id)))!
        n.paused = true
        stats.pauses++
        trace(`pause ${n.id}`)
        schedule({ at: now + 50 + rng.int(600), kind: "resume", node: n, inc: n.inc })
        break
      }
      case "membership": {
        const leader = currentLeader()
        if (leader === null) break
        const m = leader.state!.membership
        const reqId = nextReq++
        stats.membershipChanges++
        const minVoters = nodeCount >= 5 ? 3 : 2
        if (m.learners.length > 0 && rng.chance(0.7)) {
          adminInput(leader, {
            _tag: "ChangeMembership",
            reqId,
            change: { _tag: "Promote", node: rng.pick(m.learners) }
          })
        } else if (m.voters.length > minVoters && rng.chance(0.6)) {
          const victim = rng.pick([...m.voters, ...m.learners])
          adminInput(leader, { _tag: "ChangeMembership", reqId, change: { _tag: "Remove", node: victim } })
        } else if (nextNodeId <= nodeCount + 3) {
          const id = `n${nextNodeId++}`
          addNode(id)
          trace(`new node ${id}`)
          adminInput(leader, { _tag: "ChangeMembership", reqId, change: { _tag: "AddLearner", node: id } })
        }
        break
      }
      case "transfer": {
        const leader = currentLeader()
        if (leader === null) break
        const others = leader.state!.membership.voters.filter((v) => v !== leader.id)
        if (others.length === 0) break
        stats.transfers++
        adminInput(leader, { _tag: "TransferLeadership", reqId: nextReq++, to: rng.pick(others) })
        break
      }
    }
    if (faulty) schedule({ at: now + rng.int(profile.chaosEvery * 2) + 1, kind: "chaos" })
  }

  const resume = (n: SimNode) => {
    n.paused = false
    trace(`resume ${n.id}`)
    const held = n.held
    n.held = []
    // Messages that queued up during the pause arrive in a burst, in random order.
    for (const e of held) schedule({ ...e, at: now + rng.int(5) })
  }

  // ------------------------------------------------------------------------------------------
  // The event loop
  // ------------------------------------------------------------------------------------------

  const handle = (e: Event) => {
    switch (e.kind) {
      case "tick": {
        const n = e.node
        if (n.inc !== e.inc || !n.up) return
        schedule({ at: now + TICK_MS, kind: "tick", node: n, inc: n.inc })
        if (n.paused) return
        const j = jitter()
        if (tracing) trace(`tick ${n.id} jitter=${j} ${n.state!.role} t${n.state!.term}`)
        return stepNode(n, { _tag: "Tick", jitter: j })
      }
      case "deliver": {
        const n = nodes.get(e.message.to)
        if (n === undefined || !n.up) return
        if (tracing) trace(`deliver ${describeMessage(e.message)}`)
        if (n.paused) {
          n.held.push(e)
          return
        }
        return stepNode(n, { _tag: "Receive", message: e.message })
      }
      case "input": {
        const n = e.node
        if (!n.up) return
        if (tracing) trace(`input ${n.id} ${describeInput(e.input)}`)
        return stepNode(n, e.input)
      }
      case "fsync":
        if (e.node.inc === e.inc && e.node.up) {
          if (tracing) {
            trace(`fsync ${e.node.id} (${e.node.store.pending.length} writes, ${e.node.queue.length} outputs released)`)
          }
          fsync(e.node)
        }
        return
      case "client":
        if (e.client.busy === null) startOp(e.client)
        return
      case "timeout":
        if (e.op.status === "pending" && e.op.client !== null && e.op.client.busy === e.op) {
          e.op.client.busy = null
          e.op.client.hint = null
          if (faulty) schedule({ at: now + 1, kind: "client", client: e.op.client })
        }
        return
      case "chaos":
        if (faulty) chaos()
        return
      case "restart":
        if (!e.node.up) {
          e.node.inc++
          boot(e.node)
          trace(`restart ${e.node.id} term=${e.node.state!.term} last=${Log.lastIndex(e.node.state!.log)}`)
        }
        return
      case "resume":
        if (e.node.inc === e.inc && e.node.paused) resume(e.node)
        return
      case "heal":
        if (blocked.size > 0) {
          blocked.clear()
          trace("partition healed")
        }
        return
      case "compact": {
        const n = e.node
        if (n.inc !== e.inc || !n.up) return
        n.compactScheduled = false
        if (n.smApplied <= n.state!.log.snapshot.index) return
        stats.snapshots++
        if (tracing) trace(`${n.id} snapshot at ${n.smApplied}`)
        return stepNode(n, { _tag: "Compact", index: n.smApplied, data: Reg.snapshotRegistry(n.sm) })
      }
    }
  }

  const run = (until: (() => boolean) | null, maxSteps: number, deadline: number): boolean => {
    while (maxSteps-- > 0) {
      if (until !== null && until()) return true
      const e = Heap.pop(heap)
      if (e === undefined || e.at > deadline) return until === null
      now = e.at
      step++
      handle(e)
    }
    return until === null
  }

  const result = (violation: Check.Violation | null): SimResult => ({
    seed: config.seed,
    violation,
    step,
    traceHash: hasher === null ? null : hasher.digest("hex").slice(0, 16),
    stats: {
      nodes: nodeCount,
      steps: step,
      simMillis: now,
      leadersElected: stats.leadersElected,
      committed: checker.committed.length - 1,
      opsOk: history.filter((o) => o.status === "ok").length,
      opsUnknown: history.filter((o) => o.status === "pending").length,
      crashes: stats.crashes,
      partitions: stats.partitions,
      pauses: stats.pauses,
      membershipChanges: stats.membershipChanges,
      transfers: stats.transfers,
      snapshots: stats.snapshots
    }
  })

  try {
    const voters = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`)
    const initial = Core.bootstrap(voters)
    for (const id of voters) {
      addNode(id, { hardState: initial.hardState, snapshot: null, entries: [...initial.entries] })
    }
    const clients: Array<Client> = Array.from(
      { length: profile.clients },
      (_, i) => ({ id: i + 1, hint: null, busy: null })
    )
    for (const c of clients) schedule({ at: 50 + rng.int(100), kind: "client", client: c })
    schedule({ at: 200 + rng.int(profile.chaosEvery), kind: "chaos" })
    trace(
      `seed ${config.seed}: ${nodeCount} nodes, loss=${profile.loss} dup=${profile.duplicate} faults=${
        profile.faults.join("+")
      } snapshotEvery=${profile.snapshotEvery} maxEntries=${profile.options.maxEntriesPerMessage} inflight=${profile.options.maxInflight}${
        config.bug === undefined ? "" : ` bug=${config.bug}`
      }`
    )

    run(null, config.steps, Infinity)

    // Heal: a perfect network, everyone up, no more faults; then demand progress.
    faulty = false
    blocked.clear()
    trace("heal: network repaired, crashed nodes restarted, paused nodes resumed")
    for (const n of nodes.values()) {
      if (!n.up) {
        n.inc++
        boot(n)
      } else if (n.paused) resume(n)
    }
    const healedAt = now
    const probe: ClientOp = {
      id: nextOp++,
      client: null,
      kind: "write",
      key: "liveness",
      value: "probe",
      invoke: ++logical,
      response: null,
      result: null,
      status: "pending"
    }
    let lastTry = -Infinity
    let probeNode: SimNode | null = null
    const probeCommitted = () => {
      if (probe.status === "ok") return true
      if (probe.status === "failed" || now - lastTry >= 300) {
        const leader = currentLeader()
        if (leader !== null) {
          probe.status = "pending"
          lastTry = now
          probeNode = leader
          const reqId = nextReq++
          leader.reqs.set(reqId, probe)
          stepNode(leader, {
            _tag: "Propose",
            reqId,
            commands: [Reg.encodeCommand({ op: "write", key: probe.key, value: probe.value })]
          })
        }
      }
      return false
    }
    if (!run(probeCommitted, 10_000_000, healedAt + LIVENESS_BOUND_MS)) {
      throw new Check.Violation("Liveness", `no leader committed a new entry within ${LIVENESS_BOUND_MS} ms of healing`)
    }
    const leader = currentLeader() ?? probeNode!
    // Operations started before the heal may still be acknowledged after the probe, at higher
    // indexes: converge on the leader's commit index as it is when checked, not as it was.
    let target = leader.state!.commitIndex
    const members = () =>
      [...nodes.values()].filter((n) => n.state !== null && isMember(leader.state!.membership, n.id))
    const converged = () => {
      target = Math.max(target, leader.state?.commitIndex ?? 0)
      return members().every((n) => n.smApplied >= target)
    }
    if (!run(converged, 10_000_000, now + LIVENESS_BOUND_MS)) {
      const lagging = members().filter((n) => n.smApplied < target).map((n) => `${n.id}@${n.smApplied}`)
      throw new Check.Violation(
        "Liveness",
        `members did not apply up to ${target} after healing: ${lagging.join(", ")}`
      )
    }
    trace(`healed: leader ${leader.id} term ${leader.state!.term} commit ${target}`)

    const ops: Array<HistoryOp> = history.filter((o) => o.status !== "failed").map((o) => ({
      id: o.id,
      key: o.key,
      kind: o.kind,
      value: o.value,
      invoke: o.invoke,
      response: o.status === "ok" ? o.response : null,
      result: o.result
    }))
    const lin = checkLinearizable(ops)
    if (!lin.ok) {
      const shown = lin.ops.map((o) =>
        `${o.kind}(${o.kind === "write" ? o.value : ""})=${o.response === null ? "?" : o.result} [${o.invoke},${
          o.response ?? "inf"
        }]`
      )
      throw new Check.Violation("Linearizability", `history of key ${lin.key} is not linearizable: ${shown.join(" ")}`)
    }
    for (const op of history) {
      if (op.kind !== "write" || op.status !== "ok") continue
      for (const n of members()) {
        const v = n.sm.values.get(op.key)
        if (v !== op.result) {
          throw new Check.Violation(
            "Durability",
            `acknowledged write ${op.key}=${op.result} (op ${op.id}) reads ${v ?? "nothing"} on ${n.id}`
          )
        }
      }
    }
    return result(null)
  } catch (e) {
    if (e instanceof Check.Violation) {
      trace(`VIOLATION ${e.property}: ${e.detail}`)
      return result(e)
    }
    throw e
  }
}
