// What `verify` concludes from the records of orders.commands, orders.events and
// orders.commands.dlq (pure: the reading is done elsewhere).
import { OrderCommand, OrderEvent } from "@trading/domain"
import * as Either from "effect/Either"

export interface Findings {
  readonly commands: number
  readonly orders: number
  readonly events: number
  /** Records on orders.commands that do not decode (the executor dead-letters them). */
  readonly undecodableCommands: number
  readonly undecodableEvents: number
  /** Order ids whose command was dead-lettered (e.g. too_old): no event is expected. */
  readonly deadLettered: ReadonlyArray<string>
  /** Order ids with a command but no event (and not dead-lettered). */
  readonly missing: ReadonlyArray<string>
  /** Order ids with two or more different outcomes. */
  readonly conflicting: ReadonlyArray<{ readonly orderId: string; readonly outcomes: ReadonlyArray<string> }>
  /** Event ids published more than once, with the count. */
  readonly duplicateEventIds: ReadonlyArray<{ readonly eventId: string; readonly count: number }>
}

/** An outcome as compared across events of one order. */
const outcomeOf = (e: OrderEvent.OrderEvent) =>
  `${e.eventId} ${e.status} filled=${e.filledQuantity}@${e.fillPriceMicros}${
    e.reason === "" ? "" : ` reason=${e.reason}`
  }`

export class Accumulator {
  private commands = 0
  private undecodableCommands = 0
  private undecodableEvents = 0
  private readonly commandOrders = new Set<string>()
  private readonly dead = new Set<string>()
  private readonly outcomes = new Map<string, Set<string>>()
  private readonly eventIds = new Map<string, number>()
  private events = 0

  addCommand(bytes: Uint8Array): void {
    this.commands++
    const decoded = OrderCommand.fromBytes(bytes)
    if (Either.isLeft(decoded)) this.undecodableCommands++
    else this.commandOrders.add(decoded.right.orderId)
  }

  addDeadLetter(bytes: Uint8Array): void {
    const decoded = OrderCommand.fromBytes(bytes)
    if (Either.isRight(decoded)) this.dead.add(decoded.right.orderId)
  }

  addEvent(bytes: Uint8Array): void {
    this.events++
    const decoded = OrderEvent.fromBytes(bytes)
    if (Either.isLeft(decoded)) {
      this.undecodableEvents++
      return
    }
    const e = decoded.right
    this.eventIds.set(e.eventId, (this.eventIds.get(e.eventId) ?? 0) + 1)
    const set = this.outcomes.get(e.orderId) ?? new Set<string>()
    set.add(outcomeOf(e))
    this.outcomes.set(e.orderId, set)
  }

  findings(): Findings {
    return {
      commands: this.commands,
      orders: this.commandOrders.size,
      events: this.events,
      undecodableCommands: this.undecodableCommands,
      undecodableEvents: this.undecodableEvents,
      deadLettered: [...this.dead].filter((id) => !this.outcomes.has(id)).sort(),
      missing: [...this.commandOrders].filter((id) => !this.outcomes.has(id) && !this.dead.has(id)).sort(),
      conflicting: [...this.outcomes].filter(([, set]) => set.size > 1).map(([orderId, set]) => ({
        orderId,
        outcomes: [...set].sort()
      })),
      duplicateEventIds: [...this.eventIds].filter(([, n]) => n > 1).map(([eventId, count]) => ({ eventId, count }))
    }
  }
}

export const isClean = (f: Findings): boolean =>
  f.missing.length === 0 && f.conflicting.length === 0 && f.duplicateEventIds.length === 0

const list = <A>(items: ReadonlyArray<A>, show: (a: A) => string, max = 20) =>
  items.slice(0, max).map((a) => `    ${show(a)}`).concat(
    items.length > max ? [`    ... and ${items.length - max} more`] : []
  )

/** The human-readable report (stdout). */
export const render = (f: Findings): string =>
  [
    `verify: ${f.commands} commands (${f.orders} orders, ${f.undecodableCommands} undecodable), ${f.events} events` +
    ` (${f.undecodableEvents} undecodable), ${f.deadLettered.length} orders dead-lettered`,
    `  commands without an event: ${f.missing.length}`,
    ...list(f.missing, (id) => id),
    `  orders with two different outcomes: ${f.conflicting.length}`,
    ...list(f.conflicting, (c) => `${c.orderId}: ${c.outcomes.join(" | ")}`),
    `  duplicate event ids: ${f.duplicateEventIds.length}`,
    ...list(f.duplicateEventIds, (d) => `${d.eventId} x${d.count}`),
    isClean(f) ? "verify: OK" : "verify: FAILED"
  ].join("\n")
