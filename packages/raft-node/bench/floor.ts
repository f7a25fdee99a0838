// The host's floor under bench:raft's latency phase: what that phase costs this host when
// nothing but the work itself runs (`pnpm bench:raft-floor`, and a row of `pnpm bench:raft`).
// Three processes on loopback carry the raft-node's message flow with bare grpc-js on raw
// bytes, plain callbacks, no Effect, no Raft core and no protobuf framing:
//
//   client --stream--> leader: calls of `batch` orders (RecordOrdersRequest bytes), open loop
//   leader: checks each call's records (RegistryBytes.validRecordCount, as the raft-node
//     does), group commit with one entry in flight and a 1 ms linger after an entry of
//     several calls (RegistryNode's batcher); the entry written to its log (page cache) and
//     fsynced on the thread pool while it goes to both followers on one stream each
//   follower: writes, fsyncs (thread pool), acknowledges, applies
//   leader: commits on a majority (its fsync and one ack, or two acks), applies, answers each
//     call with its share of the result (RegistryBytes.splitResult)
//
// The state machine is the real one (OrderRegistry with the raft-node's default retention,
// full and evicting before the measured phase when the warm-up is long enough, as in
// bench:raft's), each node keeps a 10 ms timer and the leader heartbeats every 50 ms (the
// raft-node's tick and heartbeat). What is left out is what the raft-node adds per call and
// per entry: the distance between the two is that overhead on this host (docs/benchmarks.md,
// fourteenth session).
//
// Parts of the raft-node can be put back one at a time, to find which of them costs what the
// raft-node adds (docs/raft-node.md, "What the p99 target needs"):
// FLOOR_WIRE=raft: entries, heartbeats and acknowledgements travel as raft.v1 messages
//   (`Wire.encode`/`decode`: the core's messages through ts-proto, one encoding per peer, as
//   the raft-node's transport sends them) instead of an 8-byte header and the commands;
// FLOOR_LOG=segmented: the log is the raft-node's (`SegmentedLog`: framed records with a
//   CRC-32, one `sync` per entry) instead of a plain file;
// FLOOR_CORE=1: every process is a Raft node run with plain callbacks (floorCore.ts): the
//   pure core steps every message, tick and proposal, with the raft.v1 wire and the
//   segmented log (the two knobs above are implied), group commit per turn as RaftNode's;
//   FLOOR_CORE=pipelined: the same with turns going on during a sync (floorCore.ts).
// FLOOR_BURN="follower=750,leader=600,call=350,client=450": microseconds of busy work that
// allocates short-lived objects (as a runtime's per-operation bookkeeping does) per append on
// each follower, per entry and per call on the leader and per call in the client, to see how
// the tail grows with the CPU each event costs.
// Profiles: NODE_OPTIONS=--import=<repo>/packages/cli/bench/cpu-profile.mjs BENCH_CPU_PROF_DIR=<dir>
// (every process writes one when it ends; read them with packages/cli/bench/profile-summary.mjs).
import * as grpc from "@grpc/grpc-js"
import type { OrderRecord } from "@trading/domain"
import * as Bytes from "@trading/domain/Bytes"
import * as OrderRegistry from "@trading/domain/OrderRegistry"
import * as RegistryBytes from "@trading/domain/RegistryBytes"
import { freePort, nodeEnv, nodeFlagsFor } from "@trading/platform/testing/ServiceProcess"
import type { Entry } from "@trading/raft"
import * as SegmentedLog from "@trading/raft/internal/SegmentedLog"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Procfs from "../../cli/bench/procfs.js"
import * as FloorCore from "./floorCore.js"

const TICK_MS = 10
const HEARTBEAT_MS = 50
/** RAFT_RETENTION_MAX_ORDERS' default (RaftNodeConfig). */
const MAX_ORDERS = 150_000

const raw = (bytes: Buffer) => bytes
const service: grpc.ServiceDefinition = {
  Stream: {
    path: "/floor.Floor/Stream",
    requestStream: true,
    responseStream: true,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw
  }
}
const FloorClient = grpc.makeGenericClientConstructor(service, "Floor")
const openStream = (port: number): grpc.ClientDuplexStream<Buffer, Buffer> =>
  (new FloorClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
    Stream: () => grpc.ClientDuplexStream<Buffer, Buffer>
  }).Stream()

