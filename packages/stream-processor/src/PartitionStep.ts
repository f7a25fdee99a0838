// Applying a run of ticks to one partition's state (pure). The ticks of a partition are
// applied in offset order to the state of their symbol; the result is the next state, the
// symbols that changed (what the store must write) and each tick's commands.
import type { OrderCommand } from "@trading/domain/OrderCommand"
import * as Strategy from "@trading/domain/Strategy"
import type { Tick } from "@trading/domain/Tick"
import type { PartitionState } from "./StateStore.js"

export interface OffsetTick {
  readonly offset: number
  readonly tick: Tick
}

export interface Decision {
  readonly offset: number
  readonly tick: Tick
  readonly commands: ReadonlyArray<OrderCommand>
}

export interface StepResult {
  readonly next: PartitionState
  readonly changed: ReadonlyArray<Strategy.SymbolState>
  readonly decisions: ReadonlyArray<Decision>
}

export const emptyPartition: PartitionState = { nextOffset: 0, symbols: new Map() }

/** Records below the stored next offset are already in the state: they must not be applied twice. */
export const unseen = <R extends { readonly offset: number }>(
  state: PartitionState | undefined,
  records: ReadonlyArray<R>
): ReadonlyArray<R> => state === undefined ? records : records.filter((r) => r.offset >= state.nextOffset)

export const apply = (
  state: PartitionState | undefined,
  ticks: ReadonlyArray<OffsetTick>,
  config: Strategy.StrategyConfig
): StepResult => {
  const symbols = new Map(state?.symbols ?? [])
  const changed = new Set<string>()
  const decisions: Array<Decision> = []
  let nextOffset = state?.nextOffset ?? 0
  for (const { offset, tick } of ticks) {
    const [after, commands] = Strategy.step(symbols.get(tick.symbol) ?? Strategy.initial(tick.symbol), tick, config)
    symbols.set(tick.symbol, after)
    changed.add(tick.symbol)
    decisions.push({ offset, tick, commands })
    nextOffset = Math.max(nextOffset, offset + 1)
  }
  return {
    next: { nextOffset, symbols },
    changed: [...changed].sort().map((symbol) => symbols.get(symbol)!),
    decisions
  }
}
