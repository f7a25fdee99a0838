// Health of a raft node: healthy only when this node is a cluster member, a leader is
// known and the applied index is within RAFT_MAX_APPLIED_LAG of the commit index (the
// `raft` check). The node's view (role, term, leaderId, commitIndex, appliedIndex,
// members) is a Health info view, so `/healthz` carries it as `body.raft`, read fresh on
// each request whether or not the check passes (ADR 0062).
import { Health } from "@trading/platform"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type NodeStatus, RegistryNode } from "./RegistryNode.js"

export const view = (s: NodeStatus) => ({
  role: s.role,
  term: s.term,
  leaderId: s.leaderId,
  commitIndex: s.commitIndex,
  appliedIndex: s.appliedIndex,
  lastLogIndex: s.lastLogIndex,
  members: s.members.map((m) => ({ nodeId: m.nodeId, grpcAddr: m.grpcAddr, raftAddr: m.raftAddr, voter: m.voter }))
})

/** Why the node is unhealthy, or undefined. */
export const problem = (s: NodeStatus, maxLag: number): string | undefined => {
  if (!s.isMember) return "not a member of the cluster (yet)"
  if (s.leaderId === null) return "no leader known"
  if (s.commitIndex - s.appliedIndex > maxLag) {
    return `applied index ${s.appliedIndex} lags commit index ${s.commitIndex} by more than ${maxLag}`
  }
  return undefined
}

export const layer = Layer.scopedDiscard(Effect.gen(function*() {
  const node = yield* RegistryNode
  yield* Health.info("raft", Effect.map(node.status, view))
  yield* Health.check(
    "raft",
    Effect.flatMap(node.status, (s) => {
      const why = problem(s, node.settings.maxAppliedLag)
      return why === undefined ? Effect.succeed(`${s.role}, term ${s.term}, leader ${s.leaderId}`) : Effect.fail(why)
    }),
    { interval: "200 millis" }
  )
}))