const serve = (port: number, onCall: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => void) =>
  new Promise<void>((resolve, reject) => {
    const server = new grpc.Server()
    server.addService(service, { Stream: onCall })
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) => e ? reject(e) : resolve())
  })

const burnUs: Record<string, number> = Object.fromEntries(
  (process.env.FLOOR_BURN ?? "").split(",").filter((kv) => kv.includes("=")).map((kv) => {
    const [key, us] = kv.split("=")
    return [key!.trim(), Number(us)]
  })
)
let garbage: unknown = null
/** About `FLOOR_BURN[key]` microseconds of allocating busy work (none by default). */
const burn = (key: string) => {
  const us = burnUs[key]
  if (us === undefined || !(us > 0)) return
  const until = performance.now() + us / 1000
  while (performance.now() < until) {
    for (let i = 0; i < 50; i++) garbage = { i, previous: garbage === null ? null : [i] }
  }
}

/** The state machine of every node: the raft-node's, applied entry by entry. */
const makeReplica = () => {
  const retention = OrderRegistry.makeRetention({ maxOrders: MAX_ORDERS })
  if (retention._tag === "Left") throw new Error(retention.left.message)
  let registry = OrderRegistry.initial(retention.right)
  let index = 0
  return (body: Uint8Array) => {
    const [next, result] = OrderRegistry.apply(registry, body, ++index)
    registry = next
    return result
  }
}

/** An append-only log: written in the page cache, fsynced on the thread pool, once per entry. */
type Log = (index: number, commands: Uint8Array, synced: () => void) => void

const plainLog = (dir: string): Log => {
  fs.mkdirSync(dir, { recursive: true })
  const fd = fs.openSync(join(dir, "log"), "w")
  let position = 0
  return (_index, commands, synced) => {
    fs.writeSync(fd, commands, 0, commands.length, position)
    position += commands.length
    fs.fsync(fd, (error) => {
      if (error) throw error
      synced()
    })
  }
}

const segmentedLog = (dir: string): Log => {
  const { log } = SegmentedLog.open(dir, null)
  return (index, commands, synced) => {
    log.append(index, [{ term: 1, index, kind: "command", data: commands }])
    log.sync((error) => {
      if (error) throw error
      synced()
    })
  }
}

const makeLog = process.env.FLOOR_LOG === "segmented" ? segmentedLog : plainLog

/** What travels between the leader and a follower: an entry, a heartbeat, an acknowledgement. */
interface Codec {
  readonly entry: (to: string, sequence: number, commands: Uint8Array) => Buffer
  readonly heartbeat: (to: string) => Buffer
  /** An entry's sequence and commands; null for a heartbeat. */
  readonly readEntry: (wire: Buffer) => { readonly sequence: number; readonly commands: Uint8Array } | null
  /** The acknowledgement of entry `sequence` (0: of a heartbeat). */
  readonly ack: (sequence: number) => Buffer
  readonly readAck: (wire: Buffer) => number
}

/** An entry on the wire: `[u32 sequence][u32 unused][commands...]`; a heartbeat is the header alone. */
const HEADER = 8
const header = (sequence: number) => {
  const h = Buffer.alloc(HEADER)
  h.writeUInt32LE(sequence, 0)
  return h
}
const bytesCodec: Codec = {
  entry: (_to, sequence, commands) => Buffer.concat([header(sequence), commands]),
  heartbeat: () => header(0),
  readEntry: (wire) =>
    wire.length === HEADER ? null : { sequence: wire.readUInt32LE(0), commands: wire.subarray(HEADER) },
  ack: header,
  readAck: (wire) => wire.readUInt32LE(0)
}

const appendRequest = (to: string, entries: ReadonlyArray<Entry>, prevLogIndex: number): Buffer =>
  FloorCore.encode({
    from: "leader",
    to,
    term: 1,
    body: { _tag: "AppendRequest", prevLogIndex, prevLogTerm: 1, entries, leaderCommit: prevLogIndex, context: 0 }
  })
