/**
 * Helpers for the core's tests: build states and run a tiny synchronous cluster in which
 * messages are delivered in order until nothing is left in flight (unless a filter drops them).
 */
import * as Core from "./RaftCore.js"
import type { Entry, Input, Message, MessageBody, NodeId, Options, Output } from "./Types.js"
import { defaultOptions } from "./Types.js"

export const options = (o: Partial<Options> = {}): Options => ({ ...defaultOptions, ...o })

export const cmd = (s: string): Uint8Array => new TextEncoder().encode(s)

export const entry = (index: number, term: number, data = `e${index}`): Entry => ({
  index,
  term,
  kind: "command",
  data: cmd(data)
})

/** A node of a fresh cluster of `voters` whose log holds the bootstrap entry plus `entries`. */
export const node = (
  id: NodeId,
  voters: ReadonlyArray<NodeId>,
  init: { term?: number; votedFor?: NodeId | null; entries?: ReadonlyArray<Entry>; options?: Partial<Options> } = {}
): Core.RaftState => {
  const b = Core.bootstrap(voters)
  return Core.init(id, options(init.options), {
    hardState: { term: init.term ?? 1, votedFor: init.votedFor ?? null },
    snapshot: null,
    entries: [...b.entries, ...(init.entries ?? [])]
  })
}

export const message = (from: NodeId, to: NodeId, term: number, body: MessageBody): Message => ({
  from,
  to,
  term,
  body
})

export const receive = (s: Core.RaftState, m: Message) => Core.step(s, { _tag: "Receive", message: m })

export const sent = (outputs: ReadonlyArray<Output>): Array<Message> =>
  outputs.flatMap((o) => (o._tag === "Send" ? [o.message] : []))

export const ofTag = <T extends Output["_tag"]>(outputs: ReadonlyArray<Output>, tag: T) =>
  outputs.filter((o): o is Extract<Output, { _tag: T }> => o._tag === tag)

export interface TestCluster {
  readonly nodes: Map<NodeId, Core.RaftState>
  /** Outputs of every step, per node, in order. */
  readonly outputs: Map<NodeId, Array<Output>>
  inflight: Array<Message>
  drop: (m: Message) => boolean
}

export const cluster = (ids: ReadonlyArray<NodeId>, o: Partial<Options> = {}): TestCluster => ({
  nodes: new Map(ids.map((id) => [id, node(id, ids, { options: o })])),
  outputs: new Map(ids.map((id) => [id, []])),
  inflight: [],
  drop: () => false
})

const isPersist = (o: Output) => o._tag.startsWith("Persist")

/** Steps `id`; a step that persisted is followed at once by `Synced` (storage here is instant). */
export const input = (c: TestCluster, id: NodeId, i: Input): Array<Output> => {
  const r = Core.step(c.nodes.get(id)!, i)
  const outputs = r.outputs
  let state = r.state
  if (outputs.some(isPersist)) {
    const synced = Core.step(state, { _tag: "Synced" })
    state = synced.state
    outputs.push(...synced.outputs)
  }
  c.nodes.set(id, state)
  c.outputs.get(id)!.push(...outputs)
  for (const m of sent(outputs)) c.inflight.push(m)
  return outputs
}

/** Deliver messages until none are in flight (bounded, to catch livelocks). */
export const settle = (c: TestCluster, maxMessages = 10_000): void => {
  for (let n = 0; c.inflight.length > 0; n++) {
    if (n > maxMessages) throw new Error("cluster did not settle")
    const m = c.inflight.shift()!
    if (c.drop(m) || !c.nodes.has(m.to)) continue
    input(c, m.to, { _tag: "Receive", message: m })
  }
}

/** Tick `id` until it has timed out and the cluster settled (jitter 0: timeout = electionTicks). */
export const elect = (c: TestCluster, id: NodeId): void => {
  const ticks = c.nodes.get(id)!.options.electionTicks
  for (let i = 0; i < ticks; i++) input(c, id, { _tag: "Tick", jitter: 0 })
  settle(c)
}

/** Tick every node; each gets a different jitter so they do not time out in lockstep. */
export const tickAll = (c: TestCluster, ticks: number): void => {
  for (let t = 0; t < ticks; t++) {
    ;[...c.nodes.keys()].forEach((id, i) => input(c, id, { _tag: "Tick", jitter: (i * 3) % 10 }))
    settle(c)
  }
}
