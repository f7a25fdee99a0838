// FLOOR_CORE=1 (floor.ts): one floor process as a Raft node run with plain callbacks, to put
// the pure core back into the floor without the raft-node's Effect runtime. It keeps what
// RaftNode does per turn (docs/raft.md): the inputs that arrived since the last turn are
// stepped through the core, persists written to the raft-node's log (`SegmentedLog`) and made
// durable by one sync at the end of the turn, a leader's appends sent at once, every other
// output held until the sync and then performed in the core's order, `Synced` stepped after
// it; messages travel as raft.v1 messages (`Wire`). Hard state changes (elections only) stay
// in memory; nothing is compacted (a run lasts seconds).
//
// `pipelined` (FLOOR_CORE=pipelined) is a variation RaftNode does not have: turns go on while
// a sync runs, and `Accepted` and `Apply` are performed at once even after unsynced writes.
// That is safe because a leader counts its own log toward a commit only up to what it knows
// durable (`Synced`), so whatever the core commits is durable on a majority already, and
// applying is volatile. What asserts this node's durability (acknowledgements, votes) still
// waits for a sync covering the writes before it; `Synced` is stepped only after a sync that
// covers every write (the core's `Synced` means the whole log). The leader then commits on two
// acknowledgements without waiting for its own fsync, as the plain floor does.
import * as Core from "@trading/raft/core/RaftCore"
import { defaultOptions, type Input, type Message, type NodeId, type Output } from "@trading/raft/core/Types"
import * as SegmentedLog from "@trading/raft/internal/SegmentedLog"
import * as Wire from "@trading/raft/Wire"

const voters: ReadonlyArray<NodeId> = ["leader", "follower1", "follower2"]

/** A raft.v1 message as the bytes a floor process writes to its stream. */
export const encode = (message: Message): Buffer => {
  const bytes = Wire.encode(message)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The message a floor process read; the floor only ever sends valid ones. */
export const decode = (wire: Uint8Array): Message => {
  const message = Wire.decode(wire)
  if (message._tag === "Left") throw new Error(`the floor got an invalid raft message: ${message.left.reason}`)
  return message.right
}

export interface CoreNode {
  readonly receive: (wire: Uint8Array) => void
  /** Leader only: replicates `commands` as one entry; `applied` gets the state machine's answer. */
  readonly propose: (commands: Uint8Array, applied: (result: Uint8Array) => void) => void
  /** A leader whose term's first entry is applied. */
  readonly leading: () => boolean
}

export const make = (
  id: NodeId,
  dir: string,
  options: {
    readonly electionTicks: number
    readonly heartbeatTicks: number
    readonly tickMs: number
    readonly pipelined: boolean
  },
  apply: (commands: Uint8Array) => Uint8Array,
  send: (to: NodeId, wire: Buffer) => void
): CoreNode => {
  const { log } = SegmentedLog.open(dir, null)
  const persisted = Core.bootstrap(voters)
  log.append(1, persisted.entries)
  let state = Core.init(
    id,
    {
      ...defaultOptions,
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks
    },
    persisted,
    0
  )

  const waiting = new Map<number, (result: Uint8Array) => void>()
  const awaiting = new Map<number, (result: Uint8Array) => void>()
  let nextReq = 1
  let appliedIndex = 0

  const perform = (o: Output) => {
    switch (o._tag) {
      case "Send":
        return send(o.message.to, encode(o.message))
      case "Apply":
        for (const e of o.entries) {
          appliedIndex = e.index
          if (e.kind !== "command") continue
          const result = apply(e.data)
          const done = awaiting.get(e.index)
          if (done === undefined) continue
          awaiting.delete(e.index)
          done(result)
        }
        return
      case "Accepted": {
        const done = waiting.get(o.reqId)
        waiting.delete(o.reqId)
        if (done !== undefined) awaiting.set(o.index, done)
        return
      }
      case "Rejected":
        throw new Error(`the floor's Raft core rejected a proposal: ${o.reason}`)
      default:
        return
    }
  }

  let mailbox: Array<Input> = []
  let scheduled = false
  let syncing = false
  /** Written and covered by no sync yet. */
  let dirty = false
  /** Steps `input`: its persists are written, every other output goes to `route`, in order. */
  const stepWith = (input: Input, route: (o: Output) => void) => {
    const result = Core.step(state, input)
    state = result.state
    for (const o of result.outputs) {
      if (o._tag === "PersistEntries") {
        log.append(o.from, o.entries)
        dirty = true
      } else if (o._tag === "PersistHardState" || o._tag === "PersistSnapshot") dirty = true
      else route(o)
    }
  }

  // one turn: everything in the mailbox, one sync, then what waited for it
  let held: Array<Output> = []
  const holdAfterWrites = (o: Output) => dirty && !Core.isEarlySend(o) ? held.push(o) : perform(o)
  const turn = () => {
    scheduled = false
    if (syncing) return
    const inputs = mailbox
    mailbox = []
    for (const input of inputs) stepWith(input, holdAfterWrites)
    if (!dirty) return
    syncing = true
    log.sync((error) => {
      if (error !== null) throw error
      syncing = false
      dirty = false
      const ready = held
      held = []
      for (const o of ready) perform(o)
      stepWith({ _tag: "Synced" }, holdAfterWrites)
      if (mailbox.length > 0) schedule()
    })
  }

  // pipelined: `covered` outputs wait for the running sync, `next` ones for the one after it
  let covered: Array<Output> = []
  let next: Array<Output> = []
  const routePipelined = (o: Output) => {
    if (Core.isEarlySend(o) || o._tag === "Accepted" || o._tag === "Apply") perform(o)
    else if (dirty) next.push(o)
    else if (syncing) covered.push(o)
    else perform(o)
  }
  const startSync = () => {
    syncing = true
    dirty = false
    covered = next
    next = []
    log.sync((error) => {
      if (error !== null) throw error
      syncing = false
      const ready = covered
      covered = []
      for (const o of ready) perform(o)
      if (dirty) startSync()
      else stepWith({ _tag: "Synced" }, routePipelined)
    })
  }
  const pipelinedTurn = () => {
    scheduled = false
    const inputs = mailbox
    mailbox = []
    for (const input of inputs) stepWith(input, routePipelined)
    if (dirty && !syncing) startSync()
  }

  // the inputs of one event-loop turn (a socket read's messages) go into one Raft turn
  const schedule = () => {
    if (scheduled || (syncing && !options.pipelined)) return
    scheduled = true
    queueMicrotask(options.pipelined ? pipelinedTurn : turn)
  }
  const input = (i: Input) => {
    mailbox.push(i)
    schedule()
  }
  setInterval(() => input({ _tag: "Tick", jitter: 0 }), options.tickMs)

  return {
    receive: (wire) => input({ _tag: "Receive", message: decode(wire) }),
    propose: (commands, applied) => {
      const reqId = nextReq++
      waiting.set(reqId, applied)
      input({ _tag: "Propose", reqId, commands: [commands] })
    },
    leading: () => state.role === "leader" && appliedIndex >= state.commitIndex && state.commitIndex > 1
  }
}