const raftCodec: Codec = {
  entry: (to, sequence, commands) =>
    appendRequest(to, [{ term: 1, index: sequence, kind: "command", data: commands }], sequence - 1),
  heartbeat: (to) => appendRequest(to, [], 0),
  readEntry: (wire) => {
    const body = FloorCore.decode(wire).body
    if (body._tag !== "AppendRequest") throw new Error(`the floor's follower got a ${body._tag}`)
    const entry = body.entries[0]
    return entry === undefined ? null : { sequence: entry.index, commands: entry.data }
  },
  ack: (sequence) =>
    FloorCore.encode({
      from: "follower",
      to: "leader",
      term: 1,
      body: {
        _tag: "AppendResponse",
        success: true,
        matchIndex: sequence,
        conflictIndex: 0,
        conflictTerm: 0,
        context: 0
      }
    }),
  readAck: (wire) => {
    const body = FloorCore.decode(wire).body
    return body._tag === "AppendResponse" ? body.matchIndex : 0
  }
}

const codec = process.env.FLOOR_WIRE === "raft" ? raftCodec : bytesCodec

/** FLOOR_CORE=1 (or `pipelined`): every process a Raft node (floorCore.ts): the core, its wire and its log. */
const CORE = process.env.FLOOR_CORE === "1" || process.env.FLOOR_CORE === "pipelined"
/** The raft-node's defaults (RaftNodeConfig): 10 ms ticks, heartbeats every 5, elections after 30. */
const CORE_TIMING = {
  tickMs: TICK_MS,
  heartbeatTicks: 5,
  electionTicks: 30,
  pipelined: process.env.FLOOR_CORE === "pipelined"
}

const follower = async (port: number, dir: string) => {
  const append = makeLog(dir)
  const apply = makeReplica()
  setInterval(() => {}, TICK_MS)
  await serve(port, (call) => {
    call.on("data", (wire: Buffer) => {
      const entry = codec.readEntry(wire)
      if (entry === null) return void call.write(codec.ack(0))
      burn("follower")
      append(entry.sequence, entry.commands, () => {
        call.write(codec.ack(entry.sequence))
        apply(entry.commands)
      })
    })
  })
}

/** FLOOR_CORE=1: a follower that is a Raft node (floorCore.ts); it answers on the leader's stream. */
const coreFollower = async (id: string, port: number, dir: string) => {
  let toLeader: grpc.ServerDuplexStream<Buffer, Buffer> | undefined
  const node = FloorCore.make(id, dir, { ...CORE_TIMING, electionTicks: 1_000_000 }, makeReplica(), (_to, wire) => {
    toLeader?.write(wire)
  })
  await serve(port, (call) => {
    toLeader = call
    call.on("data", (wire: Buffer) => node.receive(wire))
  })
}

interface Call {
  readonly stream: grpc.ServerDuplexStream<Buffer, Buffer>
  readonly id: number
  readonly request: Buffer
  /** Its records, checked as the raft-node checks them. */
  readonly count: number
}

/** Replicates one entry of `commands`; `applied` gets the state machine's answer once it is committed and applied. */
type Replicate = (commands: Buffer, applied: (result: Uint8Array) => void) => void

/**
 * The leader's side facing the client (RegistryNode's batcher): calls wait in `pending`,
 * one entry is in flight at a time, a 1 ms linger after an entry of several calls, and each
 * call is answered with its share of the entry's result.
 */
