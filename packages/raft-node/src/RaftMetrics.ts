// Raft metrics for /metrics: the node's view (role, term, indexes, members) as gauges,
// elections and leader changes as counters (observed by polling the node's status every
// 100 ms: RaftNode publishes no events), commit latency and log fsync latency as
// histograms. Elections are counted exactly (from the term's growth); a leader change
// undone within one poll is not.
// Polling every 20 ms cost an idle node 2-3 % of a core (an idle three-node cluster: 9/8/8 %
// of a core per node at 20 ms, 6-7/5/5 % at 100 ms).
import { Metrics } from "@trading/platform"
import type { StorageApi } from "@trading/raft"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { NodeStatus } from "./RegistryNode.js"

const gauge = (name: string, description: string) => Metric.gauge(name, { description })

export const term = gauge("raft_term", "Current Raft term")
export const commitIndex = gauge("raft_commit_index", "Highest log index known to be committed")
export const appliedIndex = gauge("raft_applied_index", "Index of the last command applied to the registry")
export const lastLogIndex = gauge("raft_last_log_index", "Index of the last entry in the local log")
export const isLeader = gauge("raft_is_leader", "1 when this node is the leader")
export const leaderKnown = gauge("raft_leader_known", "1 when this node knows a leader")
export const voters = gauge("raft_voters", "Voters in the cluster configuration")
export const learners = gauge("raft_learners", "Learners (catching up) in the cluster configuration")
export const elections = Metrics.counter("raft_elections_total", "Terms started since this process began (elections)")
export const leaderChanges = Metrics.counter("raft_leader_changes_total", "Times the known leader changed")
export const becameLeader = Metrics.counter("raft_became_leader_total", "Times this node won leadership")
export const commitLatency = Metrics.latency("raft_commit_seconds", "Propose-to-applied latency of a write")

/**
 * Every commit waits for fsyncs (the leader's own and a follower's), so their latency is the
 * first thing to look at when commits are slow; finer buckets than the default at the low
 * end, where a healthy disk is (0.3-3 ms on the development machine).
 */
export const fsyncLatency = Metrics.latency(
  "raft_storage_fsync_seconds",
  "Raft log fsync latency: from the call until the node sees it complete (thread pool and event loop included)",
  [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
)

/** The storage with its log fsyncs timed into `fsyncLatency`. */
export const meteredStorage = (storage: StorageApi): StorageApi => {
  const syncNow = storage.syncNow
  return {
    ...storage,
    sync: Metrics.time(fsyncLatency)(storage.sync),
    // the node's turn calls this one (ADR 0095): timed the same way, without an effect
    syncNow: syncNow === undefined ? undefined : (done) => {
      const start = performance.now()
      syncNow((error) => {
        fsyncLatency.unsafeUpdate((performance.now() - start) / 1000, [])
        done(error)
      })
    }
  }
}

/** Polls `status` and keeps the gauges and counters current; runs until interrupted. */
export const monitor = (status: Effect.Effect<NodeStatus>) =>
  Effect.gen(function*() {
    let last: NodeStatus | undefined
    for (;;) {
      const s = yield* status
      yield* Metric.set(term, s.term)
      yield* Metric.set(commitIndex, s.commitIndex)
      yield* Metric.set(appliedIndex, s.appliedIndex)
      yield* Metric.set(lastLogIndex, s.lastLogIndex)
      yield* Metric.set(isLeader, s.role === "leader" ? 1 : 0)
      yield* Metric.set(leaderKnown, s.leaderId === null ? 0 : 1)
      yield* Metric.set(voters, s.members.filter((m) => m.voter).length)
      yield* Metric.set(learners, s.members.filter((m) => !m.voter).length)
      if (last !== undefined) {
        if (s.term > last.term) yield* Metric.update(elections, s.term - last.term)
        if (s.leaderId !== null && s.leaderId !== last.leaderId) {
          yield* Metric.update(leaderChanges, 1)
          yield* Effect.logInfo("leader changed").pipe(
            Effect.annotateLogs({ leaderId: s.leaderId, term: s.term, role: s.role })
          )
          if (s.leaderId === s.nodeId) yield* Metric.update(becameLeader, 1)
        }
      }
      last = s
      yield* Effect.sleep("100 millis")
    }
  })
