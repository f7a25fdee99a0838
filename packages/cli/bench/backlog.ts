// Where the pipeline's records are, read from the broker alone (no service is asked): the
// high watermarks of the three topics and the offsets the two consumer groups committed.
// The bus commits a partition's offset after each handled batch, so the committed offsets
// trail the work done by at most one batch per partition.
import type * as KafkaJs from "../../bus/node_modules/kafkajs/types/index.js"

export interface Topics {
  readonly ticks: string
  readonly commands: string
  readonly events: string
  readonly processorGroup: string
  readonly executorGroup: string
}

export interface Snapshot {
  /** performance.now() when the snapshot was complete. */
  readonly at: number
  /** Records ever produced to each topic (sum of high watermarks). */
  readonly ticks: number
  readonly commands: number
  readonly events: number
  /** Ticks the processor committed (handled, commands produced, state stored). */
  readonly ticksDone: number
  /** Commands the executor committed (decided in Raft, events in its outbox). */
  readonly commandsDone: number
}

export interface Backlog {
  /** Ticks on the topic the processor has not committed. */
  readonly processor: number
  /** Commands on the topic the executor has not committed. */
  readonly executor: number
  /** Committed commands without their event on the topic yet (the outbox relay's backlog; one event per command). */
  readonly relay: number
  readonly total: number
}

export const backlog = (s: Snapshot): Backlog => {
  const processor = Math.max(0, s.ticks - s.ticksDone)
  const executor = Math.max(0, s.commands - s.commandsDone)
  const relay = Math.max(0, s.commandsDone - s.events)
  return { processor, executor, relay, total: processor + executor + relay }
}

const sumHigh = async (admin: KafkaJs.Admin, topic: string) =>
  (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0)

// a partition without a committed offset reports -1: nothing done there yet
const sumCommitted = async (admin: KafkaJs.Admin, groupId: string, topic: string) =>
  (await admin.fetchOffsets({ groupId, topics: [topic] })).flatMap((t) => t.partitions)
    .reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)

export const snapshot = async (admin: KafkaJs.Admin, topics: Topics): Promise<Snapshot> => {
  const [ticks, commands, events, ticksDone, commandsDone] = await Promise.all([
    sumHigh(admin, topics.ticks),
    sumHigh(admin, topics.commands),
    sumHigh(admin, topics.events),
    sumCommitted(admin, topics.processorGroup, topics.ticks),
    sumCommitted(admin, topics.executorGroup, topics.commands)
  ])
  return { at: performance.now(), ticks, commands, events, ticksDone, commandsDone }
}

/** Least-squares slope of `ys` over `xs` (per unit of x); 0 with fewer than two points. */
export const slope = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>) => {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my)
    den += (xs[i]! - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}