const serveClients = async (port: number, replicate: Replicate) => {
  let pending: Array<Call> = []
  let inFlight = false
  let lastCalls = 0
  let scheduled = false
  const propose = () => {
    scheduled = false
    if (inFlight || pending.length === 0) return
    const calls = pending
    pending = []
    lastCalls = calls.length
    inFlight = true
    replicate(Buffer.from(Bytes.concat(calls.map((c) => c.request))), (result) => {
      inFlight = false
      burn("leader")
      const split = RegistryBytes.splitResult(result, calls.map((c) => c.count))
      if (split._tag === "Left") throw new Error(split.left.message)
      calls.forEach((call, i) => {
        burn("call")
        const response = split.right[i]!
        const out = Buffer.allocUnsafe(4 + response.length)
        out.writeUInt32LE(call.id, 0)
        out.set(response, 4)
        call.stream.write(out)
      })
      schedule()
    })
  }
  const schedule = () => {
    if (scheduled || inFlight || pending.length === 0) return
    scheduled = true
    if (lastCalls > 1) setTimeout(propose, 1)
    else setImmediate(propose)
  }
  await serve(port, (stream) => {
    stream.on("data", (message: Buffer) => {
      const request = message.subarray(4)
      const count = RegistryBytes.validRecordCount(request)
      if (count === undefined) throw new Error("the floor's client sent a record the registry would not read")
      pending.push({ stream, id: message.readUInt32LE(0), request, count })
      schedule()
    })
  })
}

/** The leader without a Raft core: it commits on its fsync and one ack, or two acks. */
const leader = async (port: number, followerPorts: ReadonlyArray<number>, dir: string) => {
  const append = makeLog(dir)
  const apply = makeReplica()
  const peers = followerPorts.map(openStream)
  let inFlight: {
    readonly sequence: number
    readonly commands: Buffer
    readonly applied: (result: Uint8Array) => void
    synced: boolean
    acks: number
  } | null = null
  let sequence = 0
  const commitIfMajority = () => {
    const entry = inFlight
    if (entry === null || !((entry.synced && entry.acks >= 1) || entry.acks >= 2)) return
    inFlight = null
    entry.applied(apply(entry.commands))
  }
  for (const peer of peers) {
    peer.on("data", (ack: Buffer) => {
      if (inFlight !== null && codec.readAck(ack) === inFlight.sequence) {
        inFlight.acks++
        commitIfMajority()
      }
    })
  }
  setInterval(() => {}, TICK_MS)
  setInterval(() => {
    peers.forEach((peer, i) => peer.write(codec.heartbeat(`follower${i + 1}`)))
  }, HEARTBEAT_MS)
  await serveClients(port, (commands, applied) => {
    const entry = { sequence: ++sequence, commands, applied, synced: false, acks: 0 }
    inFlight = entry
    append(entry.sequence, commands, () => {
      entry.synced = true
      commitIfMajority()
    })
    peers.forEach((peer, i) => peer.write(codec.entry(`follower${i + 1}`, entry.sequence, commands)))
  })
}

/** FLOOR_CORE=1: the leader as a Raft node (floorCore.ts), ready once it leads. */
const coreLeader = async (port: number, followerPorts: ReadonlyArray<number>, dir: string) => {
  const peers = new Map(followerPorts.map((p, i) => [`follower${i + 1}`, openStream(p)]))
  const node = FloorCore.make("leader", dir, CORE_TIMING, makeReplica(), (to, wire) => {
    peers.get(to)?.write(wire)
  })
  for (const peer of peers.values()) peer.on("data", (wire: Buffer) => node.receive(wire))
  while (!node.leading()) await new Promise((resolve) => setTimeout(resolve, 10))
  await serveClients(port, (commands, applied) => node.propose(commands, applied))
}

// ---- the client, and a run ------------------------------------------------------------

const self = fileURLToPath(import.meta.url)

const launch = (args: ReadonlyArray<string>) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlagsFor("raft-node"), "--import", "tsx", self, ...args], {
      env: { ...process.env, ...nodeEnv },
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`${args[0]} exited with ${code} before it was ready`)))
    child.stdout!.once("data", () => resolve(child))
  })

let orderSeq = 0
const request = (batch: number): Buffer => {
  const records: Array<OrderRecord.OrderRecord> = Array.from({ length: batch }, () => {
    orderSeq++
    return {
      orderId: `floor-${orderSeq}`,
      eventId: `floor-evt-${orderSeq}`,
      commandId: `floor-cmd-${orderSeq}`,
      status: "ACCEPTED",
      reason: "",
      filledQuantity: 0,
      fillPriceMicros: 0,
      recordedAtUnixMs: Date.now()
    }
  })
  return Buffer.from(OrderRegistry.encodeCommand(records))
}

