// Status bookkeeping shared by both consumers: state and assignments change rarely and are
// published on a SubscriptionRef; the activity timestamp changes per batch and is kept
// apart so it does not flood `changes`.
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { ConsumerState, ConsumerStatus } from "../MessageBus.js"
import type { TopicPartition } from "../Record.js"

type Published = Omit<ConsumerStatus, "lastActivityAt">

export interface StatusTracker {
  readonly status: Effect.Effect<ConsumerStatus>
  readonly changes: Stream.Stream<ConsumerStatus>
  readonly setState: (state: ConsumerState, failure?: string) => Effect.Effect<void>
  readonly setAssignments: (assignments: ReadonlyArray<TopicPartition>) => Effect.Effect<void>
  readonly touch: Effect.Effect<void>
  /** `touch` for callbacks outside any fiber (kafkajs events), with the caller's clock reading. */
  readonly unsafeTouch: (nowMillis: number) => void
}

export const make = (group: string): Effect.Effect<StatusTracker> =>
  Effect.gen(function*() {
    const ref = yield* SubscriptionRef.make<Published>({ group, state: "joining", assignments: [] })
    const activity = { at: yield* Clock.currentTimeMillis }
    const withActivity = (published: Published): ConsumerStatus => ({ ...published, lastActivityAt: activity.at })
    return {
      status: Effect.map(SubscriptionRef.get(ref), withActivity),
      changes: Stream.map(ref.changes, withActivity),
      setState: (state, failure) =>
        SubscriptionRef.update(ref, (s) =>
          // a failed or stopped consumer stays so: late events must not revive it
          s.state === "failed" || (s.state === "stopped" && state !== "failed") ? s : { ...s, state, failure }),
      setAssignments: (assignments) =>
        SubscriptionRef.update(ref, (s) => ({
          ...s,
          assignments,
          state: s.state === "joining" ? "running" : s.state
        })),
      touch: Effect.map(Clock.currentTimeMillis, (now) => {
        activity.at = now
      }),
      unsafeTouch: (now) => {
        activity.at = now
      }
    }
  })
