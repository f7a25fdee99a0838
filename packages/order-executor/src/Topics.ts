// Topic and group names of the order-executor (defaults as in the original design;
// COMMANDS_TOPIC, EVENTS_TOPIC and EXECUTOR_GROUP override them, e.g. to isolate tests).
import type { TopicSpec } from "@trading/bus"

export const commandsTopic = "orders.commands"
export const eventsTopic = "orders.events"
/** The executor's consumer group on `orders.commands`. */
export const commandsGroup = "order-executor-v1"
/** The relay's scan group on the events topic, one per executor instance (see ADR 0081). */
export const relayScanGroup = (group: string, instance: string) => `${group}.relay.${instance}`

export interface TopicNames {
  readonly commandsTopic: string
  readonly eventsTopic: string
  readonly group: string
}

export const specs = (names: TopicNames): ReadonlyArray<TopicSpec> => [
  { name: names.commandsTopic, partitions: 3 },
  { name: names.eventsTopic, partitions: 3 }
]