/** Open loop at `rate` orders/s for `seconds` (bench:raft's: due calls sent every 2 ms); sorted latencies. */
const openLoop = (stream: grpc.ClientDuplexStream<Buffer, Buffer>, rate: number, batch: number, seconds: number) =>
  new Promise<Array<number>>((resolve) => {
    const sentAt = new Map<number, number>()
    const latencies: Array<number> = []
    const onAnswer = (message: Buffer) => {
      const id = message.readUInt32LE(0)
      latencies.push(performance.now() - sentAt.get(id)!)
      sentAt.delete(id)
      if (sentAt.size === 0 && done) finish()
    }
    const finish = () => {
      stream.off("data", onAnswer)
      resolve(latencies.sort((a, b) => a - b))
    }
    stream.on("data", onAnswer)
    let done = false
    let sent = 0
    const started = performance.now()
    const send = () => {
      const elapsed = performance.now() - started
      if (elapsed >= seconds * 1000) {
        done = true
        if (sentAt.size === 0) finish()
        return
      }
      const due = Math.floor((elapsed / 1000) * (rate / batch))
      for (; sent < due; sent++) {
        burn("client")
        const body = request(batch)
        const message = Buffer.allocUnsafe(4 + body.length)
        message.writeUInt32LE(sent, 0)
        message.set(body, 4)
        sentAt.set(sent, performance.now())
        stream.write(message)
      }
      setTimeout(send, 2)
    }
    send()
  })

export interface FloorRun {
  /** The measured calls' latencies in ms, ascending. */
  readonly latencies: ReadonlyArray<number>
  /** CPU over the measured phase, % of one core: follower, follower, leader, this process. */
  readonly cpu: ReadonlyArray<number>
}

/** One run with fresh processes: `warmup` seconds of the open loop, then `seconds` measured. */
export const runFloor = async (rate: number, batch: number, seconds: number, warmup: number): Promise<FloorRun> => {
  const root = fs.mkdtempSync(join(tmpdir(), "raft-floor-"))
  const [leaderPort, f1, f2] = [await freePort(), await freePort(), await freePort()]
  const children: Array<ChildProcess> = []
  try {
    children.push(await launch(["follower", String(f1), join(root, "f1"), "follower1"]))
    children.push(await launch(["follower", String(f2), join(root, "f2"), "follower2"]))
    children.push(await launch(["leader", String(leaderPort), String(f1), String(f2), join(root, "leader")]))
    const stream = openStream(leaderPort)
    let closing = false
    stream.on("error", (error) => {
      // the leader is killed with the stream still open once the run is over
      if (!closing) throw error
    })
    await openLoop(stream, rate, batch, warmup)
    const pids = [...children.map((c) => c.pid!), process.pid]
    const before = pids.map((pid) => Procfs.cpuSeconds(pid) ?? NaN)
    const latencies = await openLoop(stream, rate, batch, seconds)
    const cpu = pids.map((pid, i) => Math.round((((Procfs.cpuSeconds(pid) ?? NaN) - before[i]!) / seconds) * 100))
    closing = true
    stream.end()
    return { latencies, cpu }
  } finally {
    // SIGTERM lets a profiler loaded with NODE_OPTIONS (cpu-profile.mjs) write its profile
    for (const child of children) child.kill("SIGTERM")
    fs.rmSync(root, { recursive: true, force: true })
  }
}

// run as one of the floor's processes (launch, above)
if (process.argv[1] === self) {
  const [role, ...args] = process.argv.slice(2)
  process.once("SIGTERM", () => process.exit(0))
  if (role === "follower") {
    await (CORE ? coreFollower(args[2]!, Number(args[0]), args[1]!) : follower(Number(args[0]), args[1]!))
  } else if (role === "leader") {
    await (CORE ? coreLeader : leader)(Number(args[0]), [Number(args[1]), Number(args[2])], args[3]!)
  } else throw new Error(`floor.ts: unknown role ${role}`)
  console.log("ready")
}
